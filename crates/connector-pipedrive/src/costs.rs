//! Token costs per call (§5.1, from Pipedrive's published spec); role assignments are not
//! listed there and are charged like the other role calls.

/// The tokens a request costs; `path` is relative to the API base (`users/find`).
pub fn cost(method: &str, path: &[&str]) -> u32 {
    match (method, path) {
        ("GET", ["users"]) => 20,
        ("GET", ["users", "find"]) => 40,
        ("GET", ["users", "me"]) => 2,
        ("GET", ["users", _, "roleAssignments"]) => 10,
        ("GET", ["users", _]) => 2,
        _ => 10,
    }
}

#[cfg(test)]
mod tests {
    use super::cost;

    #[test]
    fn published_costs() {
        assert_eq!(cost("GET", &["users"]), 20);
        assert_eq!(cost("GET", &["users", "12"]), 2);
        assert_eq!(cost("GET", &["users", "me"]), 2);
        assert_eq!(cost("GET", &["users", "find"]), 40);
        assert_eq!(cost("POST", &["users"]), 10);
        assert_eq!(cost("PUT", &["users", "12"]), 10);
        assert_eq!(cost("GET", &["roles"]), 10);
        assert_eq!(cost("GET", &["users", "12", "roleAssignments"]), 10);
        assert_eq!(cost("POST", &["roles", "3", "assignments"]), 10);
    }
}
