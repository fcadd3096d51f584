//! Staff sessions: a short-lived HS256 JWT in an HttpOnly, SameSite=Strict cookie, renewed while
//! the staff member is active, plus the CSRF token every state-changing form carries.
//!
//! The JWT names the staff account and a per-sign-in random id (`sid`); the CSRF token is a MAC
//! of `sid`, so it needs no storage and dies with the session. `pwv` fingerprints the password
//! hash: changing the password ends every other session.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use store::{StaffRole, StaffUser};
use subtle::ConstantTimeEq;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "scb_session";
/// Name of the cookie that carries the sign-in form's CSRF token (before a session exists).
pub const LOGIN_CSRF_COOKIE: &str = "scb_login";
/// A session ends after this long without a request.
pub const IDLE_TIMEOUT_SECS: i64 = 30 * 60;
/// …and in any case this long after sign-in.
pub const ABSOLUTE_TIMEOUT_SECS: i64 = 12 * 60 * 60;

/// What the session JWT says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Staff account id.
    pub sub: String,
    /// Random per sign-in; the CSRF token is derived from it.
    pub sid: String,
    /// Password fingerprint at sign-in.
    pub pwv: String,
    /// Sign-in time (epoch seconds); bounds renewals.
    pub auth_time: i64,
    /// Issued at (epoch seconds).
    pub iat: i64,
    /// Expiry (epoch seconds).
    pub exp: i64,
}

/// Signing keys for sessions and CSRF tokens, derived from the master key.
#[derive(Clone)]
pub struct SessionKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    csrf_key: [u8; 32],
    /// Mark cookies `Secure` (the public URL is https).
    secure: bool,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKeys(***)")
    }
}

impl SessionKeys {
    /// Keys from the derived secrets `session` and `csrf`.
    pub fn new(session_key: [u8; 32], csrf_key: [u8; 32], secure: bool) -> Self {
        Self {
            encoding: EncodingKey::from_secret(&session_key),
            decoding: DecodingKey::from_secret(&session_key),
            csrf_key,
            secure,
        }
    }

    /// A new session for `user` at `now` (epoch seconds).
    pub fn issue(&self, user: &StaffUser, now: i64) -> Result<(Claims, String), String> {
        let claims = Claims {
            sub: user.id.clone(),
            sid: random_token(16),
            pwv: password_fingerprint(&user.password_hash),
            auth_time: now,
            iat: now,
            exp: now + IDLE_TIMEOUT_SECS,
        };
        let jwt = self.sign(&claims)?;
        Ok((claims, jwt))
    }

    /// The same session with a fresh idle deadline (never past the absolute timeout).
    pub fn renew(&self, claims: &Claims, now: i64) -> Result<String, String> {
        let renewed = Claims {
            iat: now,
            exp: (now + IDLE_TIMEOUT_SECS).min(claims.auth_time + ABSOLUTE_TIMEOUT_SECS),
            ..claims.clone()
        };
        self.sign(&renewed)
    }

    fn sign(&self, claims: &Claims) -> Result<String, String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| format!("cannot sign the session: {e}"))
    }

    /// The claims of a valid, unexpired session cookie value.
    pub fn verify(&self, jwt: &str, now: i64) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_exp = false; // checked below against our clock, which tests can set
        validation.required_spec_claims = ["exp", "sub"].iter().map(|s| s.to_string()).collect();
        let claims = jsonwebtoken::decode::<Claims>(jwt, &self.decoding, &validation)
            .ok()?
            .claims;
        (claims.exp > now && claims.auth_time + ABSOLUTE_TIMEOUT_SECS > now).then_some(claims)
    }

    /// Whether the session should be re-issued (past half of its idle window).
    pub fn wants_renewal(claims: &Claims, now: i64) -> bool {
        claims.exp - now < IDLE_TIMEOUT_SECS / 2
            && claims.auth_time + ABSOLUTE_TIMEOUT_SECS > claims.exp
    }

    /// The CSRF token of a session (or of a pre-sign-in nonce).
    pub fn csrf_token(&self, sid: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.csrf_key);
        h.update(b"csrf\0");
        h.update(sid.as_bytes());
        URL_SAFE_NO_PAD.encode(&h.finalize()[..24])
    }

    /// Constant-time check of a submitted CSRF token.
    pub fn csrf_ok(&self, sid: &str, submitted: &str) -> bool {
        let expected = self.csrf_token(sid);
        expected.as_bytes().ct_eq(submitted.as_bytes()).into()
    }

    /// The session cookie carrying `jwt`.
    pub fn cookie(&self, jwt: String) -> Cookie<'static> {
        Cookie::build(SESSION_COOKIE, jwt)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(self.secure)
            .max_age(CookieDuration::seconds(ABSOLUTE_TIMEOUT_SECS))
            .finish()
    }

    /// A cookie that deletes the session cookie.
    pub fn clear_cookie(&self) -> Cookie<'static> {
        let mut c = self.cookie(String::new());
        c.make_removal();
        c
    }

    /// The pre-sign-in CSRF nonce cookie.
    pub fn login_cookie(&self, nonce: String) -> Cookie<'static> {
        Cookie::build(LOGIN_CSRF_COOKIE, nonce)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(self.secure)
            .max_age(CookieDuration::hours(2))
            .finish()
    }
}

