//! The imported-hash formats against fixtures made by the original libraries
//! (scripts/hash-fixtures.sh), hostile costs and malformed strings.

use super::*;

#[derive(serde::Deserialize)]
struct Fixture {
    format: String,
    source: String,
    password: String,
    hash: String,
}

fn fixtures() -> Vec<Fixture> {
    serde_json::from_str(include_str!("../../../fixtures/hashes.json")).unwrap()
}

#[test]
fn every_fixture_from_the_original_libraries_verifies_and_nothing_else_does() {
    let all = fixtures();
    assert!(all.len() >= 25);
    for f in &all {
        let weak = f.format == "weak" || f.format == "django-weak";
        let s = Scheme::parse(&f.hash).unwrap_or_else(|e| panic!("{}: {e}", f.source));
        assert_eq!(s.is_weak(), weak, "{}", f.source);
        assert!(s.verify(f.password.as_bytes()), "{} must verify", f.source);
        let mut wrong = f.password.clone();
        wrong.push('!');
        // bcrypt ignores what follows 72 bytes, as the origins did.
        let beyond_72 = f.password.len() >= 72 && s.name().starts_with("bcrypt");
        assert_eq!(s.verify(wrong.as_bytes()), beyond_72, "{} wrong", f.source);
        assert!(
            !s.verify(f.password.to_uppercase().as_bytes()),
            "{}",
            f.source
        );
        assert!(!s.verify(b""), "{}", f.source);
        match Scheme::for_import(&f.hash, false) {
            Err(HashError::Weak(_)) => assert!(weak),
            Ok(_) => assert!(!weak),
            Err(e) => panic!("{}: {e}", f.source),
        }
    }
}

#[test]
fn the_72_byte_rule_is_the_origins() {
    let f = fixtures()
        .into_iter()
        .find(|f| f.password.len() > 72 && f.format == "bcrypt")
        .unwrap();
    let s = Scheme::parse(&f.hash).unwrap();
    assert!(s.verify(&f.password.as_bytes()[..72]));
    assert!(!s.verify(&f.password.as_bytes()[..71]));
    // Kept as bcrypt past 72 bytes; upgraded otherwise.
    assert!(!s.upgradable(f.password.as_bytes()));
    assert!(s.upgradable(&f.password.as_bytes()[..72]));
}

#[test]
fn hostile_costs_are_refused_before_any_work() {
    let salt = "c2FsdHNhbHRzYWx0c2FsdA";
    let hash = "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
    for (s, scheme) in [
        (
            "$2b$31$0123456789012345678901234567890123456789012345678901".to_owned(),
            "bcrypt",
        ),
        (
            "$2b$16$0123456789012345678901234567890123456789012345678901".to_owned(),
            "bcrypt",
        ),
        (
            format!("$argon2id$v=19$m=4194304,t=1,p=1${salt}${hash}"),
            "argon2",
        ),
        (
            format!("$argon2id$v=19$m=65536,t=100,p=1${salt}${hash}"),
            "argon2",
        ),
        (
            format!("$argon2id$v=19$m=65536,t=1,p=64${salt}${hash}"),
            "argon2",
        ),
        (
            "pbkdf2:sha256:4000000000$salt$00112233445566778899aabbccddeeff".to_owned(),
            "pbkdf2-sha256",
        ),
        (
            "pbkdf2_sha256$99999999$salt$AAAAAAAAAAAAAAAAAAAAAA==".to_owned(),
            "pbkdf2-sha256",
        ),
        (
            "scrypt:1048576:8:1$salt$00112233445566778899aabbccddeeff".to_owned(),
            "scrypt",
        ),
        (
            "scrypt:16384:8:64$salt$00112233445566778899aabbccddeeff".to_owned(),
            "scrypt",
        ),
        (format!("$scrypt$ln=30,r=8,p=1${salt}${hash}"), "scrypt"),
        (
            format!("$pbkdf2-sha512$50000000${salt}${hash}"),
            "pbkdf2-sha512",
        ),
    ] {
        match Scheme::parse(&s) {
            Err(HashError::TooCostly { scheme: got, .. }) => assert_eq!(got, scheme, "{s}"),
            other => panic!("{s}: expected too costly, got {other:?}"),
        }
    }
}

#[test]
fn malformed_and_unknown_strings_are_refused_with_a_reason() {
    for s in [
        "",
        "plain",
        "$2x$10$0123456789012345678901234567890123456789012345678901",
        "$2b$10$short",
        "$2b$3$0123456789012345678901234567890123456789012345678901",
        "pbkdf2:md4:1000$salt$00",
        "pbkdf2:sha256$salt$0011",
        "pbkdf2:sha256:0$salt$00112233445566778899aabbccddeeff",
        "pbkdf2_sha256$1000$salt$not base64!",
        "scrypt:1000:8:1$salt$00112233445566778899aabbccddeeff",
        "$argon2id$v=19$m=64,t=1,p=1$c2FsdA",
        "{SSHA}abcdef",
        "$1$saltsalt$hash",
        "0123456789abcdef0123456789abcdeg",
    ] {
        assert!(Scheme::parse(s).is_err(), "{s:?} must be refused");
    }
}

#[test]
fn keycloak_credentials_become_phc_strings_that_verify() {
    #[derive(serde::Deserialize)]
    struct Realm {
        users: Vec<serde_json::Value>,
        #[serde(rename = "_latchkey_fixture_passwords")]
        passwords: std::collections::HashMap<String, String>,
    }
    let realm: Realm =
        serde_json::from_str(include_str!("../../../fixtures/keycloak-realm.json")).unwrap();
    let mut checked = 0;
    for u in &realm.users {
        let name = u["username"].as_str().unwrap();
        let Some(c) = u["credentials"].as_array().and_then(|c| c.first()) else {
            continue;
        };
        let (secret, data): (serde_json::Value, serde_json::Value) =
            if let Some(s) = c["secretData"].as_str() {
                (
                    serde_json::from_str(s).unwrap(),
                    serde_json::from_str(c["credentialData"].as_str().unwrap()).unwrap(),
                )
            } else {
                (
                    serde_json::json!({"value": c["hashedSaltedValue"], "salt": c["salt"]}),
                    c.clone(),
                )
            };
        let params: Vec<(&str, &str)> = data["additionalParameters"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.as_str(), v[0].as_str()?)))
                    .collect()
            })
            .unwrap_or_default();
        let kc = KeycloakCredential {
            algorithm: data["algorithm"].as_str().unwrap(),
            iterations: data["hashIterations"].as_u64().unwrap(),
            salt: secret["salt"].as_str().unwrap(),
            value: secret["value"].as_str().unwrap(),
            params,
        };
        let phc = kc.to_phc().unwrap();
        let s = Scheme::parse(&phc).unwrap();
        assert!(s.verify(realm.passwords[name].as_bytes()), "{name}: {phc}");
        assert!(!s.verify(b"wrong"), "{name}");
        checked += 1;
    }
    assert_eq!(checked, 4);
}
