//! Short names in filters: `department eq "Sales"` for
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Sales"`.

use super::ast::{AttrPath, Filter};
use crate::schema::{ResourceType, common_attribute};

/// Qualifies every unqualified top-level attribute path that is not a core attribute of `rt`
/// but an attribute of exactly one of its extensions with that extension's URN. Paths inside
/// a value filter (`emails[type eq "work"]`) are relative to the element and stay as they are;
/// names that are core, unknown or ambiguous (in two extensions) are left unchanged, so
/// validation reports them as before.
pub fn qualify_short_names(filter: Filter, rt: &ResourceType) -> Filter {
    match filter {
        Filter::Present(p) => Filter::Present(qualify(p, rt)),
        Filter::Compare(p, op, v) => Filter::Compare(qualify(p, rt), op, v),
        Filter::ValuePath(p, inner) => Filter::ValuePath(qualify(p, rt), inner),
        Filter::And(a, b) => Filter::And(
            Box::new(qualify_short_names(*a, rt)),
            Box::new(qualify_short_names(*b, rt)),
        ),
        Filter::Or(a, b) => Filter::Or(
            Box::new(qualify_short_names(*a, rt)),
            Box::new(qualify_short_names(*b, rt)),
        ),
        Filter::Not(a) => Filter::Not(Box::new(qualify_short_names(*a, rt))),
    }
}

fn qualify(mut p: AttrPath, rt: &ResourceType) -> AttrPath {
    if p.urn.is_some()
        || common_attribute(&p.name).is_some()
        || rt.schema.attribute(&p.name).is_some()
    {
        return p;
    }
    let mut owners = rt
        .extensions
        .iter()
        .filter(|e| e.schema.attribute(&p.name).is_some());
    if let (Some(only), None) = (owners.next(), owners.next()) {
        p.urn = Some(only.schema.id.clone());
    }
    p
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::filter::{matches, parse_filter, validate_filter};
    use crate::schema::{AttributeDef, extension_schema};
    use serde_json::json;

    const AP: &str = "urn:ietf:params:scim:schemas:activepieces:1.0:CustomUserAttributes";
    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn rt() -> ResourceType {
        let mut rt = ResourceType::user();
        rt.register_extension(
            extension_schema(
                AP,
                "Activepieces",
                vec![AttributeDef::string("platformRole")],
            ),
            false,
        );
        // `division` is now in two extensions: ambiguous.
        rt.register_extension(
            extension_schema(
                "urn:acme:ext:User",
                "Acme",
                vec![AttributeDef::string("division")],
            ),
            false,
        );
        rt
    }

    fn q(f: &str) -> String {
        qualify_short_names(parse_filter(f).unwrap(), &rt()).to_string()
    }

    #[test]
    fn qualifies_extension_attributes_of_one_schema() {
        assert_eq!(
            q("department eq \"Sales\""),
            format!("{ENT}:department eq \"Sales\"")
        );
        assert_eq!(
            q("platformrole eq \"ADMIN\""),
            format!("{AP}:platformrole eq \"ADMIN\"")
        );
        assert_eq!(q("manager.value pr"), format!("{ENT}:manager.value pr"));
        assert_eq!(
            q("not (platformRole eq \"ADMIN\") or (department sw \"S\" and active eq true)"),
            format!(
                "not ({AP}:platformRole eq \"ADMIN\") or {ENT}:department sw \"S\" and active eq true"
            )
        );
    }

    #[test]
    fn leaves_core_qualified_unknown_and_ambiguous_names() {
        for f in [
            "userName eq \"a\"",
            "externalId pr",
            "meta.created gt \"2024-01-01T00:00:00Z\"",
            "emails[type eq \"work\" and value co \"@\"]",
            "division eq \"x\"",
            "nosuch eq \"x\"",
            "urn:acme:ext:User:division eq \"x\"",
        ] {
            assert_eq!(q(f), parse_filter(f).unwrap().to_string(), "{f}");
        }
    }

    #[test]
    fn a_qualified_short_name_validates_and_matches() {
        let rt = rt();
        let f = parse_filter("platformRole eq \"ADMIN\"").unwrap();
        assert!(
            validate_filter(&f, &rt).is_err(),
            "unqualified is unknown today"
        );
        let f = qualify_short_names(f, &rt);
        validate_filter(&f, &rt).unwrap();
        let user = json!({"userName": "a", AP: {"platformRole": "ADMIN"}});
        assert!(matches(&f, user.as_object().unwrap(), &rt));
    }
}
