//! Source adapters: each origin's export, row by row, as Latchkey import records. They only
//! translate (field names, flags, where the hash is); every rule is the core's. The mapping
//! of each is documented in docs/import.md.

use serde_json::{Map, Value};

use crate::core::import::{HashField, ImportRecord, When};

pub type Row = Map<String, Value>;

/// A field as text: strings as they are, numbers and booleans written out; null and empty
/// strings are absent.
fn text(row: &Row, key: &str) -> Option<String> {
    match row.get(key)? {
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A boolean as JSON, or as CSV dumps write it (`t`/`f`, `true`/`false`, `1`/`0`).
fn flag(row: &Row, key: &str) -> Result<Option<bool>, String> {
    match row.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::Number(n)) => Ok(Some(n.as_i64() != Some(0))),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "t" | "true" | "1" | "yes" => Ok(Some(true)),
            "f" | "false" | "0" | "no" => Ok(Some(false)),
            _ => Err(format!("{key}: not a boolean")),
        },
        Some(_) => Err(format!("{key}: not a boolean")),
    }
}

fn required(row: &Row, key: &str) -> Result<String, String> {
    text(row, key).ok_or_else(|| format!("{key}: missing"))
}

/// The part of an address before `@`: the username of origins that have none.
fn local_part(email: &str) -> String {
    email.rsplit_once('@').map_or(email, |(l, _)| l).to_owned()
}

/// A JSON object held as text in a CSV cell (Supabase's metadata), or as an object.
fn object(row: &Row, key: &str) -> Row {
    match row.get(key) {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or_default(),
        _ => Map::new(),
    }
}

fn when(row: &Row, key: &str) -> Option<When> {
    match row.get(key)? {
        Value::Number(n) => n.as_i64().map(When::Millis),
        Value::String(s) if !s.is_empty() => Some(When::Text(s.clone())),
        _ => None,
    }
}

fn hash(value: Option<String>) -> Option<HashField> {
    value.map(HashField::Text)
}

/// A Latchkey record given as a CSV row: the record's field names as columns; `roles`
/// separated by commas.
pub fn latchkey_csv(row: &Row) -> Result<ImportRecord, String> {
    let roles = text(row, "roles")
        .map(|r| {
            r.split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let known = [
        "uuid",
        "username",
        "email",
        "first_name",
        "middle_name",
        "last_name",
        "name_extension",
        "display_name",
        "contact_number",
        "address",
        "roles",
        "organization",
        "is_active",
        "created_at",
        "password_hash",
        "weak_password_hash",
    ];
    if let Some(k) = row.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!("unknown column `{k}`"));
    }
    Ok(ImportRecord {
        uuid: text(row, "uuid"),
        username: text(row, "username").unwrap_or_default(),
        email: text(row, "email").unwrap_or_default(),
        first_name: text(row, "first_name"),
        middle_name: text(row, "middle_name"),
        last_name: text(row, "last_name"),
        name_extension: text(row, "name_extension"),
        display_name: text(row, "display_name"),
        contact_number: text(row, "contact_number"),
        address: text(row, "address"),
        roles,
        organization: text(row, "organization"),
        is_active: flag(row, "is_active")?.unwrap_or(true),
        created_at: when(row, "created_at"),
        password_hash: hash(text(row, "password_hash")),
        weak_password_hash: false,
    })
}

/// Keycloak's realm roles that every user holds: not roles of the application.
fn keycloak_builtin_role(name: &str) -> bool {
    name == "offline_access" || name == "uma_authorization" || name.starts_with("default-roles-")
}

/// One user of a Keycloak realm export.
pub fn keycloak(user: &Row) -> Result<ImportRecord, String> {
    let username = required(user, "username")?;
    if user.contains_key("serviceAccountClientId") || username.starts_with("service-account-") {
        return Err("a Keycloak service account, not a person: not imported".into());
    }
    let roles = user
        .get("realmRoles")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|r| !keycloak_builtin_role(r))
                .map(str::to_lowercase)
                .collect()
        })
        .unwrap_or_default();
    // The first group's top-level name ("/Engineering/Platform" is in "Engineering").
    let organization = user
        .get("groups")
        .and_then(Value::as_array)
        .and_then(|g| g.first())
        .and_then(Value::as_str)
        .and_then(|path| path.trim_start_matches('/').split('/').next())
        .filter(|g| !g.is_empty())
        .map(str::to_owned);
    let credential = user
        .get("credentials")
        .and_then(Value::as_array)
        .and_then(|c| {
            c.iter()
                .filter_map(Value::as_object)
                .find(|c| c.get("type").and_then(Value::as_str) == Some("password"))
        });
    let password_hash = credential.map(keycloak_credential).transpose()?;
    Ok(ImportRecord {
        uuid: text(user, "id"),
        username,
        email: text(user, "email").unwrap_or_default(),
        first_name: text(user, "firstName"),
        last_name: text(user, "lastName"),
        roles,
        organization,
        is_active: flag(user, "enabled")?.unwrap_or(true),
        created_at: when(user, "createdTimestamp"),
        password_hash,
        ..Default::default()
    })
}

