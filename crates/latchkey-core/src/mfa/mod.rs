//! Second factors (issue 13), the pieces that need no storage: TOTP (RFC 6238) and its
//! enrollment QR code, and recovery codes. Enrollment and the login step build on these.

pub mod recovery;
pub mod totp;

/// `amr` (RFC 8176) of a password alone.
pub const AMR_PASSWORD: &str = "pwd";
/// Of a password and a TOTP code (or a recovery code, a one-time password too).
pub const AMR_PASSWORD_OTP: &str = "pwd otp";

/// The `acr` an ID token reports for a session's `amr`: the multi-factor level when more than
/// one method authenticated the user.
pub fn acr(amr: &str) -> &'static str {
    if amr.split(' ').count() > 1 {
        ACR_MFA
    } else {
        ACR_PASSWORD
    }
}

pub const ACR_PASSWORD: &str = "urn:latchkey:acr:pwd";
pub const ACR_MFA: &str = "urn:latchkey:acr:mfa";
