//! Domain validation: the rules every edge shares. Wire-format checks (is this JSON, is
//! this field a string) belong to the edges; what a valid username *is* lives here, once.

use crate::error::{CoreError, CoreResult, Reason};

pub const PASSWORD_MIN_BYTES: usize = 8;
pub const PASSWORD_MAX_BYTES: usize = 1024;
const USERNAME_MAX_CHARS: usize = 64;
pub const EMAIL_MAX_CHARS: usize = 254;
const PROFILE_FIELD_MAX_CHARS: usize = 256;
const ROLE_MAX_CHARS: usize = 64;

/// The case-folded key that uniqueness is enforced on (the database holds a unique index on
/// it). Folding happens here, not in SQL, so SQLite and PostgreSQL agree on non-ASCII text.
pub fn fold(s: &str) -> String {
    s.to_lowercase()
}

/// Usernames: 1..=64 characters, no whitespace or control characters, no `@` (so a login
/// identifier is unambiguous between username and email).
pub fn username(raw: &str) -> CoreResult<String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(CoreError::invalid("username", Reason::Empty));
    }
    if s.chars().count() > USERNAME_MAX_CHARS {
        return Err(CoreError::invalid(
            "username",
            Reason::TooLong {
                max: USERNAME_MAX_CHARS,
            },
        ));
    }
    if s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '@')
    {
        return Err(CoreError::invalid("username", Reason::UsernameCharacters));
    }
    Ok(s.to_owned())
}

/// A pragmatic email check: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn email(raw: &str) -> CoreResult<String> {
    let s = raw.trim();
    let bad = || CoreError::invalid("email", Reason::EmailMalformed);
    if s.is_empty() || s.chars().count() > EMAIL_MAX_CHARS {
        return Err(bad());
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = s.split_once('@').ok_or_else(bad)?;
    if local.is_empty() || domain.contains('@') || local.len() > 64 {
        return Err(bad());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty() || l.starts_with('-')) {
        return Err(bad());
    }
    Ok(s.to_owned())
}

/// ASVS 5.0 V6.2: 8..=1024 bytes, no composition rules, no truncation, no case folding.
pub fn password(pw: &str) -> CoreResult<()> {
    if pw.len() < PASSWORD_MIN_BYTES {
        return Err(CoreError::invalid(
            "password",
            Reason::TooShort {
                min: PASSWORD_MIN_BYTES,
            },
        ));
    }
    if pw.len() > PASSWORD_MAX_BYTES {
        return Err(CoreError::invalid(
            "password",
            Reason::TooLongBytes {
                max: PASSWORD_MAX_BYTES,
            },
        ));
    }
    Ok(())
}

/// Whether a password is on the list of the 20,000 most common passwords that Django ships
/// (`assets/common-passwords.txt`, Royce Williams' list). Compared lower-cased and trimmed, as
/// Django does, so trivial variants of a listed password are refused too.
pub fn is_common_password(pw: &str) -> bool {
    use std::collections::HashSet;
    use std::sync::OnceLock;
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let list = LIST.get_or_init(|| {
        include_str!("../assets/common-passwords.txt")
            .lines()
            .collect()
    });
    list.contains(pw.trim().to_lowercase().as_str())
}

/// Text that is looked up or filtered on but not stored (a login identifier, a search term,
/// a cursor key): refused when it holds a NUL, which no stored text can match and
/// PostgreSQL cannot take as a parameter.
pub fn no_nul(field: &'static str, s: &str) -> CoreResult<()> {
    if s.contains('\0') {
        Err(CoreError::invalid(field, Reason::Nul))
    } else {
        Ok(())
    }
}

/// Role names: `[a-z0-9_-]{1,64}` after lower-casing (CONTRACT.md).
pub fn role_name(raw: &str) -> CoreResult<String> {
    let s = raw.trim().to_ascii_lowercase();
    let ok = !s.is_empty()
        && s.len() <= ROLE_MAX_CHARS
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(s)
    } else {
        Err(CoreError::invalid("role", Reason::RoleNameFormat))
    }
}

/// Optional free-text profile fields: trimmed, empty becomes unset, bounded length, no
/// control characters.
pub fn profile_field(field: &'static str, raw: Option<String>) -> CoreResult<Option<String>> {
    let Some(raw) = raw else { return Ok(None) };
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > PROFILE_FIELD_MAX_CHARS {
        return Err(CoreError::invalid(
            field,
            Reason::TooLong {
                max: PROFILE_FIELD_MAX_CHARS,
            },
        ));
    }
    if s.chars().any(|c| c.is_control()) {
        return Err(CoreError::invalid(field, Reason::ControlCharacters));
    }
    Ok(Some(s.to_owned()))
}

/// Organization names: 1..=128 characters, no control characters.
pub fn org_name(raw: &str) -> CoreResult<String> {
    let s = raw.trim();
    if s.is_empty() || s.chars().count() > 128 || s.chars().any(char::is_control) {
        return Err(CoreError::invalid("name", Reason::OrganizationNameFormat));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_measured_in_bytes_and_never_folded() {
        assert!(password("1234567").is_err());
        assert!(password("12345678").is_ok());
        assert!(password(&"x".repeat(1024)).is_ok());
        assert!(password(&"x".repeat(1025)).is_err());
    }

    #[test]
    fn common_passwords_are_recognised_whatever_their_case() {
        assert!(is_common_password("password"));
        assert!(is_common_password("PassWord"));
        assert!(is_common_password("iloveyou"));
        assert!(!is_common_password("correct horse battery staple"));
    }

    #[test]
    fn role_names_are_lowercased_and_restricted() {
        assert_eq!(role_name("ADMIN").unwrap(), "admin");
        assert_eq!(role_name(" pi ").unwrap(), "pi");
        assert!(role_name("no spaces").is_err());
        assert!(role_name("").is_err());
        assert!(role_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn emails_need_a_dotted_domain() {
        assert!(email("a@b.co").is_ok());
        assert!(email("a@b").is_err());
        assert!(email("ab.co").is_err());
        assert!(email("a b@c.de").is_err());
        assert!(email("a@@c.de").is_err());
    }

    #[test]
    fn usernames_reject_at_and_spaces() {
        assert!(username("alice").is_ok());
        assert!(username("al ice").is_err());
        assert!(username("a@b").is_err());
        assert_eq!(fold("ÄLICE"), "älice");
    }
}
