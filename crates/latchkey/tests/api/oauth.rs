//! OAuth 2.1: client registration (`/v1/clients`, the CLI) and the token endpoint's
//! client-credentials grant, on SQLite and PostgreSQL. Requests are the wire forms of
//! RFC 6749; errors are checked whole.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

use crate::dual;
use crate::helpers::*;

async fn register(app: &TestApp, body: Value) -> Reply {
    app.call("POST", "/v1/clients", Some(&app.admin), Some(body))
        .await
}

async fn machine(app: &TestApp) -> (String, String) {
    let r = register(
        app,
        json!({"name": "Reports job", "grant_types": ["client_credentials"],
               "scopes": ["reports:read", "reports:write"]}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    (
        r.body["client_id"].as_str().unwrap().to_owned(),
        r.body["client_secret"].as_str().unwrap().to_owned(),
    )
}

async fn token(app: &TestApp, basic: Option<(&str, &str)>, form: &str) -> Reply {
    let mut req = app
        .http
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned());
    if let Some((id, secret)) = basic {
        req = req.header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
        );
    }
    app.send(req).await
}

fn oauth_error(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["error"], code, "{}", r.text);
    assert!(r.body["error_description"].is_string(), "{}", r.text);
    assert_eq!(r.body.as_object().unwrap().len(), 2, "{}", r.text);
    assert_eq!(r.headers["cache-control"], "no-store");
}

fn claims(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let mut part = || {
        serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap())
            .unwrap()
    };
    (part(), part())
}

