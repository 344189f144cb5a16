//! `latchkey client …`: OAuth client registration on the database, as the operator. The
//! same core path as `/v1/clients`, so a client registered here works at once on every
//! running instance.

use serde_json::json;

use super::args::{ClientCommand, ServiceArgs};
use super::config::service;
use super::{describe, init_logging, Fatal};
use crate::core::oauth::{Client, NewClient};
use crate::core::Latchkey;

fn show(c: &Client) -> serde_json::Value {
    json!({
        "client_id": c.id,
        "name": c.name,
        "public": c.public,
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "grant_types": c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "scopes": c.scopes,
        "first_party": c.first_party,
        "id_token_signed_response_alg": c.id_token_alg.as_str(),
    })
}

fn print_secret(id: &str, secret: Option<&str>, as_json: bool) {
    if as_json {
        let mut v = json!({ "client_id": id });
        if let Some(s) = secret {
            v["client_secret"] = json!(s);
        }
        println!("{v}");
    } else {
        println!("client_id:     {id}");
        match secret {
            Some(s) => println!("client_secret: {s}\n(store it now: it is not shown again)"),
            None => println!("public client: no secret (PKCE is required)"),
        }
    }
}

pub(super) async fn run(cmd: ClientCommand) -> Result<(), Fatal> {
    let (ClientCommand::Create { svc: opts, .. }
    | ClientCommand::List { svc: opts, .. }
    | ClientCommand::Show { svc: opts, .. }
    | ClientCommand::RotateSecret { svc: opts, .. }
    | ClientCommand::Delete { svc: opts, .. }) = &cmd;
    let opts: ServiceArgs = opts.clone();
    init_logging(opts.db.log_format);
    let svc = service(&opts, true).await?;
    let op = Latchkey::operator();
    let fail = |e| describe(e, &opts.db.database);
    let admin = svc.admin(&op).map_err(fail)?;
    match cmd {
        ClientCommand::Create {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            grant_types,
            scopes,
            first_party,
            id_token_alg,
            json,
            ..
        } => {
            let created = admin
                .create_client(NewClient {
                    name,
                    redirect_uris,
                    post_logout_redirect_uris,
                    public,
                    grant_types: (!grant_types.is_empty()).then_some(grant_types),
                    scopes: (!scopes.is_empty()).then_some(scopes),
                    first_party,
                    id_token_alg,
                })
                .await
                .map_err(fail)?;
            print_secret(&created.client.id, created.secret.as_deref(), json);
        }
        ClientCommand::List { json, .. } => {
            let (clients, total) = admin.list_clients(0, 10_000).await.map_err(fail)?;
            for c in &clients {
                if json {
                    println!("{}", show(c));
                } else {
                    println!(
                        "{:<26}  {:<12}  {}",
                        c.id,
                        if c.public { "public" } else { "confidential" },
                        c.name
                    );
                }
            }
            if !json {
                println!("{total} clients");
            }
        }
        ClientCommand::Show { client_id, .. } => {
            let c = admin.get_client(&client_id).await.map_err(fail)?;
            println!("{:#}", show(&c));
        }
        ClientCommand::RotateSecret {
            client_id, json, ..
        } => {
            let c = admin.rotate_client_secret(&client_id).await.map_err(fail)?;
            print_secret(&c.client.id, c.secret.as_deref(), json);
        }
        ClientCommand::Delete { client_id, .. } => {
            admin.delete_client(&client_id).await.map_err(fail)?;
            println!("deleted client {client_id}");
        }
    }
    Ok(())
}