/// Fingerprint of a password hash: changes whenever the password does.
pub fn password_fingerprint(hash: &str) -> String {
    let d = Sha256::digest(hash.as_bytes());
    URL_SAFE_NO_PAD.encode(&d[..12])
}

/// `n` random bytes, URL-safe base64.
pub fn random_token(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// The signed-in staff member and what they may do.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub id: String,
    pub email: String,
    pub role: StaffRole,
    /// Tenant of a tenant admin.
    pub tenant_id: Option<String>,
    /// CSRF token to put in forms.
    pub csrf: String,
}

impl Viewer {
    /// The viewer's scope; the rules are [`crate::access::Access`]'s.
    pub fn access(&self) -> crate::access::Access {
        crate::access::Access::new(self.role, self.tenant_id.as_deref())
    }

    /// Platform admins run the platform: tenants, staff, everything.
    pub fn is_platform_admin(&self) -> bool {
        self.access().is_platform_admin()
    }

    /// Platform admins and support staff work across tenants.
    pub fn is_platform_staff(&self) -> bool {
        self.access().is_platform_staff()
    }

    /// May see the tenant's data at all.
    pub fn can_view_tenant(&self, tenant_id: &str) -> bool {
        self.access().can_view_tenant(tenant_id)
    }

    /// May change the tenant's integrations.
    pub fn can_edit_tenant(&self, tenant_id: &str) -> bool {
        self.access().can_edit_tenant(tenant_id)
    }

    /// May retry failed jobs of the tenant (support may, read-only otherwise).
    pub fn can_retry_jobs(&self, tenant_id: &str) -> bool {
        self.access().can_retry_jobs(tenant_id)
    }

    /// Readable role name.
    pub fn role_label(&self) -> &'static str {
        role_label(self.role)
    }
}

/// Readable name of a staff role.
pub fn role_label(role: StaffRole) -> &'static str {
    match role {
        StaffRole::PlatformAdmin => "Platform admin",
        StaffRole::TenantAdmin => "Tenant admin",
        StaffRole::Support => "Support",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SessionKeys {
        SessionKeys::new([1; 32], [2; 32], false)
    }

    fn user() -> StaffUser {
        StaffUser {
            id: "u1".into(),
            email: "a@example.com".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$abc$def".into(),
            role: StaffRole::TenantAdmin,
            tenant_id: Some("t1".into()),
            created_at: 0,
            last_login_at: None,
            disabled: false,
        }
    }

    #[test]
    fn issued_session_verifies_until_idle_timeout() {
        let k = keys();
        let (claims, jwt) = k.issue(&user(), 1_000).unwrap();
        assert_eq!(k.verify(&jwt, 1_001), Some(claims.clone()));
        assert_eq!(k.verify(&jwt, 1_000 + IDLE_TIMEOUT_SECS), None);
        // Renewal extends the idle window but never past the absolute timeout.
        let later = 1_000 + ABSOLUTE_TIMEOUT_SECS - 60;
        let renewed = k.renew(&claims, later).unwrap();
        let c = k.verify(&renewed, later + 1).unwrap();
        assert_eq!(c.exp, 1_000 + ABSOLUTE_TIMEOUT_SECS);
        assert_eq!(k.verify(&renewed, 1_000 + ABSOLUTE_TIMEOUT_SECS), None);
    }

    #[test]
    fn tampered_or_foreign_tokens_are_refused() {
        let k = keys();
        let (_, jwt) = k.issue(&user(), 1_000).unwrap();
        let other = SessionKeys::new([9; 32], [2; 32], false);
        assert_eq!(other.verify(&jwt, 1_001), None);
        let mut parts: Vec<String> = jwt.split('.').map(str::to_string).collect();
        let claims = serde_json::json!({"sub":"admin","sid":"x","pwv":"x","auth_time":1000,"iat":1000,"exp":99999999999_i64});
        parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
        assert_eq!(k.verify(&parts.join("."), 1_001), None);
        assert_eq!(k.verify("garbage", 1_001), None);
    }

    #[test]
    fn csrf_tokens_are_per_session() {
        let k = keys();
        let t = k.csrf_token("sid-a");
        assert!(k.csrf_ok("sid-a", &t));
        assert!(!k.csrf_ok("sid-b", &t));
        assert!(!k.csrf_ok("sid-a", ""));
        assert!(!k.csrf_ok("sid-a", &t[1..]));
    }

    #[test]
    fn access_rules() {
        let mut v = Viewer {
            id: "u".into(),
            email: "e".into(),
            role: StaffRole::TenantAdmin,
            tenant_id: Some("t1".into()),
            csrf: String::new(),
        };
        assert!(v.can_view_tenant("t1") && v.can_edit_tenant("t1"));
        assert!(!v.can_view_tenant("t2") && !v.can_edit_tenant("t2"));
        v.role = StaffRole::Support;
        v.tenant_id = None;
        assert!(v.can_view_tenant("t2") && !v.can_edit_tenant("t2") && v.can_retry_jobs("t2"));
        v.role = StaffRole::PlatformAdmin;
        assert!(v.can_edit_tenant("t2"));
    }
}
