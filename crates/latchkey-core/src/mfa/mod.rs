//! Second factors (issue 13), the pieces that need no storage: TOTP (RFC 6238) and its
//! enrollment QR code. Enrollment, the login step and recovery codes build on these.

pub mod totp;