/// A password credential: `secretData` and `credentialData` (JSON in strings, Keycloak 10
/// and later) or the flat form of older exports (`hashedSaltedValue`, `salt`, …).
fn keycloak_credential(c: &Row) -> Result<HashField, String> {
    let parse = |key: &str| -> Result<Row, String> {
        match c.get(key) {
            Some(Value::String(s)) => {
                serde_json::from_str(s).map_err(|_| format!("credentials: {key} is not JSON"))
            }
            Some(Value::Object(m)) => Ok(m.clone()),
            _ => Err(format!("credentials: no {key}")),
        }
    };
    let (secret, data) = if c.contains_key("secretData") {
        (parse("secretData")?, parse("credentialData")?)
    } else {
        let mut secret = Map::new();
        secret.insert(
            "value".into(),
            c.get("hashedSaltedValue").cloned().unwrap_or(Value::Null),
        );
        secret.insert("salt".into(), c.get("salt").cloned().unwrap_or(Value::Null));
        (secret, c.clone())
    };
    let params = data
        .get("additionalParameters")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let values = match v {
                        Value::Array(a) => a.iter().filter_map(text_of).collect(),
                        other => text_of(other).into_iter().collect(),
                    };
                    (k.clone(), values)
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(HashField::Keycloak {
        algorithm: text(&data, "algorithm").unwrap_or_else(|| "pbkdf2-sha256".into()),
        iterations: data
            .get("hashIterations")
            .and_then(Value::as_u64)
            .ok_or("credentials: no hashIterations")?,
        salt: text(&secret, "salt").ok_or("credentials: no salt")?,
        value: text(&secret, "value").ok_or("credentials: no value")?,
        params,
    })
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Django's `auth_user`: a row of the table, or the `fields` of a `dumpdata` entry.
pub fn django(row: &Row) -> Result<ImportRecord, String> {
    let row = match row.get("fields") {
        Some(Value::Object(fields)) => fields,
        _ => row,
    };
    let mut roles = Vec::new();
    if flag(row, "is_superuser")? == Some(true) {
        roles.push("admin".to_owned());
    }
    if flag(row, "is_staff")? == Some(true) {
        roles.push("staff".to_owned());
    }
    // Django marks an unusable password with a leading '!'.
    let password = text(row, "password").filter(|p| !p.starts_with('!'));
    Ok(ImportRecord {
        username: required(row, "username")?,
        email: text(row, "email").unwrap_or_default(),
        first_name: text(row, "first_name"),
        last_name: text(row, "last_name"),
        roles,
        is_active: flag(row, "is_active")?.unwrap_or(true),
        created_at: when(row, "date_joined"),
        password_hash: hash(password),
        ..Default::default()
    })
}

/// Supabase's `auth.users`. It has no usernames: `raw_user_meta_data.username` (or
/// `user_name`) when set, otherwise the address's local part.
pub fn supabase(row: &Row) -> Result<ImportRecord, String> {
    if text(row, "deleted_at").is_some() {
        return Err("deleted in Supabase: not imported".into());
    }
    if flag(row, "is_anonymous")? == Some(true) {
        return Err("an anonymous Supabase user: not imported".into());
    }
    let email = required(row, "email")?;
    let meta = object(row, "raw_user_meta_data");
    let username = text(&meta, "username")
        .or_else(|| text(&meta, "user_name"))
        .unwrap_or_else(|| local_part(&email));
    let banned = when(row, "banned_until")
        .and_then(|w| w.to_timestamp())
        .is_some_and(|t| t.0 > crate::core::model::Timestamp::now().0);
    Ok(ImportRecord {
        uuid: text(row, "id"),
        username,
        email,
        first_name: text(&meta, "first_name"),
        last_name: text(&meta, "last_name"),
        display_name: text(&meta, "full_name").or_else(|| text(&meta, "name")),
        is_active: !banned,
        created_at: when(row, "created_at"),
        password_hash: hash(text(row, "encrypted_password")),
        ..Default::default()
    })
}

/// Directus' `directus_users`. Active only with `status` `active`; the role is taken when
/// the export expanded it (`role.name`), as ids mean nothing here.
pub fn directus(row: &Row) -> Result<ImportRecord, String> {
    let email = required(row, "email")?;
    let role = match row.get("role") {
        Some(Value::Object(r)) => text(r, "name"),
        _ => text(row, "role.name"),
    };
    // The Directus API masks hashes; only a database dump carries them.
    let password = text(row, "password").filter(|p| !p.chars().all(|c| c == '*'));
    Ok(ImportRecord {
        uuid: text(row, "id"),
        username: local_part(&email),
        email,
        first_name: text(row, "first_name"),
        last_name: text(row, "last_name"),
        roles: role.map(|r| vec![r.to_lowercase()]).unwrap_or_default(),
        is_active: text(row, "status").is_none_or(|s| s == "active"),
        password_hash: hash(password),
        ..Default::default()
    })
}

/// fastapi-users' `user` table.
pub fn fastapi_users(row: &Row) -> Result<ImportRecord, String> {
    let email = required(row, "email")?;
    let roles = if flag(row, "is_superuser")? == Some(true) {
        vec!["admin".to_owned()]
    } else {
        Vec::new()
    };
    Ok(ImportRecord {
        uuid: text(row, "id"),
        username: local_part(&email),
        email,
        roles,
        is_active: flag(row, "is_active")?.unwrap_or(true),
        password_hash: hash(text(row, "hashed_password")),
        ..Default::default()
    })
}
