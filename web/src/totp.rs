//! TOTP second factor for staff (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, one step of
//! clock skew either way) and one-time recovery codes. Pure functions with time as a parameter;
//! storage (sealed secrets, the last accepted step, hashed recovery codes) is in `store`.

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// Seconds per step.
pub const STEP_SECS: u64 = 30;
/// Digits per code.
pub const DIGITS: u8 = 6;
/// Recovery codes issued at enrolment (and on regeneration).
pub const RECOVERY_CODES: usize = 10;
/// The issuer authenticator apps show.
pub const ISSUER: &str = "scimbridge";

/// A TOTP failure (never a panic on bad input).
#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    #[error("invalid TOTP secret: {0}")]
    Secret(String),
    #[error("cannot draw the QR code: {0}")]
    Qr(String),
}

/// 160 random bits, the length RFC 4226 recommends for HMAC-SHA-1.
pub fn new_secret() -> Vec<u8> {
    let mut b = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

fn totp(secret: &[u8], digits: u8) -> Result<Totp, TotpError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(digits)
        .with_skew(1)
        .with_step_duration(STEP_SECS)
        .with_secret(Secret::new(secret.to_vec().into_boxed_slice()))
        .build()
        .map_err(|e| TotpError::Secret(e.to_string()))
}

/// The secret in base32 without padding, as people type it into an authenticator app.
pub fn secret_base32(secret: &[u8]) -> String {
    Secret::new(secret.to_vec().into_boxed_slice())
        .to_base32()
        .trim_end_matches('=')
        .to_string()
}

/// Decodes a base32 secret (spaces and case ignored).
pub fn secret_from_base32(text: &str) -> Result<Vec<u8>, TotpError> {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    Secret::try_from_base32(clean)
        .map(|s| s.as_bytes().to_vec())
        .map_err(|e| TotpError::Secret(e.to_string()))
}

/// The code for `secret` at `unix_secs`.
pub fn code_at(secret: &[u8], unix_secs: u64) -> Result<String, TotpError> {
    Ok(totp(secret, DIGITS)?.generate(unix_secs).to_string())
}

/// The time step (`unix_secs / 30`) whose code `code` is, within one step of `unix_secs`;
/// `None` for a wrong or malformed code. Comparison is constant time (`totp_rs::Token`).
/// The caller must still refuse a step not newer than the last accepted one (replay).
pub fn verify(secret: &[u8], code: &str, unix_secs: u64) -> Option<i64> {
    verify_digits(secret, code, unix_secs, DIGITS)
}

fn verify_digits(secret: &[u8], code: &str, unix_secs: u64, digits: u8) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != usize::from(digits) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let step = totp(secret, digits).ok()?.check(&code, unix_secs)?;
    i64::try_from(step).ok()
}

/// The `otpauth://` URI authenticator apps read from the QR code.
pub fn otpauth_uri(secret: &[u8], account: &str) -> String {
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        issuer = urlencoding::encode(ISSUER),
        account = urlencoding::encode(account),
        secret = secret_base32(secret),
    )
}

/// The QR code of `text` as an SVG `data:` URI, drawn here (pages make no external requests).
pub fn qr_data_uri(text: &str) -> Result<String, TotpError> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|e| TotpError::Qr(e.to_string()))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

/// Base32 alphabet without padding (no 0/1/8/9: nothing to confuse with O, I, B, g).
const CODE_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Ten new recovery codes of 100 random bits each, shown as `XXXXX-XXXXX-XXXXX-XXXXX`.
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut b = [0u8; 20];
            rand::rngs::OsRng.fill_bytes(&mut b);
            let chars: Vec<char> = b
                .iter()
                .map(|x| char::from(CODE_ALPHABET[usize::from(x & 31)]))
                .collect();
            chars
                .chunks(5)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// Whether `input` looks like a recovery code rather than a TOTP code.
pub fn is_recovery_code(input: &str) -> bool {
    normalize_recovery(input).len() == 20
}

fn normalize_recovery(input: &str) -> String {
    input
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_uppercase()
}

/// SHA-256 (hex) of a recovery code, ignoring case, dashes and spaces. The codes carry 100
/// random bits, so a fast hash is enough (no password-style stretching needed).
pub fn hash_recovery_code(code: &str) -> String {
    hex_lower(&Sha256::digest(normalize_recovery(code).as_bytes()))
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 (8 digits; the seed is "12345678901234567890").
    #[test]
    fn rfc_6238_test_vectors() {
        let seed = b"12345678901234567890";
        for (t, code) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(
                totp(seed, 8).unwrap().generate(t).to_string(),
                code,
                "t={t}"
            );
            assert_eq!(
                verify_digits(seed, code, t, 8),
                Some((t / 30) as i64),
                "t={t}"
            );
        }
        // 6 digits: the last six of the 8-digit value.
        assert_eq!(code_at(seed, 59).unwrap(), "287082");
    }

    #[test]
    fn accepts_one_step_of_skew_and_no_more() {
        let s = new_secret();
        let t = 1_700_000_000u64;
        let code = code_at(&s, t).unwrap();
        let step = (t / 30) as i64;
        assert_eq!(verify(&s, &code, t), Some(step));
        assert_eq!(verify(&s, &code, t + 30), Some(step));
        assert_eq!(verify(&s, &code, t - 30), Some(step));
        assert_eq!(verify(&s, &code, t + 60), None);
        assert_eq!(verify(&s, &code, t - 60), None);
        assert_eq!(
            verify(&s, &format!(" {} {} ", &code[..3], &code[3..]), t),
            Some(step)
        );
    }

    #[test]
    fn malformed_codes_are_refused_without_panicking() {
        let s = new_secret();
        for bad in [
            "",
            "12345",
            "1234567",
            "abcdef",
            "12 34 5x",
            "１２３４５６",
            "\u{0}\u{0}",
        ] {
            assert_eq!(verify(&s, bad, 1_700_000_000), None, "{bad:?}");
        }
        assert!(secret_from_base32("not base32 !!").is_err());
    }

    #[test]
    fn base32_round_trips_and_the_uri_names_the_account() {
        let s = new_secret();
        let b32 = secret_base32(&s);
        assert_eq!(b32.len(), 32);
        assert_eq!(secret_from_base32(&b32.to_lowercase()).unwrap(), s);
        let uri = otpauth_uri(&s, "a+b@example.com");
        assert!(uri.starts_with("otpauth://totp/scimbridge:a%2Bb%40example.com?secret="));
        assert!(uri.contains(&b32) && uri.contains("period=30") && uri.contains("digits=6"));
        let qr = qr_data_uri(&uri).unwrap();
        assert!(qr.starts_with("data:image/svg+xml;base64,"));
    }

    #[test]
    fn recovery_codes_are_distinct_and_hash_ignoring_format() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
        for c in &codes {
            assert_eq!(c.len(), 23);
            assert!(is_recovery_code(c));
            assert_eq!(
                hash_recovery_code(c),
                hash_recovery_code(&c.to_lowercase().replace('-', " "))
            );
        }
        assert_eq!(hash_recovery_code(&codes[0]).len(), 64);
        assert!(!is_recovery_code("123456"));
    }
}
