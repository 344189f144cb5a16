//! Recovery codes: ten per enrollment, shown once, stored as SHA-256 digests (each carries 60
//! random bits, so a fast digest is enough: there is nothing to brute-force offline that the
//! lockout does not already bound online), each good once.
//!
//! A code is twelve characters of an alphabet without look-alikes, shown in groups of four
//! (`7hkq-m3xw-p9rd`); what a user types back is folded (case, spaces, dashes) before it is
//! compared.

use subtle::ConstantTimeEq;

/// Codes per set.
pub const COUNT: usize = 10;
/// Characters per code (5 bits each).
const LEN: usize = 12;
/// Crockford's base32 alphabet, lowercase: no i, l, o, u.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A fresh set: the codes to show once, and the digests to store.
pub fn generate() -> (Vec<String>, Vec<String>) {
    let codes: Vec<String> = (0..COUNT).map(|_| new_code()).collect();
    let digests = codes.iter().map(|c| digest(c)).collect();
    (codes, digests)
}

fn new_code() -> String {
    let bytes: [u8; LEN] = rand::random();
    let raw: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b & 31)] as char)
        .collect();
    format!("{}-{}-{}", &raw[0..4], &raw[4..8], &raw[8..12])
}

/// What a user typed, folded: lowercase, no spaces or dashes, look-alikes mapped as
/// Crockford's base32 reads them (`o` → 0, `i`/`l` → 1). `None` if it cannot be a code.
pub fn normalize(typed: &str) -> Option<String> {
    let mut out = String::with_capacity(LEN);
    for c in typed.chars() {
        let c = match c.to_ascii_lowercase() {
            ' ' | '-' => continue,
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
            return None;
        }
        out.push(c);
    }
    (out.len() == LEN).then_some(out)
}

/// The stored digest of a generated code (of its folded form).
fn digest(code: &str) -> String {
    let folded = normalize(code).unwrap_or_default();
    crate::tokens::sha256_hex(folded.as_bytes())
}

/// Which stored digest `typed` matches, if any: every digest is compared, in constant time.
pub fn find(typed: &str, digests: &[String]) -> Option<usize> {
    let folded = normalize(typed)?;
    let d = crate::tokens::sha256_hex(folded.as_bytes());
    let mut found = None;
    for (i, stored) in digests.iter().enumerate() {
        let same: bool = stored.as_bytes().ct_eq(d.as_bytes()).into();
        if same && found.is_none() {
            found = Some(i);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_is_ten_distinct_codes_in_groups_of_four() {
        let (codes, digests) = generate();
        assert_eq!(codes.len(), COUNT);
        assert_eq!(digests.len(), COUNT);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), COUNT);
        for c in &codes {
            assert_eq!(c.len(), 14);
            assert_eq!(c.matches('-').count(), 2);
            assert!(!c.contains(['i', 'l', 'o', 'u']), "{c}");
            assert!(!digests.contains(c), "never stored in clear");
        }
    }

    #[test]
    fn typed_codes_are_folded_and_found_once_each() {
        let (codes, digests) = generate();
        let typed = codes[3].to_uppercase().replace('-', " ");
        assert_eq!(find(&typed, &digests), Some(3));
        assert_eq!(find(&codes[9], &digests), Some(9));
        assert_eq!(find("0000-0000-0000", &digests), None);
        for bad in [
            "",
            "short",
            "7hkq-m3xw-p9rd-extra",
            "7hkq-m3xw-p9r!",
            "ünï-code-here",
        ] {
            assert_eq!(find(bad, &digests), None, "{bad:?}");
        }
        // Crockford's look-alikes read as their digits.
        assert_eq!(normalize("OIL0-0000-0000"), Some("011000000000".into()));
    }
}