dual!(admins_register_read_change_and_delete_clients, |app| {
    let r = register(
        &app,
        json!({"name": "Dashboard", "redirect_uris": ["https://dash.example.com/callback"]}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["client_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("lk_"));
    let secret = r.body["client_secret"].as_str().unwrap();
    assert_eq!(secret.len(), 43, "256 bits, base64url");
    assert_eq!(
        r.body["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        r.body["scopes"],
        json!(["openid", "profile", "email", "offline_access", "roles"])
    );
    assert_eq!(r.body["id_token_signed_response_alg"], "RS256");
    assert_eq!(
        r.body["token_endpoint_auth_methods"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    // The secret is never shown again.
    let got = app.get(&format!("/v1/clients/{id}"), &app.admin).await;
    assert_eq!(got.status, 200);
    assert!(got.body.get("client_secret").is_none(), "{}", got.text);
    assert!(!got.text.contains(secret));
    let list = app.get("/v1/clients", &app.admin).await;
    assert_eq!(list.body["total"], 1);
    assert_eq!(list.body["items"][0]["client_id"], json!(id));
    // Changes, checked as a whole.
    let r = app
        .call(
            "PATCH",
            &format!("/v1/clients/{id}"),
            Some(&app.admin),
            Some(json!({"name": "Dash", "first_party": true,
                        "redirect_uris": ["https://dash.example.com/cb", "http://localhost:3000/cb"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "Dash");
    assert_eq!(r.body["first_party"], true);
    let r = app
        .call(
            "PATCH",
            &format!("/v1/clients/{id}"),
            Some(&app.admin),
            Some(json!({"redirect_uris": []})),
        )
        .await;
    r.assert_problem(422, "invalid-field");
    assert_eq!(r.body["field"], "redirect_uri");
    // A public client has no secret, and none to rotate.
    let r = register(
        &app,
        json!({"name": "SPA", "public": true, "redirect_uris": ["https://spa.example.com/"]}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body.get("client_secret").is_none());
    assert_eq!(r.body["token_endpoint_auth_methods"], json!(["none"]));
    let spa = r.body["client_id"].as_str().unwrap().to_owned();
    app.call(
        "POST",
        &format!("/v1/clients/{spa}/rotate-secret"),
        Some(&app.admin),
        None,
    )
    .await
    .assert_problem(422, "invalid-field");
    // Delete.
    let r = app
        .call(
            "DELETE",
            &format!("/v1/clients/{id}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    app.get(&format!("/v1/clients/{id}"), &app.admin)
        .await
        .assert_problem(404, "not-found");
    app.get("/v1/clients/nope%00", &app.admin)
        .await
        .assert_problem(404, "not-found");
    assert_eq!(app.get("/v1/clients", &app.admin).await.body["total"], 1);
});

dual!(bad_registrations_are_refused_and_store_nothing, |app| {
    let cases = [
        (
            json!({"name": "", "redirect_uris": ["https://a.example/cb"]}),
            "name",
        ),
        (
            json!({"name": "A", "redirect_uris": ["http://a.example/cb"]}),
            "redirect_uri",
        ),
        (
            json!({"name": "A", "redirect_uris": ["https://a.example/cb#frag"]}),
            "redirect_uri",
        ),
        (
            json!({"name": "A", "redirect_uris": ["/relative"]}),
            "redirect_uri",
        ),
        (json!({"name": "A"}), "redirect_uri"),
        (
            json!({"name": "A", "redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]}),
            "grant_type",
        ),
        (
            json!({"name": "A", "redirect_uris": ["https://a.example/cb"], "grant_types": ["password"]}),
            "grant_type",
        ),
        (
            json!({"name": "A", "public": true, "grant_types": ["client_credentials"]}),
            "grant_type",
        ),
        (
            json!({"name": "A", "grant_types": ["refresh_token"]}),
            "grant_type",
        ),
        (
            json!({"name": "A", "redirect_uris": ["https://a.example/cb"], "scopes": ["a b"]}),
            "scope",
        ),
        (
            json!({"name": "A", "redirect_uris": ["https://a.example/cb"], "id_token_signed_response_alg": "none"}),
            "id_token_signed_response_alg",
        ),
    ];
    for (body, field) in cases {
        let r = register(&app, body.clone()).await;
        r.assert_problem(422, "invalid-field");
        assert_eq!(r.body["field"], field, "{body}: {}", r.text);
    }
    let r = register(&app, json!({"name": "A", "secret": "mine"})).await;
    r.assert_problem(422, "invalid-field");
    assert!(r.text.contains("unknown field"), "{}", r.text);
    let user = app.create_user("carl", &[]).await;
    let _ = user;
    let t = app.token_of("carl").await;
    let r = app
        .call(
            "POST",
            "/v1/clients",
            Some(&t),
            Some(json!({"name": "A", "redirect_uris": ["https://a.example/cb"]})),
        )
        .await;
    r.assert_problem(403, "forbidden");
    app.get("/v1/clients", &t)
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(app.get("/v1/clients", &app.admin).await.body["total"], 0);
});

dual!(machine_clients_get_tokens_with_their_own_scopes, |app| {
    let (id, secret) = machine(&app).await;
    // HTTP Basic, every API scope by default.
    let r = token(&app, Some((&id, &secret)), "grant_type=client_credentials").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["scope"], "reports:read reports:write");
    assert!(r.body["expires_in"].as_u64().unwrap() > 0);
    assert_eq!(r.headers["cache-control"], "no-store");
    assert_eq!(r.headers["pragma"], "no-cache");
    let at = r.body["access_token"].as_str().unwrap().to_owned();
    let (header, payload) = claims(&at);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(payload["sub"], json!(id));
    assert_eq!(payload["client_id"], json!(id));
    assert_eq!(payload["scope"], "reports:read reports:write");
    assert!(payload.get("sid").is_none());
    // A client's own token is not a user's: no native or dialect endpoint takes it.
    app.get("/v1/me", &at)
        .await
        .assert_problem(401, "unauthenticated");
    assert_eq!(
        app.get(&TestApp::at("org-users", "/users/"), &at)
            .await
            .status,
        401
    );
    // The form, and a narrower scope.
    let r = token(
        &app,
        None,
        &format!("grant_type=client_credentials&client_id={id}&client_secret={secret}&scope=reports%3Aread"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["scope"], "reports:read");
    // Unregistered and OpenID scopes.
    let r = token(
        &app,
        Some((&id, &secret)),
        "grant_type=client_credentials&scope=reports%3Adelete",
    )
    .await;
    oauth_error(&r, 400, "invalid_scope");
    let r = token(
        &app,
        Some((&id, &secret)),
        "grant_type=client_credentials&scope=openid",
    )
    .await;
    oauth_error(&r, 400, "invalid_scope");
});

dual!(the_token_endpoint_refuses_in_the_protocols_words, |app| {
    let (id, secret) = machine(&app).await;
    let audit_before = app
        .get("/v1/audit?action=client.auth", &app.admin)
        .await
        .body["total"]
        .as_u64()
        .unwrap();
    // A wrong secret over Basic: 401 with a challenge.
    let r = token(&app, Some((&id, "wrong")), "grant_type=client_credentials").await;
    oauth_error(&r, 401, "invalid_client");
    assert!(r.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic realm="));
    // In the form: 401, no challenge.
    let r = token(
        &app,
        None,
        &format!("grant_type=client_credentials&client_id={id}&client_secret=wrong"),
    )
    .await;
    oauth_error(&r, 401, "invalid_client");
    assert!(r.headers.get("www-authenticate").is_none());
    // Unknown client, no client, a confidential client without its secret.
    oauth_error(
        &token(
            &app,
            Some(("lk_nobody", "x")),
            "grant_type=client_credentials",
        )
        .await,
        401,
        "invalid_client",
    );
    oauth_error(
        &token(&app, None, "grant_type=client_credentials").await,
        401,
        "invalid_client",
    );
    oauth_error(
        &token(
            &app,
            None,
            &format!("grant_type=client_credentials&client_id={id}"),
        )
        .await,
        401,
        "invalid_client",
    );
    // Failures are security events.
    let audit = app.get("/v1/audit?action=client.auth", &app.admin).await;
    assert_eq!(audit.body["total"].as_u64().unwrap(), audit_before + 5);
    assert!(!audit.text.contains(&secret));
    // Malformed requests.
    oauth_error(
        &token(&app, Some((&id, &secret)), "").await,
        400,
        "invalid_request",
    );
    oauth_error(
        &token(&app, Some((&id, &secret)), "grant_type=password").await,
        400,
        "unsupported_grant_type",
    );
    oauth_error(
        &token(
            &app,
            Some((&id, &secret)),
            "grant_type=client_credentials&grant_type=client_credentials",
        )
        .await,
        400,
        "invalid_request",
    );
    oauth_error(
        &token(
            &app,
            Some((&id, &secret)),
            &format!("grant_type=client_credentials&client_secret={secret}"),
        )
        .await,
        400,
        "invalid_request",
    );
    let r = app
        .send(
            app.http
                .post(app.url("/oauth/token"))
                .header("content-type", "application/json")
                .basic_auth(&id, Some(&secret))
                .body(r#"{"grant_type":"client_credentials"}"#),
        )
        .await;
    oauth_error(&r, 400, "invalid_request");
    oauth_error(
        &token(
            &app,
            Some((&id, &secret)),
            "grant_type=client_credentials&scope=%00",
        )
        .await,
        400,
        "invalid_request",
    );
    // A client not registered for the grant.
    let r = register(
        &app,
        json!({"name": "Web", "redirect_uris": ["https://web.example/cb"]}),
    )
    .await;
    let (web, web_secret) = (
        r.body["client_id"].as_str().unwrap().to_owned(),
        r.body["client_secret"].as_str().unwrap().to_owned(),
    );
    oauth_error(
        &token(
            &app,
            Some((&web, &web_secret)),
            "grant_type=client_credentials",
        )
        .await,
        400,
        "unauthorized_client",
    );
    // Rotation: the old secret stops at once, the new one works.
    let r = app
        .call(
            "POST",
            &format!("/v1/clients/{id}/rotate-secret"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let fresh = r.body["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(fresh, secret);
    oauth_error(
        &token(&app, Some((&id, &secret)), "grant_type=client_credentials").await,
        401,
        "invalid_client",
    );
    assert_eq!(
        token(&app, Some((&id, &fresh)), "grant_type=client_credentials")
            .await
            .status,
        200
    );
    // A deleted client gets nothing.
    app.call(
        "DELETE",
        &format!("/v1/clients/{id}"),
        Some(&app.admin),
        None,
    )
    .await;
    oauth_error(
        &token(&app, Some((&id, &fresh)), "grant_type=client_credentials").await,
        401,
        "invalid_client",
    );
});

dual!(the_server_metadata_describes_the_token_endpoint, |app| {
    let r = app
        .send(
            app.http
                .get(app.url("/.well-known/oauth-authorization-server")),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["token_endpoint"], json!(app.url("/oauth/token")));
    assert_eq!(r.body["jwks_uri"], json!(app.url("/.well-known/jwks.json")));
    assert_eq!(
        r.body["grant_types_supported"],
        json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(
        r.body["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "none"])
    );
    let (id, secret) = machine(&app).await;
    let at = token(&app, Some((&id, &secret)), "grant_type=client_credentials").await;
    let (_, payload) = claims(at.body["access_token"].as_str().unwrap());
    assert_eq!(
        payload["iss"], r.body["issuer"],
        "tokens carry the advertised issuer"
    );
});

async fn introspect(app: &TestApp, id: &str, secret: &str, token: &str) -> Reply {
    let form = serde_urlencoded::to_string([("token", token)]).unwrap();
    app.send(
        app.http
            .post(app.url("/oauth/introspect"))
            .basic_auth(id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form),
    )
    .await
}

dual!(introspection_tells_active_tokens_from_dead_ones, |app| {
    let (id, secret) = machine(&app).await;
    let at = token(
        &app,
        Some((&id, &secret)),
        "grant_type=client_credentials&scope=reports%3Aread",
    )
    .await
    .body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // A client's own token.
    let r = introspect(&app, &id, &secret, &at).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["scope"], "reports:read");
    assert_eq!(r.body["client_id"], json!(id));
    assert_eq!(r.body["sub"], json!(id));
    assert_eq!(r.body["token_type"], "Bearer");
    assert!(r.body["exp"].as_i64().unwrap() > r.body["iat"].as_i64().unwrap());
    // A user's, until their session ends.
    app.create_user("dora", &[]).await;
    let user_token = app.token_of("dora").await;
    let r = introspect(&app, &id, &secret, &user_token).await;
    assert_eq!(r.body["active"], true, "{}", r.text);
    assert_eq!(r.body["username"], "dora");
    assert!(r.body["sid"].is_string());
    app.call("POST", "/v1/auth/logout", Some(&user_token), None)
        .await;
    assert_eq!(
        introspect(&app, &id, &secret, &user_token).await.body,
        json!({"active": false})
    );
    // Garbage, and a tampered token, say no more than that.
    for bad in ["garbage", "a.b.c", &format!("{at}x")] {
        let r = introspect(&app, &id, &secret, bad).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, json!({"active": false}), "{bad}");
    }
    // Only an authenticated confidential client may ask.
    oauth_error(
        &introspect(&app, &id, "wrong", &at).await,
        401,
        "invalid_client",
    );
    let r = register(
        &app,
        json!({"name": "SPA", "public": true, "redirect_uris": ["https://spa.example/cb"]}),
    )
    .await;
    let spa = r.body["client_id"].as_str().unwrap().to_owned();
    let r = app
        .send(
            app.http
                .post(app.url("/oauth/introspect"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("client_id={spa}&token={at}")),
        )
        .await;
    oauth_error(&r, 400, "unauthorized_client");
    let r = app
        .send(
            app.http
                .post(app.url("/oauth/introspect"))
                .basic_auth(&id, Some(&secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(""),
        )
        .await;
    oauth_error(&r, 400, "invalid_request");
    // A deleted client's tokens are dead, whoever asks.
    let (other, other_secret) = machine(&app).await;
    app.call(
        "DELETE",
        &format!("/v1/clients/{id}"),
        Some(&app.admin),
        None,
    )
    .await;
    assert_eq!(
        introspect(&app, &other, &other_secret, &at).await.body,
        json!({"active": false})
    );
});

dual!(the_jwks_publishes_a_key_for_each_algorithm, |app| {
    let r = app
        .send(app.http.get(app.url("/.well-known/jwks.json")))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let keys = r.body["keys"].as_array().unwrap().clone();
    let by = |alg: &str| keys.iter().find(|k| k["alg"] == alg).cloned().unwrap();
    let ed = by("EdDSA");
    assert_eq!(
        (ed["kty"].as_str(), ed["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    let rsa = by("RS256");
    assert_eq!(rsa["kty"], "RSA");
    assert_eq!(rsa["e"], "AQAB");
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(rsa["n"].as_str().unwrap())
            .unwrap()
            .len(),
        256,
        "2048 bits"
    );
    let ec = by("ES256");
    assert_eq!(
        (ec["kty"].as_str(), ec["crv"].as_str()),
        (Some("EC"), Some("P-256"))
    );
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(ec["y"].as_str().unwrap())
            .unwrap()
            .len(),
        32
    );
    for k in &keys {
        assert_eq!(k["use"], "sig");
        assert!(
            k.get("d").is_none() && k.get("p").is_none(),
            "never a private part: {k}"
        );
    }
    assert_eq!(keys.len(), 3);
    // Made once: a second look shows the same keys.
    let again = app
        .send(app.http.get(app.url("/.well-known/jwks.json")))
        .await;
    assert_eq!(again.body, r.body);
    // Access tokens are still signed by the Ed25519 key.
    let t = app.login_ok("admin", ADMIN_PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (header, _) = claims(&t);
    assert_eq!(header["kid"], ed["kid"]);
});
