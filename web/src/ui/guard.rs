//! Process-local guards of the sign-in flow: failed-login throttling and the one-time first-run
//! setup token.
//!
//! Both live in memory on purpose: throttling state is worthless after a restart, and the setup
//! token is printed by the process that holds it (a restart prints a new one).

use std::collections::HashMap;
use std::sync::Mutex;

/// Failures allowed per account (`email:` keys) within the window before sign-in is refused.
pub const MAX_FAILURES: u32 = 5;
/// Failures allowed per client address (`ip:` keys): higher, as an office shares one address.
pub const MAX_FAILURES_PER_IP: u32 = 30;

fn limit(key: &str) -> u32 {
    if key.starts_with("ip:") {
        MAX_FAILURES_PER_IP
    } else {
        MAX_FAILURES
    }
}
/// The throttling window (seconds).
pub const WINDOW_SECS: i64 = 15 * 60;
/// Keys kept at most; the oldest windows are dropped first when full.
const MAX_KEYS: usize = 100_000;

/// Counts failed sign-ins per email and per client address.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, i64)>>,
}

impl LoginThrottle {
    /// Seconds until `keys` may try again, or `None` if none of them is locked.
    pub fn locked_for(&self, keys: &[String], now: i64) -> Option<i64> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter()
            .filter_map(|k| map.get(k).map(|v| (limit(k), v)))
            .filter(|(max, (n, start))| n >= max && now < start + WINDOW_SECS)
            .map(|(_, (_, start))| start + WINDOW_SECS - now)
            .max()
    }

    /// Records a failure for each key.
    pub fn fail(&self, keys: &[String], now: i64) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS {
            map.retain(|_, (_, start)| now < *start + WINDOW_SECS);
        }
        for k in keys {
            let e = map.entry(k.clone()).or_insert((0, now));
            if now >= e.1 + WINDOW_SECS {
                *e = (0, now);
            }
            e.0 += 1;
        }
    }

    /// Forgets the failures of an email after a successful sign-in.
    pub fn succeed(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
    }
}

/// Seconds the first-run setup link stays valid.
pub const SETUP_TTL_SECS: i64 = 60 * 60;

/// The one-time first-run setup token.
#[derive(Default)]
pub struct SetupGate {
    token: Mutex<Option<(String, i64)>>,
}

/// Says whether the gate is armed, never the token.
impl std::fmt::Debug for SetupGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let armed = self
            .token
            .lock()
            .map(|t| t.is_some())
            .unwrap_or_else(|p| p.into_inner().is_some());
        f.debug_struct("SetupGate").field("armed", &armed).finish()
    }
}

impl SetupGate {
    /// Arms the gate with `token`, valid until `now + SETUP_TTL_SECS`.
    pub fn arm(&self, token: String, now: i64) {
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = Some((token, now + SETUP_TTL_SECS));
    }

    /// Whether `candidate` is the armed, unexpired token (constant time).
    pub fn check(&self, candidate: &str, now: i64) -> bool {
        use subtle::ConstantTimeEq;
        let guard = self.token.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some((t, expires)) if now < *expires => t.as_bytes().ct_eq(candidate.as_bytes()).into(),
            _ => false,
        }
    }

    /// Uses the token up: true exactly once for the armed, unexpired token.
    pub fn consume(&self, candidate: &str, now: i64) -> bool {
        let mut guard = self.token.lock().unwrap_or_else(|p| p.into_inner());
        let ok = match guard.as_ref() {
            Some((t, expires)) if now < *expires => {
                use subtle::ConstantTimeEq;
                t.as_bytes().ct_eq(candidate.as_bytes()).into()
            }
            _ => false,
        };
        if ok {
            *guard = None;
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_locks_after_max_failures_and_unlocks_after_the_window() {
        let t = LoginThrottle::default();
        let keys = vec!["email:a@x".to_string(), "ip:1.2.3.4".to_string()];
        for _ in 0..MAX_FAILURES - 1 {
            t.fail(&keys, 100);
        }
        assert_eq!(t.locked_for(&keys, 100), None);
        t.fail(&keys, 100);
        assert_eq!(t.locked_for(&keys, 160), Some(WINDOW_SECS - 60));
        // Another account from the same address is not locked yet…
        let other = ["email:b@x".to_string(), "ip:1.2.3.4".to_string()];
        assert_eq!(t.locked_for(&other, 160), None);
        // …until the address itself reaches its higher limit.
        for _ in 0..MAX_FAILURES_PER_IP - MAX_FAILURES {
            t.fail(&other[1..], 170);
        }
        assert!(t.locked_for(&other, 180).is_some());
        assert_eq!(t.locked_for(&keys, 100 + WINDOW_SECS), None);
        t.succeed("email:a@x");
        assert_eq!(t.locked_for(&["email:a@x".into()], 160), None);
    }

    #[test]
    fn setup_token_is_single_use_and_expires() {
        let g = SetupGate::default();
        assert!(!g.check("x", 0));
        g.arm("tok".into(), 0);
        assert!(g.check("tok", 10) && !g.check("tok2", 10));
        assert!(!g.check("tok", SETUP_TTL_SECS));
        assert!(g.consume("tok", 10));
        assert!(!g.consume("tok", 11));
    }
}
