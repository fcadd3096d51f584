//! Attribute paths as written in filters, PATCH `path`s, `attributes` lists and body keys:
//! `name`, `name.sub`, `urn:…:Schema:name.sub`, and the dotted-URN form some vendors write,
//! `urn:…:2.0:User.name`.

use crate::error::{Result, ScimError};
use crate::filter::AttrPath;

/// True when `s` looks like a schema URN (`urn:` prefix, any case).
pub fn is_urn(s: &str) -> bool {
    s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) && s.len() > 4
}

/// Parses one attribute path word.
///
/// A URN ends at the last `:`. Schema URNs end in the resource type name, which is
/// capitalised (`…:2.0:User`), while attribute names start in lowercase; so in
/// `…:2.0:User.userPrincipalNames` a capitalised segment before the first `.` still belongs
/// to the URN.
pub fn parse_attr_path(word: &str) -> Result<AttrPath> {
    let invalid = || ScimError::invalid_path(format!("'{word}' is not a valid attribute path"));
    let (urn, rest) = if is_urn(word) {
        let colon = word.rfind(':').ok_or_else(invalid)?;
        let (urn, rest) = (&word[..colon], &word[colon + 1..]);
        match rest.split_once('.') {
            Some((head, tail)) if head.starts_with(|c: char| c.is_ascii_uppercase()) => {
                (Some(format!("{urn}:{head}")), tail)
            }
            _ => (Some(urn.to_string()), rest),
        }
    } else {
        (None, word)
    };
    let (name, sub) = match rest.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    if !valid_name(name) || sub.is_some_and(|s| !valid_name(s)) {
        return Err(invalid());
    }
    Ok(AttrPath {
        urn,
        name: name.to_string(),
        sub_attr: sub.map(str::to_string),
    })
}

/// ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA; `$ref` is allowed too.
fn valid_name(s: &str) -> bool {
    if s == "$ref" {
        return true;
    }
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_sub() {
        let p = parse_attr_path("name.givenName").unwrap();
        assert_eq!(
            (p.urn, p.name.as_str(), p.sub_attr.as_deref()),
            (None, "name", Some("givenName"))
        );
    }

    #[test]
    fn urn_forms() {
        let p = parse_attr_path(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        )
        .unwrap();
        assert_eq!(
            p.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(p.name, "manager");
        assert_eq!(p.sub_attr.as_deref(), Some("value"));
        let dotted = parse_attr_path(
            "urn:ietf:params:scim:schemas:extension:activtrak:2.0:User.userPrincipalNames",
        )
        .unwrap();
        assert_eq!(
            dotted.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:activtrak:2.0:User")
        );
        assert_eq!(dotted.name, "userPrincipalNames");
        assert_eq!(dotted.sub_attr, None);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "1abc", "a..b", "name.", "urn:", "a.b.c"] {
            assert!(parse_attr_path(bad).is_err(), "{bad}");
        }
    }
}
