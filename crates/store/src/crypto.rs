//! Secrets at rest and SCIM bearer tokens.
//!
//! - [`MasterKey`]: the 256-bit key from config, or from a key file created with mode 0600.
//! - [`SecretBox`]: AES-256-GCM with a fresh random 96-bit nonce per seal; sealed strings look
//!   like `v1:<base64(nonce || ciphertext+tag)>`. An optional context (e.g. the integration id)
//!   is bound as associated data, so a sealed blob cannot be moved to another row.
//! - [`generate_token`] / [`hash_token`]: tokens are 256-bit random, shown once, stored as
//!   hex SHA-256.

use crate::{Result, StoreError};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;

/// Prefix of every sealed string (format version 1).
const SEALED_V1: &str = "v1:";
/// AES-GCM nonce length in bytes (96 bits).
const NONCE_LEN: usize = 12;
/// Prefix of every SCIM token.
pub const TOKEN_PREFIX: &str = "scb_";
/// How many leading characters of a token are kept for display.
pub const TOKEN_DISPLAY_LEN: usize = 12;

/// The 32-byte master key that encrypts secrets at rest. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        OsRng.fill_bytes(&mut k);
        Self(k)
    }

    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses standard base64 (padding optional, surrounding whitespace ignored) of exactly
    /// 32 bytes.
    pub fn from_base64(s: &str) -> Result<Self> {
        let s = s.trim().trim_end_matches('=');
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(s)
            .map_err(|e| StoreError::Crypto(format!("master key is not base64: {e}")))?;
        let arr: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            StoreError::Crypto(format!("master key must be 32 bytes, got {}", b.len()))
        })?;
        Ok(Self(arr))
    }

    /// A 32-byte key for another purpose (e.g. signing UI sessions), derived one-way so that
    /// it reveals nothing about the master key or the other derived keys.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"scimbridge-kdf-v1\0");
        h.update(purpose.as_bytes());
        h.update(b"\0");
        h.update(self.0);
        h.finalize().into()
    }

    /// Standard base64 with padding.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// Reads the base64 master key at `path`, or creates the file (and its parent folder) with a
/// fresh key, readable only by the owner (0600 on unix), if it does not exist.
pub fn load_or_create_key_file(path: impl AsRef<Path>) -> Result<MasterKey> {
    let path = path.as_ref();
    let io = |what: &str, e: std::io::Error| {
        StoreError::Crypto(format!("{what} key file {}: {e}", path.display()))
    };
    match std::fs::read_to_string(path) {
        Ok(s) => return MasterKey::from_base64(&s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("cannot read", e)),
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::files::create_private_dir(parent)?;
    }
    let key = MasterKey::generate();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(mut f) => {
            use std::io::Write;
            writeln!(f, "{}", key.to_base64()).map_err(|e| io("cannot write", e))?;
            f.sync_all().map_err(|e| io("cannot sync", e))?;
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let s = std::fs::read_to_string(path).map_err(|e| io("cannot read", e))?;
            MasterKey::from_base64(&s)
        }
        Err(e) => Err(io("cannot create", e)),
    }
}

/// AES-256-GCM sealing with the master key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    /// A box for `key`.
    pub fn new(key: &MasterKey) -> Self {
        Self {
            cipher: Aes256Gcm::new(&key.0.into()),
        }
    }

    /// Encrypts `plaintext` with a fresh random nonce: `v1:<base64(nonce||ciphertext)>`.
    pub fn seal(&self, plaintext: &[u8]) -> Result<String> {
        self.seal_with_context(b"", plaintext)
    }

    /// Decrypts a string made by [`SecretBox::seal`]. A wrong key or a tampered blob is
    /// [`StoreError::Crypto`].
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>> {
        self.open_with_context(b"", sealed)
    }

    /// Like [`SecretBox::seal`], binding `context` as associated data: opening needs the same
    /// context.
    pub fn seal_with_context(&self, context: &[u8], plaintext: &[u8]) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .map_err(|_| StoreError::Crypto("encryption failed".into()))?;
        let mut blob = Vec::with_capacity(NONCE_LEN + ct.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ct);
        Ok(format!("{SEALED_V1}{}", STANDARD.encode(blob)))
    }

    /// Opens a string made by [`SecretBox::seal_with_context`] with the same `context`.
    pub fn open_with_context(&self, context: &[u8], sealed: &str) -> Result<Vec<u8>> {
        let b64 = sealed
            .strip_prefix(SEALED_V1)
            .ok_or_else(|| StoreError::Crypto("unknown sealed format".into()))?;
        let blob = STANDARD
            .decode(b64)
            .map_err(|_| StoreError::Crypto("sealed value is not base64".into()))?;
        if blob.len() < NONCE_LEN {
            return Err(StoreError::Crypto("sealed value too short".into()));
        }
        let (nonce, ct) = blob.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context,
                },
            )
            .map_err(|_| {
                StoreError::Crypto("cannot decrypt (wrong master key or corrupt value)".into())
            })
    }
}

/// A new SCIM token and its display prefix: `scb_` + 43 base64url characters (32 random
/// bytes, no padding); the prefix is the token's first 12 characters.
pub fn generate_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let prefix = token.chars().take(TOKEN_DISPLAY_LEN).collect();
    (token, prefix)
}

/// Hex SHA-256 of a token: what `scim_tokens.token_hash` holds.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_fresh_nonce() {
        let b = SecretBox::new(&MasterKey::generate());
        let a1 = b.seal(b"hello").unwrap();
        let a2 = b.seal(b"hello").unwrap();
        assert!(a1.starts_with("v1:"));
        assert_ne!(a1, a2);
        assert_eq!(b.open(&a1).unwrap(), b"hello");
    }

    #[test]
    fn wrong_key_or_context_fails() {
        let b = SecretBox::new(&MasterKey::generate());
        let other = SecretBox::new(&MasterKey::generate());
        let s = b.seal_with_context(b"ctx", b"x").unwrap();
        assert!(matches!(
            other.open_with_context(b"ctx", &s),
            Err(StoreError::Crypto(_))
        ));
        assert!(matches!(
            b.open_with_context(b"other", &s),
            Err(StoreError::Crypto(_))
        ));
        assert!(matches!(b.open("v1:AAAA"), Err(StoreError::Crypto(_))));
        assert!(matches!(b.open("nope"), Err(StoreError::Crypto(_))));
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_key() {
        let k = MasterKey::from_bytes([7; 32]);
        assert_eq!(k.derive("session"), k.derive("session"));
        assert_ne!(k.derive("session"), k.derive("csrf"));
        assert_ne!(
            k.derive("session"),
            MasterKey::from_bytes([8; 32]).derive("session")
        );
        assert_ne!(k.derive("session"), [7; 32]);
    }

    #[test]
    fn master_key_base64_and_debug() {
        let k = MasterKey::generate();
        assert_eq!(MasterKey::from_base64(&k.to_base64()).unwrap(), k);
        assert_eq!(format!("{k:?}"), "MasterKey(***)");
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
    }

    #[test]
    fn token_shape_and_hash() {
        let (t, p) = generate_token();
        assert!(t.starts_with("scb_"));
        assert_eq!(t.len(), 4 + 43);
        assert_eq!(p, t[..12]);
        let h = hash_token(&t);
        assert_eq!(h.len(), 64);
        assert_eq!(h, hash_token(&t));
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn key_file_is_created_0600_and_reread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/master.key");
        let k1 = load_or_create_key_file(&path).unwrap();
        let k2 = load_or_create_key_file(&path).unwrap();
        assert_eq!(k1, k2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
