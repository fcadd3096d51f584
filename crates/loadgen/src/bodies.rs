//! Pure request-body and URL builders (no I/O).

use serde_json::{Value, json};

/// SCIM core user schema URN.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// SCIM enterprise user extension URN.
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// SCIM PatchOp message URN.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Unique userName for user `i` of run `run_id`: `lg-<runid>-<i>@example.com`.
pub fn user_name(run_id: &str, i: u64) -> String {
    format!("lg-{run_id}-{i}@example.com")
}

/// A fresh random run id (8 hex chars), so reruns don't collide.
pub fn new_run_id() -> String {
    let mut s = uuid::Uuid::new_v4().simple().to_string();
    s.truncate(8);
    s
}

/// Entra-ID-shaped `POST /Users` body for user `i`.
pub fn create_user_body(run_id: &str, i: u64, external_id: &str) -> Value {
    let user_name = user_name(run_id, i);
    let given = "Loadgen";
    let family = format!("User{i}");
    json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
        "externalId": external_id,
        "userName": user_name,
        "active": true,
        "displayName": format!("{given} {family}"),
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "name": {
            "formatted": format!("{given} {family}"),
            "familyName": family,
            "givenName": given,
        },
        ENTERPRISE_SCHEMA: {"department": "Sales", "employeeNumber": i.to_string()},
        "roles": [],
    })
}

/// Entra-ID-shaped `PATCH /Users/{id}` body. `email` is re-sent unchanged (Entra does this).
pub fn patch_user_body(n: u64, email: &str) -> Value {
    json!({
        "schemas": [PATCH_OP_SCHEMA],
        "Operations": [
            {"op": "Replace", "path": "name.familyName", "value": format!("X{n}")},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": email},
            {
                "op": "Add",
                "path": format!("{ENTERPRISE_SCHEMA}:department"),
                "value": format!("D{n}"),
            },
        ],
    })
}

/// Percent-encode a query-string component (RFC 3986: everything except unreserved
/// characters is encoded; spaces become `%20`, never `+`).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// SCIM string literal for a filter value (JSON string escaping, as RFC 7644 requires).
fn filter_literal(value: &str) -> String {
    Value::String(value.to_owned()).to_string()
}

/// `<base>/Users?filter=userName%20eq%20%22...%22`.
pub fn lookup_url(base: &str, user_name: &str) -> String {
    let filter = format!("userName eq {}", filter_literal(user_name));
    format!("{base}/Users?filter={}", percent_encode(&filter))
}

/// `<base>/Users/<id>` (the id is percent-encoded as a path segment).
pub fn user_url(base: &str, id: &str) -> String {
    format!("{base}/Users/{}", percent_encode(id))
}

/// `<base>/Users?startIndex=<s>&count=<c>`.
pub fn page_url(base: &str, start_index: u64, count: u64) -> String {
    format!("{base}/Users?startIndex={start_index}&count={count}")
}

/// Deterministic, well-mixed pseudo-random index in `0..len` for request `i`
/// (splitmix64). Pure and `Send`, so workers need no RNG state. `len` must be > 0.
pub fn pick_index(seed: u64, i: u64, len: usize) -> usize {
    let mut z = seed.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let len = u64::try_from(len.max(1)).unwrap_or(u64::MAX);
    usize::try_from(z % len).unwrap_or(0)
}

/// Truncate `s` to at most `max` characters (on a char boundary), appending `…` if cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((idx, _)) => format!("{}…", &s[..idx]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_unique_and_shaped() {
        assert_eq!(user_name("abcd1234", 7), "lg-abcd1234-7@example.com");
        let a = new_run_id();
        let b = new_run_id();
        assert_eq!(a.len(), 8);
        assert_ne!(a, b);
    }

    #[test]
    fn create_body_is_entra_shaped() {
        let b = create_user_body("r1", 42, "ext-1");
        assert_eq!(b["schemas"][0], USER_SCHEMA);
        assert_eq!(b["schemas"][1], ENTERPRISE_SCHEMA);
        assert_eq!(b["externalId"], "ext-1");
        assert_eq!(b["userName"], "lg-r1-42@example.com");
        assert_eq!(b["active"], true);
        assert_eq!(b["emails"][0]["primary"], true);
        assert_eq!(b["emails"][0]["type"], "work");
        assert_eq!(b["emails"][0]["value"], "lg-r1-42@example.com");
        assert_eq!(b["name"]["familyName"], "User42");
        assert_eq!(b["name"]["givenName"], "Loadgen");
        assert_eq!(b["name"]["formatted"], "Loadgen User42");
        assert_eq!(b["displayName"], "Loadgen User42");
        assert_eq!(b[ENTERPRISE_SCHEMA]["department"], "Sales");
        assert_eq!(b[ENTERPRISE_SCHEMA]["employeeNumber"], "42");
        assert_eq!(b["roles"], json!([]));
        // Key order matches what Entra sends (preserve_order is on in the workspace).
        let keys: Vec<&str> = b
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(keys.first(), Some(&"schemas"));
        assert_eq!(keys.last(), Some(&"roles"));
    }

    #[test]
    fn patch_body_is_entra_shaped() {
        let b = patch_user_body(9, "a@example.com");
        assert_eq!(b["schemas"], json!([PATCH_OP_SCHEMA]));
        let ops = b["Operations"].as_array().unwrap();
        assert_eq!(ops.len(), 3);
        assert_eq!(
            ops[0],
            json!({"op":"Replace","path":"name.familyName","value":"X9"})
        );
        assert_eq!(ops[1]["path"], "emails[type eq \"work\"].value");
        assert_eq!(ops[1]["value"], "a@example.com");
        assert_eq!(ops[2]["op"], "Add");
        assert_eq!(
            ops[2]["path"],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
        );
        assert_eq!(ops[2]["value"], "D9");
    }

    #[test]
    fn urls_are_encoded() {
        assert_eq!(
            lookup_url("http://h/scim/v2/x", "lg-a-1@example.com"),
            "http://h/scim/v2/x/Users?filter=userName%20eq%20%22lg-a-1%40example.com%22"
        );
        assert_eq!(percent_encode("a b+c&d=\"é"), "a%20b%2Bc%26d%3D%22%C3%A9");
        assert_eq!(
            lookup_url("b", "q\"x"),
            "b/Users?filter=userName%20eq%20%22q%5C%22x%22"
        );
        assert_eq!(user_url("b", "id/1"), "b/Users/id%2F1");
        assert_eq!(page_url("b", 101, 100), "b/Users?startIndex=101&count=100");
    }

    #[test]
    fn pick_index_in_range_and_spread() {
        let mut hits = [0u32; 10];
        for i in 0..10_000 {
            let k = pick_index(12345, i, 10);
            hits[k] += 1;
        }
        assert!(hits.iter().all(|&h| h > 800), "{hits:?}");
        assert_eq!(pick_index(1, 2, 1), 0);
    }

    #[test]
    fn truncation_is_char_safe() {
        assert_eq!(truncate_chars("hello", 10), "hello");
        assert_eq!(truncate_chars("hello", 5), "hello");
        assert_eq!(truncate_chars("héllo", 2), "hé…");
        assert_eq!(truncate_chars(&"x".repeat(400), 300).chars().count(), 301);
    }
}
