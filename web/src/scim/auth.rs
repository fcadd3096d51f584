//! Bearer-token authentication for the SCIM API. A token is hashed (SHA-256) and looked up;
//! results are cached for a few seconds so a burst of requests costs one lookup. A token of
//! one integration used on another's URL gets the same 401 as an unknown token.
//!
//! The cache also holds the integration's User type (its extension schemas, parsed once per
//! lookup), so the hot path pays no query for it and a settings change shows within [`TTL`].

use crate::app::AppState;
use actix_web::HttpRequest;
use provisioning::IntegrationScope;
use scim_core::ScimError;
use scim_core::extension::user_type_with;
use scim_core::schema::ResourceType;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use store::TokenAuth;

/// How long a successful lookup is trusted. Revocation through this process clears the cache
/// at once; through another instance it takes effect within this time.
const TTL: Duration = Duration::from_secs(5);
/// How often `last_used_at` is written for one token.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// Cache of token-hash → authentication result.
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    auth: TokenAuth,
    /// The integration's User type, built from the token lookup's extension schemas.
    user_type: Arc<ResourceType>,
    checked: Instant,
    touched: Instant,
}

impl TokenCache {
    /// Forgets every cached token (after a revocation, or a change of an integration's
    /// extension schemas, so this process serves the new User type at once).
    pub fn clear(&self) {
        if let Ok(mut m) = self.entries.lock() {
            m.clear();
        }
    }
}

fn unauthorized(detail: &str) -> ScimError {
    ScimError::new(401, None, detail)
}

/// Authenticates the request for the integration in its path.
pub async fn authenticate(
    req: &HttpRequest,
    state: &AppState,
    integration_id: &str,
) -> Result<IntegrationScope, ScimError> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| {
            unauthorized("missing Authorization header; send 'Authorization: Bearer <token>'")
        })?;
    let token = header
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("the Authorization header must use the Bearer scheme"))?;
    let hash = store::crypto::hash_token(token);
    let now = Instant::now();
    let cached = state.tokens.entries.lock().ok().and_then(|m| {
        m.get(&hash)
            .filter(|e| now.duration_since(e.checked) < TTL)
            .map(|e| {
                (
                    e.auth.clone(),
                    e.user_type.clone(),
                    now.duration_since(e.touched) >= TOUCH_EVERY,
                )
            })
    });
    let (auth, user_type, touch) = match cached {
        Some(hit) => hit,
        None => {
            let found = state
                .directory
                .store()
                .authenticate_token(token, chrono::Utc::now().timestamp_millis())
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "token lookup failed");
                    ScimError::new(503, None, "authentication is temporarily unavailable")
                })?;
            let mut auth =
                found.ok_or_else(|| unauthorized("the token is invalid, revoked or expired"))?;
            // Moved out, not kept: a cache hit clones `auth`, and must not copy schemas.
            let schemas = std::mem::take(&mut auth.extension_schemas);
            let user_type = Arc::new(user_type_with(&schemas));
            if let Ok(mut m) = state.tokens.entries.lock() {
                if m.len() > 10_000 {
                    m.clear();
                }
                m.insert(
                    hash.clone(),
                    Entry {
                        auth: auth.clone(),
                        user_type: user_type.clone(),
                        checked: now,
                        touched: now,
                    },
                );
            }
            (auth, user_type, true)
        }
    };
    if auth.integration_id != integration_id {
        return Err(unauthorized("the token is invalid, revoked or expired"));
    }
    if touch {
        if let Ok(mut m) = state.tokens.entries.lock()
            && let Some(e) = m.get_mut(&hash)
        {
            e.touched = now;
        }
        let store = state.directory.store().clone();
        let token_id = auth.token_id.clone();
        tokio::spawn(async move {
            let _ = store
                .touch_token_used(&token_id, chrono::Utc::now().timestamp_millis())
                .await;
        });
    }
    Ok(IntegrationScope {
        tenant_id: auth.tenant_id,
        integration_id: auth.integration_id,
        base_url: state.config.scim_url(integration_id),
        user_type,
    })
}
