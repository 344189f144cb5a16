//! OpenID Connect over HTTP, on SQLite and PostgreSQL: discovery, the authorization endpoint
//! and the hosted pages driven like a browser without script (a cookie jar, no redirects
//! followed, forms posted as they are rendered), the code and refresh grants, ID tokens,
//! UserInfo, introspection, revocation, consent grants and RP-initiated logout — with the
//! refusals an attacker would try.

use std::collections::BTreeMap;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::dual;
use crate::helpers::*;

const CB: &str = "https://app.example/cb";
const BYE: &str = "https://app.example/bye";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const SCOPE: &str = "openid profile email offline_access roles";

/// A browser without script: keeps cookies, follows nothing.
pub struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
    /// Sent as `Origin` on posts, as a browser does.
    origin: String,
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
            origin: app.inst.base.clone(),
        }
    }

    fn keep(&mut self, r: &Reply) {
        for c in r.headers.get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let (kv, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
    }

    fn jar(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&mut self, app: &TestApp, url: &str) -> Reply {
        let r = app
            .send(self.http.get(url).header("cookie", self.jar()))
            .await;
        self.keep(&r);
        r
    }

    pub async fn post(&mut self, app: &TestApp, url: &str, form: &[(&str, &str)]) -> Reply {
        let body = serde_urlencoded::to_string(form).unwrap();
        let r = app
            .send(
                self.http
                    .post(url)
                    .header("cookie", self.jar())
                    .header("origin", &self.origin)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body),
            )
            .await;
        self.keep(&r);
        r
    }

    pub fn has_session(&self) -> bool {
        self.cookies.contains_key("latchkey_session")
    }
}

pub fn location(r: &Reply) -> String {
    r.headers
        .get("location")
        .unwrap_or_else(|| panic!("no Location ({}): {}", r.status, r.text))
        .to_str()
        .unwrap()
        .to_owned()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// A hidden field's value in a rendered form.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in {html}"))
        + marker.len();
    let end = html[at..].find('"').unwrap();
    unescape(&html[at..at + end])
}

/// A form's action.
pub fn action(html: &str) -> String {
    let at = html.find("action=\"").unwrap() + 8;
    let end = html[at..].find('"').unwrap();
    unescape(&html[at..at + end])
}

fn query(url: &str) -> BTreeMap<String, String> {
    let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    serde_urlencoded::from_str::<Vec<(String, String)>>(q)
        .unwrap()
        .into_iter()
        .collect()
}

fn jwt_parts(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let mut part = || {
        serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap())
            .unwrap()
    };
    (part(), part())
}

pub struct Rp {
    pub id: String,
    pub secret: Option<String>,
}

