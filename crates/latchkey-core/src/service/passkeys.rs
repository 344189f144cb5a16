//! Passkeys (WebAuthn, through webauthn-rs) as a second factor: registering several named
//! authenticators, listing, renaming and removing them, and the assertion that completes a
//! login. Every passkey ceremony requires user verification (webauthn-rs's passkey policy).
//!
//! The relying party is the public URL: its host is the RP ID and its origin the only one
//! accepted. WebAuthn has no RP ID for an IP address, so with a public URL such as
//! `http://127.0.0.1:8080` passkeys are unavailable (and say so); `http://localhost:…` works.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use crate::audit::{current_client, AuditEvent};
use crate::error::{CoreError, CoreResult, Entity, Reason};
use crate::mfa::recovery;
use crate::model::*;
use crate::ports::{Factor, PasskeyRecord};
use crate::service::{Latchkey, LoginOutcome};
use crate::tokens::refresh_digest;
use crate::validate;

/// How long a registration may take.
const REGISTRATION_TTL_SECS: u64 = 5 * 60;
/// A passkey's name, in characters.
const NAME_MAX: usize = 64;

/// The relying party for `origin` (the public URL), or why there is none.
pub(crate) fn relying_party(origin: &str) -> Result<Arc<Webauthn>, String> {
    let url = Url::parse(origin).map_err(|e| format!("{origin}: {e}"))?;
    let host = url
        .domain()
        .ok_or_else(|| format!("{origin}: WebAuthn needs a domain name, not an IP address"))?
        .to_owned();
    let w = WebauthnBuilder::new(&host, &url)
        .and_then(|b| b.rp_name(&host).build())
        .map_err(|e| format!("{origin}: {e}"))?;
    Ok(Arc::new(w))
}

/// A registered passkey as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyInfo {
    pub id: String,
    pub name: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

