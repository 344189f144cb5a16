//! TOTP (RFC 6238): HMAC-SHA-1, 6 digits, 30-second steps, one step of drift either way, and
//! no code accepted twice (the caller keeps the last step used and passes it back).
//!
//! Secrets are 160 random bits (RFC 4226 §4), shown base32 (RFC 4648, unpadded) in the
//! `otpauth://` URI authenticator apps read, and as a QR code drawn here as SVG.

use data_encoding::BASE32_NOPAD;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use qrcodegen::{QrCode, QrCodeEcc};
use subtle::ConstantTimeEq;

/// Seconds per step.
pub const STEP_SECS: u64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Steps of clock drift accepted either side of now.
pub const DRIFT_STEPS: u64 = 1;

/// A TOTP shared secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    /// 160 bits from the OS's generator.
    pub fn generate() -> Self {
        Secret(rand::random::<[u8; 20]>().to_vec())
    }

    pub fn from_bytes(b: &[u8]) -> Self {
        Secret(b.to_vec())
    }

    /// Reads the base32 form (case and spaces as apps show them are tolerated).
    pub fn from_base32(s: &str) -> Option<Self> {
        let clean: String = s
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '=')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let bytes = BASE32_NOPAD.decode(clean.as_bytes()).ok()?;
        (bytes.len() >= 10).then_some(Secret(bytes))
    }

    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The code of `step` with `digits` digits (RFC 4226 §5.3 dynamic truncation).
pub fn code_at(secret: &Secret, step: u64, digits: u32) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &secret.0);
    let mac = ring::hmac::sign(&key, &step.to_be_bytes());
    let h = mac.as_ref();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let bin = (u32::from(h[offset] & 0x7f) << 24)
        | (u32::from(h[offset + 1]) << 16)
        | (u32::from(h[offset + 2]) << 8)
        | u32::from(h[offset + 3]);
    let modulo = 10u32.pow(digits);
    format!("{:0width$}", bin % modulo, width = digits as usize)
}

/// The step a Unix time falls in.
pub fn step_of(unix_secs: u64) -> u64 {
    unix_secs / STEP_SECS
}

/// Checks `code` at `unix_secs`: the step it matches (now, or one step either side), if it
/// is later than `last_used` (a code already used, or an older one, is refused). Every
/// candidate is compared, in constant time, whatever matched first.
pub fn verify(secret: &Secret, code: &str, unix_secs: u64, last_used: Option<u64>) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_of(unix_secs);
    let mut found = None;
    for step in now.saturating_sub(DRIFT_STEPS)..=now + DRIFT_STEPS {
        let expected = code_at(secret, step, DIGITS);
        let same: bool = expected.as_bytes().ct_eq(code.as_bytes()).into();
        if same && found.is_none() {
            found = Some(step);
        }
    }
    found.filter(|s| last_used.is_none_or(|l| *s > l))
}

/// What `otpauth://` labels and parameters may carry unescaped.
const LABEL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The key URI authenticator apps read (Google Authenticator's key URI format).
pub fn otpauth_uri(secret: &Secret, issuer: &str, account: &str) -> String {
    let issuer_e = utf8_percent_encode(issuer, LABEL);
    let account_e = utf8_percent_encode(account, LABEL);
    format!(
        "otpauth://totp/{issuer_e}:{account_e}?secret={}&issuer={issuer_e}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        secret.to_base32()
    )
}

/// `text` as a QR code in SVG (one path, a quiet zone of four modules), for the enrollment
/// page and API; drawn here so no image library is needed.
pub fn qr_svg(text: &str) -> Option<String> {
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let border = 4;
    let size = qr.size() + 2 * border;
    let mut path = String::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                use std::fmt::Write;
                let _ = write!(path, "M{},{}h1v1h-1z", x + border, y + border);
            }
        }
    }
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" \
         shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"QR code\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\
         <path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1: the seed "12345678901234567890", eight digits.
    #[test]
    fn the_rfc_6238_vectors() {
        let s = Secret::from_bytes(b"12345678901234567890");
        for (t, code) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at(&s, step_of(t), 8), code, "T={t}");
        }
    }

    /// RFC 4226 Appendix D: HOTP of the same secret, six digits, counters 0 to 9.
    #[test]
    fn the_rfc_4226_vectors() {
        let s = Secret::from_bytes(b"12345678901234567890");
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(code_at(&s, counter as u64, 6), *code);
        }
    }

    #[test]
    fn drift_of_one_step_either_way_and_no_replay() {
        let s = Secret::generate();
        let t = 1_700_000_015u64;
        let now = step_of(t);
        let code = |step| code_at(&s, step, DIGITS);
        assert_eq!(verify(&s, &code(now), t, None), Some(now));
        assert_eq!(verify(&s, &code(now - 1), t, None), Some(now - 1));
        assert_eq!(verify(&s, &code(now + 1), t, None), Some(now + 1));
        assert_eq!(verify(&s, &code(now - 2), t, None), None, "two steps old");
        assert_eq!(verify(&s, &code(now + 2), t, None), None, "two steps ahead");
        // Used once: refused again, and so is any older step.
        assert_eq!(verify(&s, &code(now), t, Some(now)), None);
        assert_eq!(verify(&s, &code(now - 1), t, Some(now)), None);
        assert_eq!(verify(&s, &code(now + 1), t, Some(now)), Some(now + 1));
        for bad in ["", "12345", "1234567", "12a456", " 12 456"] {
            assert_eq!(verify(&s, bad, t, None), None, "{bad:?}");
        }
    }

    #[test]
    fn secrets_round_trip_through_base32_and_the_uri() {
        let s = Secret::generate();
        assert_eq!(s.as_bytes().len(), 20);
        let b32 = s.to_base32();
        assert_eq!(b32.len(), 32);
        assert_eq!(Secret::from_base32(&b32.to_lowercase()), Some(s.clone()));
        assert_eq!(Secret::from_base32("too short"), None);
        let uri = otpauth_uri(&s, "Acme Corp", "ada@example.com");
        assert_eq!(
            uri,
            format!(
                "otpauth://totp/Acme%20Corp:ada%40example.com?secret={b32}&issuer=Acme%20Corp&algorithm=SHA1&digits=6&period=30"
            )
        );
        assert!(
            !format!("{s:?}").contains(&b32),
            "Debug never shows the secret"
        );
    }

    #[test]
    fn the_qr_code_is_an_svg_of_the_uri() {
        let svg = qr_svg("otpauth://totp/Acme:ada?secret=JBSWY3DPEHPK3PXP").unwrap();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 "));
        assert!(
            svg.contains("<path d=\"M4,4h1v1h-1z"),
            "the finder pattern's corner"
        );
        assert!(svg.ends_with("</svg>"));
    }
}