pub async fn register(app: &TestApp, extra: Value) -> Rp {
    let mut body = json!({"name": "Wiki", "redirect_uris": [CB],
                          "post_logout_redirect_uris": [BYE]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app
        .call("POST", "/v1/clients", Some(&app.admin), Some(body))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    Rp {
        id: r.body["client_id"].as_str().unwrap().to_owned(),
        secret: r.body["client_secret"].as_str().map(str::to_owned),
    }
}

pub fn authorize_url(app: &TestApp, rp: &Rp, extra: &[(&str, &str)]) -> String {
    let mut p: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", &rp.id),
        ("redirect_uri", CB),
        ("scope", SCOPE),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        p.retain(|(x, _)| x != k);
        if !v.is_empty() {
            p.push((k, v));
        }
    }
    app.url(&format!(
        "/oauth/authorize?{}",
        serde_urlencoded::to_string(&p).unwrap()
    ))
}

/// Signs in on the page the authorization endpoint sent the browser to; returns the answer
/// to the form post.
pub async fn sign_in(app: &TestApp, b: &mut Browser, login_url: &str, user: &str) -> Reply {
    let page = b.get(app, login_url).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let form = [
        ("csrf", hidden(&page.text, "csrf")),
        ("request", hidden(&page.text, "request")),
        ("identifier", user.to_owned()),
        ("password", "password-123".to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    b.post(app, &action(&page.text), &form).await
}

/// Allows on the consent page at `url`; returns the answer.
async fn consent(app: &TestApp, b: &mut Browser, url: &str, decision: &str) -> Reply {
    let page = b.get(app, url).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let csrf = hidden(&page.text, "csrf");
    let request = hidden(&page.text, "request");
    b.post(
        app,
        &action(&page.text),
        &[
            ("csrf", &csrf),
            ("request", &request),
            ("decision", decision),
        ],
    )
    .await
}

/// The whole browser part for `user`, consenting where asked: the code.
pub async fn code_for(app: &TestApp, b: &mut Browser, rp: &Rp, user: &str) -> String {
    let mut r = b.get(app, &authorize_url(app, rp, &[])).await;
    if location(&r).contains("/login?") {
        r = sign_in(app, b, &location(&r), user).await;
    }
    if location(&r).contains("/consent?") {
        r = consent(app, b, &location(&r), "allow").await;
    }
    let to = location(&r);
    assert!(to.starts_with(CB), "{to}");
    let q = query(&to);
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["iss"], app.inst.base);
    q["code"].clone()
}

async fn token(app: &TestApp, rp: &Rp, form: &[(&str, &str)]) -> Reply {
    let mut req = app
        .http
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded");
    let mut form: Vec<(&str, &str)> = form.to_vec();
    match &rp.secret {
        Some(s) => {
            req = req.header(
                "authorization",
                format!("Basic {}", STANDARD.encode(format!("{}:{s}", rp.id))),
            )
        }
        None => form.push(("client_id", &rp.id)),
    }
    app.send(req.body(serde_urlencoded::to_string(&form).unwrap()))
        .await
}

pub async fn exchange(app: &TestApp, rp: &Rp, code: &str) -> Reply {
    token(
        app,
        rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

async fn userinfo(app: &TestApp, access: &str) -> Reply {
    app.send(app.http.get(app.url("/oauth/userinfo")).bearer_auth(access))
        .await
}

async fn client_form(app: &TestApp, rp: &Rp, path: &str, form: &[(&str, &str)]) -> Reply {
    let mut req = app
        .http
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(s) = &rp.secret {
        req = req.basic_auth(&rp.id, Some(s));
    }
    let mut form = form.to_vec();
    if rp.secret.is_none() {
        form.push(("client_id", &rp.id));
    }
    app.send(req.body(serde_urlencoded::to_string(&form).unwrap()))
        .await
}

/// A client, the changes to its authorization request, and the error it must get back.
type Refusal<'a> = (&'a Rp, Vec<(&'a str, &'a str)>, &'a str);

fn grant_error(r: &Reply, code: &str) {
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["error"], code, "{}", r.text);
}

/// The error page: HTML, 400, and never a redirect.
fn error_page(r: &Reply) {
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.headers.get("location").is_none());
    assert!(r.content_type().starts_with("text/html"), "{}", r.text);
    assert!(r.text.contains("role=\"alert\""), "{}", r.text);
}

dual!(discovery_names_every_endpoint_under_the_public_url, |app| {
    let base = app.inst.base.clone();
    let r = app
        .send(app.http.get(app.url("/.well-known/openid-configuration")))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let d = &r.body;
    assert_eq!(d["issuer"], base);
    for (k, path) in [
        ("authorization_endpoint", "/oauth/authorize"),
        ("token_endpoint", "/oauth/token"),
        ("userinfo_endpoint", "/oauth/userinfo"),
        ("jwks_uri", "/.well-known/jwks.json"),
        ("introspection_endpoint", "/oauth/introspect"),
        ("revocation_endpoint", "/oauth/revoke"),
        ("end_session_endpoint", "/logout"),
    ] {
        assert_eq!(d[k], format!("{base}{path}"), "{k}");
    }
    assert_eq!(d["response_types_supported"], json!(["code"]));
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        d["id_token_signing_alg_values_supported"],
        json!(["RS256", "ES256", "EdDSA"])
    );
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    let rfc8414 = app
        .send(
            app.http
                .get(app.url("/.well-known/oauth-authorization-server")),
        )
        .await;
    assert_eq!(rfc8414.body, r.body, "one document, two addresses");
});

dual!(
    a_browser_signs_in_consents_and_the_client_gets_its_tokens,
    |app| {
        let uid = app.create_user("ada", &["editor"]).await;
        let rp = register(&app, json!({})).await;
        let mut b = Browser::new(&app);
        let r = b.get(&app, &authorize_url(&app, &rp, &[])).await;
        assert_eq!(r.status, 303, "{}", r.text);
        let login = location(&r);
        assert!(login.starts_with(&app.url("/login?")), "{login}");
        // The sign-in page, as a user and a browser see it.
        let page = b.get(&app, &login).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.content_type(), "text/html; charset=utf-8");
        for text in [
            ">Username or email</label>",
            ">Password</label>",
            ">Sign in</button>",
            "to continue to <strong>Wiki</strong>",
        ] {
            assert!(page.text.contains(text), "{text}: {}", page.text);
        }
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"));
        assert!(
            csp.contains("form-action 'self' https://app.example"),
            "{csp}"
        );
        let csrf_cookie = page.headers["set-cookie"].to_str().unwrap();
        assert!(
            csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Lax"),
            "{csrf_cookie}"
        );
        assert!(!csrf_cookie.contains("Secure"), "http public URL");
        // A wrong password: the page again, the error tied to the fields, no session.
        let csrf = hidden(&page.text, "csrf");
        let request = hidden(&page.text, "request");
        let wrong = b
            .post(
                &app,
                &action(&page.text),
                &[
                    ("csrf", &csrf),
                    ("request", &request),
                    ("identifier", "ada"),
                    ("password", "not-it"),
                ],
            )
            .await;
        assert_eq!(wrong.status, 401);
        assert!(wrong.text.contains("is not right"), "{}", wrong.text);
        assert!(wrong.text.contains("aria-describedby=\"form-error\""));
        assert!(wrong.text.contains("aria-invalid=\"true\""));
        assert!(!b.has_session());
        // Right: on to consent, signed in.
        let r = sign_in(&app, &mut b, &login, "ada@example.com").await;
        assert_eq!(r.status, 303, "{}", r.text);
        let session_cookie = r.headers["set-cookie"].to_str().unwrap();
        assert!(session_cookie.starts_with("latchkey_session="));
        assert!(session_cookie.contains("HttpOnly; SameSite=Lax"));
        let to = location(&r);
        assert!(to.starts_with(&app.url("/consent?")), "{to}");
        let page = b.get(&app, &to).await;
        assert_eq!(page.status, 200);
        for text in [
            "Allow Wiki to access your account?",
            "See your email address",
            "See your roles",
            ">Allow</button>",
            ">Deny</button>",
        ] {
            assert!(page.text.contains(text), "{text}: {}", page.text);
        }
        let r = consent(&app, &mut b, &to, "allow").await;
        assert_eq!(r.status, 303);
        let back = location(&r);
        let q = query(&back);
        assert!(back.starts_with(&format!("{CB}?code=")), "{back}");
        assert_eq!(q["state"], "st-1");
        assert_eq!(q["iss"], app.inst.base);
        // The exchange.
        let t = exchange(&app, &rp, &q["code"]).await;
        assert_eq!(t.status, 200, "{}", t.text);
        assert_eq!(t.body["token_type"], "Bearer");
        assert_eq!(t.body["scope"], SCOPE);
        let access = t.body["access_token"].as_str().unwrap().to_owned();
        let refresh = t.body["refresh_token"].as_str().unwrap().to_owned();
        let (h, at) = jwt_parts(&access);
        assert_eq!(h["typ"], "at+jwt");
        assert_eq!(at["client_id"], json!(rp.id));
        assert_eq!(at["scope"], SCOPE);
        assert_eq!(at["sub"], uid.to_string());
        let (h, id) = jwt_parts(t.body["id_token"].as_str().unwrap());
        assert_eq!(h["alg"], "RS256");
        let jwks = app
            .send(app.http.get(app.url("/.well-known/jwks.json")))
            .await;
        assert!(jwks.body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == h["kid"] && k["alg"] == "RS256"));
        assert_eq!(id["iss"], app.inst.base);
        assert_eq!(id["aud"], json!(rp.id));
        assert_eq!(id["azp"], json!(rp.id));
        assert_eq!(id["nonce"], "n-1");
        assert_eq!(id["sub"], uid.to_string());
        assert_eq!(id["amr"], json!(["pwd"]));
        assert_eq!(id["acr"], "urn:latchkey:acr:pwd");
        assert_eq!(id["preferred_username"], "ada");
        assert_eq!(id["email"], "ada@example.com");
        assert_eq!(id["roles"], json!(["editor"]));
        assert!(id["auth_time"].as_i64().unwrap() <= id["iat"].as_i64().unwrap());
        let digest = Sha256::digest(access.as_bytes());
        assert_eq!(id["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));
        // UserInfo: the scope's claims, GET and POST; the native API refuses the delegated token.
        let u = userinfo(&app, &access).await;
        assert_eq!(u.status, 200, "{}", u.text);
        assert_eq!(u.body["sub"], uid.to_string());
        assert_eq!(u.body["email"], "ada@example.com");
        assert_eq!(u.body["email_verified"], false);
        let posted = app
            .send(
                app.http
                    .post(app.url("/oauth/userinfo"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(format!("access_token={access}")),
            )
            .await;
        assert_eq!(posted.body, u.body);
        // Once the address counts as verified, the claim says so.
        let v = app
            .call(
                "PUT",
                &format!("/v1/users/{uid}/email-verified"),
                Some(&app.admin),
                Some(json!({"email_verified": true})),
            )
            .await;
        assert_eq!(v.status, 200, "{}", v.text);
        assert_eq!(v.body["email_verified"], true);
        assert_eq!(userinfo(&app, &access).await.body["email_verified"], true);
        app.get("/v1/me", &access)
            .await
            .assert_problem(401, "unauthenticated");
        // Introspection tells the client and scope.
        let i = client_form(&app, &rp, "/oauth/introspect", &[("token", &access)]).await;
        assert_eq!(i.body["active"], true, "{}", i.text);
        assert_eq!(i.body["client_id"], json!(rp.id));
        assert_eq!(i.body["scope"], SCOPE);
        assert_eq!(i.body["username"], "ada");
        // Refresh rotates; the old refresh token again ends the grant's session.
        let r2 = token(
            &app,
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
        assert_eq!(r2.status, 200, "{}", r2.text);
        let access2 = r2.body["access_token"].as_str().unwrap().to_owned();
        assert_ne!(r2.body["refresh_token"], json!(refresh));
        assert_eq!(userinfo(&app, &access2).await.status, 200);
        let narrower = token(
            &app,
            &rp,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", r2.body["refresh_token"].as_str().unwrap()),
                ("scope", "openid email admin"),
            ],
        )
        .await;
        grant_error(&narrower, "invalid_scope");
        let reuse = token(
            &app,
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
        grant_error(&reuse, "invalid_grant");
        let after = userinfo(&app, &access2).await;
        assert_eq!(after.status, 401, "reuse ended the session: {}", after.text);
        assert!(after.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token"));
        // The native refresh endpoint does not take a client's refresh token.
        let native = app
            .call(
                "POST",
                "/v1/auth/refresh",
                None,
                Some(json!({"refresh_token": r2.body["refresh_token"]})),
            )
            .await;
        assert_eq!(native.status, 401, "{}", native.text);
    }
);

dual!(
    a_remembered_grant_skips_consent_until_the_user_revokes_it,
    |app| {
        app.create_user("bo", &[]).await;
        let rp = register(&app, json!({})).await;
        let mut b = Browser::new(&app);
        let code = code_for(&app, &mut b, &rp, "bo").await;
        let t = exchange(&app, &rp, &code).await;
        let access = t.body["access_token"].as_str().unwrap().to_owned();
        let refresh = t.body["refresh_token"].as_str().unwrap().to_owned();
        // Signed in and consented: straight back with a code.
        let r = b.get(&app, &authorize_url(&app, &rp, &[])).await;
        assert!(location(&r).starts_with(CB), "{}", location(&r));
        // Unless the client asks again.
        let r = b
            .get(&app, &authorize_url(&app, &rp, &[("prompt", "consent")]))
            .await;
        assert!(location(&r).contains("/consent?"), "{}", location(&r));
        // A denial goes back as access_denied.
        let r = consent(&app, &mut b, &location(&r), "deny").await;
        let q = query(&location(&r));
        assert_eq!(q["error"], "access_denied");
        assert_eq!(q["state"], "st-1");
        // The user's grants, and revoking one.
        let me = app.token_of("bo").await;
        let list = app.get("/v1/me/grants", &me).await;
        assert_eq!(list.status, 200, "{}", list.text);
        assert_eq!(list.body[0]["client_id"], json!(rp.id));
        assert_eq!(list.body[0]["client_name"], "Wiki");
        assert_eq!(list.body[0]["scope"], SCOPE);
        let del = app
            .call(
                "DELETE",
                &format!("/v1/me/grants/{}", rp.id),
                Some(&me),
                None,
            )
            .await;
        assert_eq!(del.status, 204, "{}", del.text);
        assert_eq!(userinfo(&app, &access).await.status, 401);
        let r = token(
            &app,
            &rp,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
        grant_error(&r, "invalid_grant");
        app.call(
            "DELETE",
            &format!("/v1/me/grants/{}", rp.id),
            Some(&me),
            None,
        )
        .await
        .assert_problem(404, "not-found");
        assert_eq!(app.get("/v1/me/grants", &me).await.body, json!([]));
        let r = b.get(&app, &authorize_url(&app, &rp, &[])).await;
        assert!(location(&r).contains("/consent?"), "asked again");
    }
);

dual!(redirect_uris_are_matched_exactly_and_never_opened, |app| {
    let rp = register(&app, json!({})).await;
    let mut b = Browser::new(&app);
    for bad in [
        "https://app.example/cb/",
        "https://app.example/CB",
        "https://APP.example/cb",
        "https://app.example/cb?next=1",
        "https://app.example/cb/../evil",
        "https://evil.example/cb",
        "",
    ] {
        let r = b
            .get(&app, &authorize_url(&app, &rp, &[("redirect_uri", bad)]))
            .await;
        error_page(&r);
        assert!(!r.text.contains("evil.example"));
    }
    let r = b
        .get(
            &app,
            &authorize_url(&app, &rp, &[("client_id", "lk_nobody")]),
        )
        .await;
    error_page(&r);
});

dual!(
    refusals_after_a_trusted_redirect_go_back_to_the_client,
    |app| {
        let rp = register(&app, json!({})).await;
        let public = register(&app, json!({"public": true})).await;
        let mut b = Browser::new(&app);
        let cases: Vec<Refusal> = vec![
            (
                &rp,
                vec![("response_type", "token")],
                "unsupported_response_type",
            ),
            (
                &rp,
                vec![("response_type", "code id_token")],
                "unsupported_response_type",
            ),
            (&rp, vec![("scope", "openid admin")], "invalid_scope"),
            (&rp, vec![("scope", "")], "invalid_request"),
            (
                &public,
                vec![("code_challenge", ""), ("code_challenge_method", "")],
                "invalid_request",
            ),
            (
                &public,
                vec![("code_challenge_method", "plain")],
                "invalid_request",
            ),
            (&rp, vec![("code_challenge", "short")], "invalid_request"),
            (&rp, vec![("max_age", "soon")], "invalid_request"),
            (&rp, vec![("prompt", "none")], "login_required"),
            (&rp, vec![("request", "eyJ.x.y")], "request_not_supported"),
        ];
        for (client, extra, code) in cases {
            let r = b.get(&app, &authorize_url(&app, client, &extra)).await;
            assert_eq!(r.status, 303, "{extra:?}: {}", r.text);
            let to = location(&r);
            assert!(to.starts_with(&format!("{CB}?")), "{extra:?}: {to}");
            let q = query(&to);
            assert_eq!(q["error"], code, "{extra:?}");
            assert_eq!(q["state"], "st-1");
            assert_eq!(q["iss"], app.inst.base);
            assert!(!q.contains_key("code"));
        }
        // Signed in but not consented: prompt=none is consent_required.
        app.create_user("cy", &[]).await;
        let r = b.get(&app, &authorize_url(&app, &rp, &[])).await;
        sign_in(&app, &mut b, &location(&r), "cy").await;
        let r = b
            .get(&app, &authorize_url(&app, &rp, &[("prompt", "none")]))
            .await;
        assert_eq!(query(&location(&r))["error"], "consent_required");
    }
);

dual!(
    codes_are_single_use_short_lived_and_bound_to_their_request,
    |app| {
        app.create_user("di", &[]).await;
        let rp = register(&app, json!({"first_party": true})).await;
        let other = register(&app, json!({"name": "Other"})).await;
        let mut b = Browser::new(&app);
        // Bound to the client, the redirect URI and the verifier; a failed try does not spend it.
        let code = code_for(&app, &mut b, &rp, "di").await;
        grant_error(&exchange(&app, &other, &code).await, "invalid_grant");
        let wrong_verifier = token(
            &app,
            &rp,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", "x".repeat(43).as_str()),
            ],
        )
        .await;
        grant_error(&wrong_verifier, "invalid_grant");
        let no_verifier = token(
            &app,
            &rp,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
            ],
        )
        .await;
        grant_error(&no_verifier, "invalid_grant");
        let wrong_uri = token(
            &app,
            &rp,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://app.example/cb/"),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
        grant_error(&wrong_uri, "invalid_grant");
        // Used once; a replay is refused and revokes what the first use issued.
        let t = exchange(&app, &rp, &code).await;
        assert_eq!(t.status, 200, "{}", t.text);
        let access = t.body["access_token"].as_str().unwrap().to_owned();
        assert_eq!(userinfo(&app, &access).await.status, 200);
        grant_error(&exchange(&app, &rp, &code).await, "invalid_grant");
        assert_eq!(
            userinfo(&app, &access).await.status,
            401,
            "revoked by the replay"
        );
        let r = token(
            &app,
            &rp,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t.body["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
        grant_error(&r, "invalid_grant");
        // An expired code (stored as the endpoint stores them, an hour old).
        let uid = app.create_user("ed", &[]).await;
        let old =
            latchkey::core::model::Timestamp(latchkey::core::model::Timestamp::now().0 - 3_600_000);
        app.inst
            .store
            .insert_code(&CodeRecord {
                digest: latchkey::core::tokens::refresh_digest("an-expired-code"),
                client_id: rp.id.clone(),
                user_id: latchkey::core::model::UserId(uid),
                redirect_uri: CB.into(),
                scope: "openid".into(),
                nonce: None,
                code_challenge: Some(CHALLENGE.into()),
                auth_time: old,
                created_at: old,
                expires_at: old.plus_secs(60),
                used_at: None,
                amr: None,
            })
            .await
            .unwrap();
        grant_error(
            &exchange(&app, &rp, "an-expired-code").await,
            "invalid_grant",
        );
        grant_error(&exchange(&app, &rp, "never-issued").await, "invalid_grant");
        // A wrong secret with Basic is a 401 with a challenge.
        let bad = Rp {
            id: rp.id.clone(),
            secret: Some("wrong".into()),
        };
        let r = exchange(&app, &bad, &code).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.body["error"], "invalid_client");
        assert!(r.headers.get("www-authenticate").is_some());
    }
);

dual!(a_public_client_uses_pkce_and_no_secret, |app| {
    app.create_user("fa", &[]).await;
    let rp = register(&app, json!({"public": true, "first_party": true})).await;
    assert!(rp.secret.is_none());
    let mut b = Browser::new(&app);
    let code = code_for(&app, &mut b, &rp, "fa").await;
    let t = exchange(&app, &rp, &code).await;
    assert_eq!(t.status, 200, "{}", t.text);
    assert!(t.body["id_token"].is_string());
    // Revocation (RFC 7009) by the public client: the refresh token ends the grant.
    let refresh = t.body["refresh_token"].as_str().unwrap();
    let r = client_form(&app, &rp, "/oauth/revoke", &[("token", refresh)]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let access = t.body["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&app, access).await.status, 401);
    // Unknown tokens are "revoked" too, and say nothing.
    let r = client_form(&app, &rp, "/oauth/revoke", &[("token", "nonsense")]).await;
    assert_eq!(r.status, 200);
});

dual!(another_clients_tokens_cannot_be_revoked, |app| {
    app.create_user("gu", &[]).await;
    let rp = register(&app, json!({"first_party": true})).await;
    let other = register(&app, json!({"name": "Other"})).await;
    let mut b = Browser::new(&app);
    let t = exchange(&app, &rp, &code_for(&app, &mut b, &rp, "gu").await).await;
    let access = t.body["access_token"].as_str().unwrap();
    for tok in [access, t.body["refresh_token"].as_str().unwrap()] {
        let r = client_form(&app, &other, "/oauth/revoke", &[("token", tok)]).await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(userinfo(&app, access).await.status, 200);
    let r = client_form(&app, &rp, "/oauth/revoke", &[("token", access)]).await;
    assert_eq!(r.status, 200);
    assert_eq!(userinfo(&app, access).await.status, 401);
});

dual!(
    forms_without_their_csrf_token_or_from_another_site_are_refused,
    |app| {
        app.create_user("hu", &[]).await;
        let rp = register(&app, json!({})).await;
        let mut b = Browser::new(&app);
        let login = location(&b.get(&app, &authorize_url(&app, &rp, &[])).await);
        let page = b.get(&app, &login).await;
        let csrf = hidden(&page.text, "csrf");
        let request = hidden(&page.text, "request");
        let form = |csrf: &'static str| {
            vec![
                ("csrf", csrf),
                ("identifier", "hu"),
                ("password", "password-123"),
            ]
        };
        // No token, a wrong one, or a foreign Origin: refused, and nobody is signed in.
        let r = b.post(&app, &app.url("/login"), &form("")).await;
        assert_eq!(r.status, 403, "{}", r.text);
        let r = b
            .post(
                &app,
                &app.url("/login"),
                &form("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            )
            .await;
        assert_eq!(r.status, 403);
        b.origin = "https://evil.example".into();
        let r = b
            .post(
                &app,
                &app.url("/login"),
                &[
                    ("csrf", &csrf),
                    ("request", &request),
                    ("identifier", "hu"),
                    ("password", "password-123"),
                ],
            )
            .await;
        assert_eq!(r.status, 403);
        assert!(!b.has_session());
        // The consent form too: no grant is stored.
        b.origin = app.inst.base.clone();
        let r = sign_in(&app, &mut b, &login, "hu").await;
        let consent_url = location(&r);
        let page = b.get(&app, &consent_url).await;
        let request = hidden(&page.text, "request");
        let r = b
            .post(
                &app,
                &app.url("/consent"),
                &[("request", &request), ("decision", "allow")],
            )
            .await;
        assert_eq!(r.status, 403);
        assert!(r.headers.get("location").is_none());
        let me = app.token_of("hu").await;
        assert_eq!(app.get("/v1/me/grants", &me).await.body, json!([]));
    }
);

dual!(
    brute_force_on_the_sign_in_page_locks_with_a_clear_429,
    |app| {
        app.create_user("iv", &[]).await;
        let mut b = Browser::new(&app);
        let page = b.get(&app, &app.url("/login")).await;
        let csrf = hidden(&page.text, "csrf");
        let mut last = None;
        for _ in 0..11 {
            let r = b
                .post(
                    &app,
                    &app.url("/login"),
                    &[("csrf", &csrf), ("identifier", "iv"), ("password", "guess")],
                )
                .await;
            last = Some(r);
        }
        let r = last.unwrap();
        assert_eq!(r.status, 429, "{}", r.text);
        assert!(
            r.text
                .contains("Too many failed sign-in attempts. Try again in"),
            "{}",
            r.text
        );
        assert!(r.headers.get("retry-after").is_some());
        // Locked for the right password too, and audited as every dialect's lock is.
        let r = b
            .post(
                &app,
                &app.url("/login"),
                &[
                    ("csrf", &csrf),
                    ("identifier", "iv"),
                    ("password", "password-123"),
                ],
            )
            .await;
        assert_eq!(r.status, 429);
        let audit = app.get("/v1/audit?action=login.locked", &app.admin).await;
        assert!(audit.body["total"].as_u64().unwrap() >= 1, "{}", audit.text);
    }
);

dual!(
    the_browser_session_ends_wherever_the_session_is_ended,
    |app| {
        let uid = app.create_user("jo", &[]).await;
        let rp = register(&app, json!({"first_party": true})).await;
        let mut b = Browser::new(&app);
        code_for(&app, &mut b, &rp, "jo").await;
        let signed_in = b.get(&app, &app.url("/login")).await;
        assert!(
            signed_in.text.contains("You are signed in"),
            "{}",
            signed_in.text
        );
        // "Log out everywhere" through the native API ends the browser's sign-in too.
        let me = app.token_of("jo").await;
        let r = app
            .call("POST", "/v1/auth/logout-all", Some(&me), None)
            .await;
        assert!(r.status.is_success(), "{}", r.text);
        let r = b.get(&app, &authorize_url(&app, &rp, &[])).await;
        assert!(
            location(&r).contains("/login?"),
            "signed out: {}",
            location(&r)
        );
        // So does disabling the user.
        code_for(&app, &mut b, &rp, "jo").await;
        let r = app
            .call(
                "PATCH",
                &format!("/v1/users/{uid}"),
                Some(&app.admin),
                Some(json!({"is_active": false})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = b.get(&app, &authorize_url(&app, &rp, &[])).await;
        assert!(location(&r).contains("/login?"));
    }
);

dual!(
    rp_initiated_logout_follows_only_registered_redirects,
    |app| {
        app.create_user("ka", &[]).await;
        let rp = register(&app, json!({"first_party": true})).await;
        let mut b = Browser::new(&app);
        let t = exchange(&app, &rp, &code_for(&app, &mut b, &rp, "ka").await).await;
        let id_token = t.body["id_token"].as_str().unwrap().to_owned();
        let access = t.body["access_token"].as_str().unwrap().to_owned();
        let logout = |extra: &[(&str, &str)]| {
            app.url(&format!(
                "/logout?{}",
                serde_urlencoded::to_string(extra).unwrap()
            ))
        };
        // Open-redirect attempts: refused on the error page, still signed in.
        for bad in [
            "https://evil.example/bye",
            "https://app.example/bye/",
            "https://app.example/bye?x=1",
        ] {
            let r = b
                .get(
                    &app,
                    &logout(&[
                        ("id_token_hint", &id_token),
                        ("post_logout_redirect_uri", bad),
                    ]),
                )
                .await;
            error_page(&r);
        }
        let r = b
            .get(&app, &logout(&[("post_logout_redirect_uri", BYE)]))
            .await;
        error_page(&r);
        // A hint whose header says another algorithm does not verify.
        let (_, rest) = id_token.split_once('.').unwrap();
        for alg in ["none", "HS256", "ES256"] {
            let forged = format!(
                "{}.{rest}",
                URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#))
            );
            let r = b
                .get(
                    &app,
                    &logout(&[
                        ("id_token_hint", &forged),
                        ("post_logout_redirect_uri", BYE),
                    ]),
                )
                .await;
            error_page(&r);
        }
        assert!(b.has_session());
        // Without a hint: asked first.
        let r = b.get(&app, &logout(&[])).await;
        assert_eq!(r.status, 200);
        assert!(r.text.contains("Sign out?") && r.text.contains(">Sign out</button>"));
        // With a good hint: signed out at once, back to the registered URI with the state.
        let r = b
            .get(
                &app,
                &logout(&[
                    ("id_token_hint", &id_token),
                    ("post_logout_redirect_uri", BYE),
                    ("state", "bye-1"),
                ]),
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.text);
        assert_eq!(location(&r), format!("{BYE}?state=bye-1"));
        assert!(!b.has_session());
        assert_eq!(
            userinfo(&app, &access).await.status,
            401,
            "the hinted session ended"
        );
        let r = b.get(&app, &authorize_url(&app, &rp, &[])).await;
        assert!(location(&r).contains("/login?"));
    }
);

dual!(signing_out_on_the_confirmation_page, |app| {
    app.create_user("lu", &[]).await;
    let mut b = Browser::new(&app);
    let page = b.get(&app, &app.url("/login")).await;
    let csrf = hidden(&page.text, "csrf");
    let r = b
        .post(
            &app,
            &app.url("/login"),
            &[
                ("csrf", &csrf),
                ("identifier", "lu"),
                ("password", "password-123"),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    let page = b.get(&app, &app.url("/logout")).await;
    let csrf = hidden(&page.text, "csrf");
    let r = b.post(&app, &action(&page.text), &[]).await;
    assert_eq!(r.status, 403, "no token: {}", r.text);
    assert!(b.has_session());
    let r = b.post(&app, &action(&page.text), &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("You are signed out"));
    assert!(!b.has_session());
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_move_aside_for_a_dialect_at_the_root() {
    let mounts = latchkey::dialects::Mounts::parse(
        &["user-profiles=/".to_owned()],
        &latchkey::server::root_routes(),
    )
    .unwrap();
    let Some(app) = TestApp::spawn_mounted(Backend::Sqlite, test_config(), mounts).await else {
        return;
    };
    app.create_user("mo", &[]).await;
    let rp = register(&app, json!({"first_party": true})).await;
    let mut b = Browser::new(&app);
    let r = b.get(&app, &authorize_url(&app, &rp, &[])).await;
    assert!(
        location(&r).starts_with(&app.url("/oauth/login?")),
        "{}",
        location(&r)
    );
    let code = code_for(&app, &mut b, &rp, "mo").await;
    assert_eq!(exchange(&app, &rp, &code).await.status, 200);
    let d = app
        .send(app.http.get(app.url("/.well-known/openid-configuration")))
        .await;
    assert_eq!(d.body["end_session_endpoint"], app.url("/oauth/logout"));
    // The dialect keeps its own login.
    let r = app
        .call(
            "POST",
            "/login",
            None,
            Some(json!({"username": "mo", "password": "password-123"})),
        )
        .await;
    assert!(
        r.content_type().starts_with("application/json"),
        "{}",
        r.text
    );
}

/// Posts `code` on the second-factor page rendered as `page`.
async fn code_step(app: &TestApp, b: &mut Browser, page: String, code: String) -> Reply {
    let form = [
        ("csrf", hidden(&page, "csrf")),
        ("request", hidden(&page, "request")),
        ("mfa_token", hidden(&page, "mfa_token")),
        ("code", code),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    b.post(app, &action(&page), &form).await
}

dual!(
    the_sign_in_page_asks_for_the_second_factor_and_the_id_token_says_so,
    |app| {
        use crate::mfa::{code, enroll};
        let uid = app.create_user("ivy", &[]).await;
        let t = app.token_of("ivy").await;
        let e = enroll(&app, &t).await;
        let rp = register(&app, json!({"first_party": true})).await;
        let mut b = Browser::new(&app);
        let r = b.get(&app, &authorize_url(&app, &rp, &[])).await;
        let login = location(&r);
        assert!(login.contains("/login?"), "{login}");
        let r = sign_in(&app, &mut b, &login, "ivy").await;
        // The password was right: the code step, and no session yet.
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.text.contains("Authentication code"), "{}", r.text);
        assert!(
            r.text.contains("autocomplete=\"one-time-code\""),
            "{}",
            r.text
        );
        assert!(!b.has_session());
        let wrong = code_step(&app, &mut b, r.text.clone(), code(&e.secret, e.step + 4)).await;
        assert_eq!(wrong.status, 401, "{}", wrong.text);
        assert!(wrong.text.contains("4 attempts left"), "{}", wrong.text);
        assert!(!b.has_session());
        let blank = code_step(&app, &mut b, wrong.text.clone(), "  ".into()).await;
        assert_eq!(blank.status, 422, "{}", blank.text);
        let ok = code_step(
            &app,
            &mut b,
            blank.text.clone(),
            code(&e.secret, e.step + 1),
        )
        .await;
        assert!(b.has_session(), "{}", ok.text);
        let to = location(&ok);
        assert!(to.starts_with(CB), "{to}");
        let q = query(&to);
        let tokens = exchange(&app, &rp, &q["code"]).await;
        assert_eq!(tokens.status, 200, "{}", tokens.text);
        let (_, id) = jwt_parts(tokens.body["id_token"].as_str().unwrap());
        assert_eq!(id["sub"], uid.to_string());
        assert_eq!(id["amr"], json!(["pwd", "otp"]));
        assert_eq!(id["acr"], "urn:latchkey:acr:mfa");
        let d = app
            .send(app.http.get(app.url("/.well-known/openid-configuration")))
            .await;
        assert_eq!(
            d.body["acr_values_supported"],
            json!(["urn:latchkey:acr:pwd", "urn:latchkey:acr:mfa"])
        );
        // A spent mfa_token sends the browser back to the password.
        let mut b2 = Browser::new(&app);
        let r = b2.get(&app, &authorize_url(&app, &rp, &[])).await;
        let r = sign_in(&app, &mut b2, &location(&r), "ivy").await;
        app.sql("UPDATE mfa_challenges SET expires_at = 1").await;
        let late = code_step(&app, &mut b2, r.text.clone(), e.recovery_codes[0].clone()).await;
        assert_eq!(late.status, 401, "{}", late.text);
        assert!(late.text.contains("Sign in again"), "{}", late.text);
        assert!(late.text.contains("name=\"password\""), "{}", late.text);
        // A recovery code works on the page too.
        let r = sign_in(&app, &mut b2, &login, "ivy").await;
        let ok = code_step(&app, &mut b2, r.text.clone(), e.recovery_codes[0].clone()).await;
        assert!(location(&ok).starts_with(CB), "{}", ok.text);
    }
);
