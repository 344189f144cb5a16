//! Access-token verification on arbitrary input: never panics, never accepts.
#![no_main]

use std::sync::OnceLock;

use latchkey::core::tokens::{StoredKey, TokenService};
use libfuzzer_sys::fuzz_target;

fn service() -> &'static TokenService {
    static S: OnceLock<TokenService> = OnceLock::new();
    S.get_or_init(|| {
        let s = TokenService::new("latchkey".into(), "latchkey".into(), 900);
        s.load_keys(&[StoredKey::generate().unwrap()]).unwrap();
        s
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        // Nothing the fuzzer makes can carry a valid signature by our key.
        assert!(service().verify(text).is_err());
    }
});
