//! Second factors (issue 13), the pieces that need no storage: TOTP (RFC 6238) and its
//! enrollment QR code, and recovery codes. Enrollment and the login step build on these.

pub mod recovery;
pub mod totp;
