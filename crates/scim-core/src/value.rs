//! Small helpers over JSON values: case-insensitive key lookup and SCIM dateTime parsing.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// Looks a key up case-insensitively (SCIM attribute names and URNs are case-insensitive).
pub fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The key as stored in `obj`, matched case-insensitively.
pub fn find_key(obj: &Map<String, Value>, key: &str) -> Option<String> {
    if obj.contains_key(key) {
        return Some(key.to_string());
    }
    obj.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

/// Mutable case-insensitive lookup.
pub fn get_ci_mut<'a>(obj: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Value> {
    let k = find_key(obj, key)?;
    obj.get_mut(&k)
}

/// Removes a key case-insensitively, returning its value.
pub fn remove_ci(obj: &mut Map<String, Value>, key: &str) -> Option<Value> {
    let k = find_key(obj, key)?;
    obj.shift_remove(&k)
}

/// Parses an xsd:dateTime / RFC 3339 timestamp.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Formats a timestamp as SCIM returns it (RFC 3339, UTC, millisecond precision).
pub fn format_datetime(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