impl From<&PasskeyRecord> for PasskeyInfo {
    fn from(r: &PasskeyRecord) -> Self {
        PasskeyInfo {
            id: r.id.clone(),
            name: r.name.clone(),
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

/// A passkey just registered.
#[derive(Debug, Clone)]
pub struct PasskeyAdded {
    pub passkey: PasskeyInfo,
    /// On the user's first factor only (shown once).
    pub recovery_codes: Option<Vec<String>>,
    pub sessions_ended: u64,
}

fn unavailable() -> CoreError {
    CoreError::MfaState(
        "passkeys need the public URL to be a domain name (WebAuthn has none for an IP address)",
    )
}

fn passkey_name(raw: &str) -> CoreResult<String> {
    let name = raw.trim();
    validate::no_nul("name", name)?;
    if name.is_empty() {
        return Err(CoreError::invalid("name", Reason::Empty));
    }
    if name.chars().count() > NAME_MAX {
        return Err(CoreError::invalid(
            "name",
            Reason::TooLong { max: NAME_MAX },
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(CoreError::invalid("name", Reason::ControlCharacters));
    }
    Ok(name.to_owned())
}

fn stored(record: &PasskeyRecord) -> CoreResult<Passkey> {
    serde_json::from_str(&record.passkey)
        .map_err(|e| CoreError::internal(anyhow::anyhow!("passkey {}: {e}", record.id)))
}

fn json<T: serde::Serialize>(v: &T) -> CoreResult<String> {
    serde_json::to_string(v).map_err(CoreError::internal)
}

impl Latchkey {
    fn webauthn(&self) -> CoreResult<&Webauthn> {
        self.webauthn.as_deref().ok_or_else(unavailable)
    }

    /// Whether passkeys can be used here (the public URL is a domain name).
    pub fn passkeys_available(&self) -> bool {
        self.webauthn.is_some()
    }

    /// The caller's passkeys, oldest first.
    pub async fn my_passkeys(&self, p: &Principal) -> CoreResult<Vec<PasskeyInfo>> {
        let r = self.store.mfa_record(p.user_id).await?;
        Ok(r.passkeys.iter().map(PasskeyInfo::from).collect())
    }

    /// Begins registering a passkey named `name`: the options for
    /// `navigator.credentials.create()` (a `CreationChallengeResponse`), good for five
    /// minutes. Needs a recent sign-in.
    pub async fn begin_passkey(&self, p: &Principal, name: &str) -> CoreResult<serde_json::Value> {
        let name = passkey_name(name)?;
        let w = self.webauthn()?;
        self.recent_auth(p).await?;
        let user = self
            .cached_user(p.user_id)
            .await?
            .ok_or(CoreError::NotFound(Entity::User))?;
        let handle = Uuid::parse_str(&user.uuid).map_err(CoreError::internal)?;
        let record = self.store.mfa_record(user.id).await?;
        let exclude = record
            .passkeys
            .iter()
            .map(|r| stored(r).map(|k| k.cred_id().clone()))
            .collect::<CoreResult<Vec<_>>>()?;
        let (options, state) = w
            .start_passkey_registration(handle, &user.username, &user.username, Some(exclude))
            .map_err(CoreError::internal)?;
        let expires = Timestamp::now().plus_secs(REGISTRATION_TTL_SECS);
        self.store
            .put_passkey_registration(user.id, &name, &json(&state)?, expires)
            .await?;
        let mut options = serde_json::to_value(&options).map_err(CoreError::internal)?;
        // Discoverable where the authenticator can (WebAuthn's `preferred`), so the passkey
        // can also sign in without the password; webauthn-rs asks for `discouraged`.
        if let Some(sel) = options
            .pointer_mut("/publicKey/authenticatorSelection")
            .and_then(|v| v.as_object_mut())
        {
            sel.insert("residentKey".into(), "preferred".into());
        }
        Ok(options)
    }

    /// Finishes the registration with the authenticator's answer (a
    /// `RegisterPublicKeyCredential`, as JSON). The user's first factor comes with ten
    /// recovery codes; the user's other sessions end.
    pub async fn finish_passkey(
        &self,
        p: &Principal,
        credential: &str,
    ) -> CoreResult<PasskeyAdded> {
        let w = self.webauthn()?;
        self.recent_auth(p).await?;
        let answer: RegisterPublicKeyCredential =
            serde_json::from_str(credential).map_err(|_| {
                CoreError::invalid(
                    "credential",
                    Reason::Config("is not a WebAuthn registration response".into()),
                )
            })?;
        let Some((name, state)) = self
            .store
            .take_passkey_registration(p.user_id, Timestamp::now())
            .await?
        else {
            return Err(CoreError::MfaState(
                "no passkey registration is under way: begin one first",
            ));
        };
        let state: PasskeyRegistration =
            serde_json::from_str(&state).map_err(CoreError::internal)?;
        let passkey = match w.finish_passkey_registration(&answer, &state) {
            Ok(k) => k,
            Err(e) => {
                tracing::info!(user.id = p.user_id.0, error = %e, "passkey registration refused");
                self.audit(
                    AuditEvent::new("mfa.passkey.registration_failed")
                        .failed()
                        .by(p)
                        .on("user", p.user_id),
                )
                .await;
                return Err(CoreError::invalid(
                    "credential",
                    Reason::Config("did not verify: register the passkey again".into()),
                ));
            }
        };
        let record = self.store.mfa_record(p.user_id).await?;
        let first = record.totp.as_ref().and_then(|t| t.confirmed_at).is_none()
            && record.passkeys.is_empty();
        let (codes, digests) = if first || record.recovery_codes.is_empty() {
            let (c, d) = recovery::generate();
            (Some(c), Some(d))
        } else {
            (None, None)
        };
        let row = PasskeyRecord {
            id: uuid::Uuid::new_v4().to_string(),
            name,
            credential_id: URL_SAFE_NO_PAD.encode(passkey.cred_id()),
            passkey: json(&passkey)?,
            created_at: Timestamp::now(),
            last_used_at: None,
        };
        let event = AuditEvent::new("mfa.passkey.added")
            .by(p)
            .on("user", p.user_id)
            .detail(format!("passkey {}: {}", row.id, row.name));
        let w = self
            .store
            .add_passkey(
                p.user_id,
                &row,
                digests.as_deref(),
                Some(&p.session_id),
                (&event, &current_client()),
            )
            .await?;
        let ended = self
            .applied(w)
            .ok_or(CoreError::MfaState("this passkey is registered already"))?;
        Ok(PasskeyAdded {
            passkey: PasskeyInfo::from(&row),
            recovery_codes: codes,
            sessions_ended: ended.len() as u64,
        })
    }

    pub async fn rename_passkey(
        &self,
        p: &Principal,
        id: &str,
        name: &str,
    ) -> CoreResult<PasskeyInfo> {
        let name = passkey_name(name)?;
        if id.len() > 64 || !self.store.rename_passkey(p.user_id, id, &name).await? {
            return Err(CoreError::NotFound(Entity::Passkey));
        }
        self.audit(
            AuditEvent::new("mfa.passkey.renamed")
                .by(p)
                .on("user", p.user_id)
                .detail(format!("passkey {id}: {name}")),
        )
        .await;
        let r = self.store.mfa_record(p.user_id).await?;
        r.passkeys
            .iter()
            .find(|k| k.id == id)
            .map(PasskeyInfo::from)
            .ok_or(CoreError::NotFound(Entity::Passkey))
    }

    /// Removes one of the caller's passkeys; their other sessions end. Needs a recent
    /// sign-in.
    pub async fn remove_passkey(&self, p: &Principal, id: &str) -> CoreResult<()> {
        if id.len() > 64 {
            return Err(CoreError::NotFound(Entity::Passkey));
        }
        self.recent_auth(p).await?;
        let event = AuditEvent::new("mfa.passkey.removed")
            .by(p)
            .on("user", p.user_id)
            .detail(format!("passkey {id}"));
        let w = self
            .store
            .remove_mfa(
                p.user_id,
                Factor::Passkey(id),
                Some(&p.session_id),
                "second factor removed",
                (&event, &current_client()),
            )
            .await?;
        if !self.applied(w) {
            return Err(CoreError::NotFound(Entity::Passkey));
        }
        Ok(())
    }

    /// The options for `navigator.credentials.get()` that a login waiting for its second
    /// factor answers with a passkey (a `RequestChallengeResponse`).
    pub async fn passkey_challenge(&self, mfa_token: &str) -> CoreResult<serde_json::Value> {
        let w = self.webauthn()?;
        if mfa_token.is_empty() || mfa_token.len() > 128 {
            return Err(CoreError::InvalidMfaToken);
        }
        let digest = refresh_digest(mfa_token);
        let now = Timestamp::now();
        let challenge = self
            .live_challenge(&digest, now)
            .await?
            .ok_or(CoreError::InvalidMfaToken)?;
        let record = self.store.mfa_record(challenge.user_id).await?;
        if record.passkeys.is_empty() {
            return Err(CoreError::MfaState("this account has no passkey"));
        }
        let keys = record
            .passkeys
            .iter()
            .map(stored)
            .collect::<CoreResult<Vec<_>>>()?;
        let (options, state) = w
            .start_passkey_authentication(&keys)
            .map_err(CoreError::internal)?;
        if !self
            .store
            .set_challenge_webauthn(&digest, &json(&state)?, now)
            .await?
        {
            return Err(CoreError::InvalidMfaToken);
        }
        serde_json::to_value(&options).map_err(CoreError::internal)
    }

    /// Checks a passkey assertion against the state its challenge keeps. `Some(amr)` of
    /// the key (`hwk`, or `swk` for a synced one) on success; the credential's use is
    /// recorded.
    pub(crate) async fn verify_passkey(
        &self,
        user: UserId,
        state: Option<&str>,
        assertion: &str,
        keys: &[PasskeyRecord],
    ) -> CoreResult<Option<&'static str>> {
        let Some(state) = state else {
            return Ok(None);
        };
        let Ok(answer) = serde_json::from_str::<PublicKeyCredential>(assertion) else {
            return Ok(None);
        };
        let w = self.webauthn()?;
        let state: PasskeyAuthentication =
            serde_json::from_str(state).map_err(CoreError::internal)?;
        let result = match w.finish_passkey_authentication(&answer, &state) {
            Ok(r) if r.user_verified() => r,
            Ok(_) => return Ok(None),
            Err(e) => {
                tracing::info!(user.id = user.0, error = %e, "passkey assertion refused");
                return Ok(None);
            }
        };
        let cred = URL_SAFE_NO_PAD.encode(result.cred_id());
        let Some(row) = keys.iter().find(|k| k.credential_id == cred) else {
            return Ok(None);
        };
        let mut key = stored(row)?;
        let changed = key.update_credential(&result).unwrap_or(false);
        let new = if changed { Some(json(&key)?) } else { None };
        self.store
            .passkey_used(user, &row.id, new.as_deref(), Timestamp::now())
            .await?;
        Ok(Some(if result.backup_eligible() {
            "swk"
        } else {
            "hwk"
        }))
    }
}

/// A passwordless sign-in under way: the options for `navigator.credentials.get()` and the
/// token that names them (shown once; stored as a digest).
#[derive(Debug, Clone)]
pub struct PasskeySignIn {
    pub token: String,
    pub options: serde_json::Value,
    pub expires_at: Timestamp,
}

/// The throttle's identifier key for passwordless sign-ins: never counted itself, so only the
/// client address's failures apply.
const PASSWORDLESS_KEY: &str = "passkey-sign-in";

impl Latchkey {
    /// Begins signing in with a passkey alone: a discoverable-credential challenge (the
    /// authenticator names the user), user verification required, good once for five minutes.
    pub async fn begin_passkey_sign_in(&self) -> CoreResult<PasskeySignIn> {
        let w = self.webauthn()?;
        let (mut options, state) = w
            .start_discoverable_authentication()
            .map_err(CoreError::internal)?;
        // Asked for by a button, not offered in a username field's autofill.
        options.mediation = None;
        let token = crate::tokens::new_refresh_token();
        let now = Timestamp::now();
        let expires_at = now.plus_secs(crate::service::CHALLENGE_TTL_SECS);
        self.store
            .insert_passkey_login(&refresh_digest(&token), &json(&state)?, now, expires_at)
            .await?;
        Ok(PasskeySignIn {
            token,
            options: serde_json::to_value(&options).map_err(CoreError::internal)?,
            expires_at,
        })
    }

    /// Finishes a passwordless sign-in with the passkey's answer: a session, `amr` `hwk mfa`
    /// (`swk mfa` for a synced passkey: the passkey verified the user itself). Every failure
    /// answers [`CoreError::InvalidCredentials`] and counts against the client address.
    pub async fn finish_passkey_sign_in(
        &self,
        token: &str,
        credential: &str,
        client: &ClientInfo,
    ) -> CoreResult<LoginOutcome> {
        let ip_key = client.ip.as_ref().map(|ip| format!("ip:{ip}"));
        self.check_throttle(PASSWORDLESS_KEY, ip_key.as_deref())
            .await?;
        let out = self.passwordless(token, credential, client).await;
        match &out {
            Err(CoreError::InvalidCredentials) => {
                if let Some(ip) = ip_key.as_deref() {
                    self.count_address_failure(ip).await?;
                }
                metrics::counter!("latchkey_mfa_verifications_total", "method" => "passkey_sign_in", "outcome" => "failure")
                    .increment(1);
                self.audit(
                    AuditEvent::new("login")
                        .failed()
                        .detail("passkey sign-in: not recognised"),
                )
                .await;
            }
            Err(CoreError::AccountDisabled) => {
                self.audit(
                    AuditEvent::new("login")
                        .failed()
                        .detail("passkey sign-in: account disabled"),
                )
                .await;
            }
            _ => {}
        }
        out
    }

    async fn passwordless(
        &self,
        token: &str,
        credential: &str,
        client: &ClientInfo,
    ) -> CoreResult<LoginOutcome> {
        let refused = || CoreError::InvalidCredentials;
        let w = self.webauthn()?;
        if token.is_empty() || token.len() > 128 {
            return Err(refused());
        }
        let Ok(answer) = serde_json::from_str::<PublicKeyCredential>(credential) else {
            return Err(refused());
        };
        let Some(state) = self
            .store
            .take_passkey_login(&refresh_digest(token), Timestamp::now())
            .await?
        else {
            return Err(refused());
        };
        let (handle, cred_id) = w
            .identify_discoverable_authentication(&answer)
            .map_err(|_| refused())?;
        let Some((user_id, row)) = self
            .store
            .passkey_by_credential(&URL_SAFE_NO_PAD.encode(cred_id))
            .await?
        else {
            return Err(refused());
        };
        let Some(user) = self.cached_user(user_id).await? else {
            return Err(refused());
        };
        // The user handle is the user's uuid: the credential must be theirs.
        if Uuid::parse_str(&user.uuid).ok() != Some(handle) {
            return Err(refused());
        }
        let mut key = stored(&row)?;
        let state: webauthn_rs::prelude::DiscoverableAuthentication =
            serde_json::from_str(&state).map_err(CoreError::internal)?;
        let result = match w.finish_discoverable_authentication_v2(&answer, state, &key) {
            Ok(r) if r.user_verified() => r,
            Ok(_) => return Err(refused()),
            Err(e) => {
                tracing::info!(user.id = user.id.0, error = %e, "passkey sign-in refused");
                return Err(refused());
            }
        };
        let changed = key.update_credential(&result).unwrap_or(false);
        let new = if changed { Some(json(&key)?) } else { None };
        self.store
            .passkey_used(user.id, &row.id, new.as_deref(), Timestamp::now())
            .await?;
        if !user.is_active {
            return Err(CoreError::AccountDisabled);
        }
        self.check_verified(&user).await?;
        metrics::counter!("latchkey_mfa_verifications_total", "method" => "passkey_sign_in", "outcome" => "success")
            .increment(1);
        let kind = if result.backup_eligible() {
            "swk"
        } else {
            "hwk"
        };
        let detail = format!("passkey sign-in ({})", row.name);
        self.opened(&user, client, &format!("{kind} mfa"), Some(&detail))
            .await
    }
}
