//! Form bodies (`application/x-www-form-urlencoded`) with repeated keys, as the role-mapping
//! table sends them.

use actix_web::web::Bytes;

/// The decoded fields of a form, in order.
#[derive(Debug, Clone, Default)]
pub struct FormData {
    fields: Vec<(String, String)>,
}

impl FormData {
    /// Decodes a urlencoded body.
    pub fn parse(body: &[u8]) -> Self {
        Self {
            fields: form_urlencoded::parse(body).into_owned().collect(),
        }
    }

    /// Decodes an actix body.
    pub fn from_bytes(body: &Bytes) -> Self {
        Self::parse(body)
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed; empty if missing.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().trim().to_string()
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether a checkbox named `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| !v.is_empty() && v != "off")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_keep_their_order() {
        let f =
            FormData::parse(b"csrf=a&kind=group&kind=filter&value=Sales+Team&value=x%3Dy&on=on");
        assert_eq!(f.get("csrf"), Some("a"));
        assert_eq!(f.all("kind"), vec!["group", "filter"]);
        assert_eq!(f.all("value"), vec!["Sales Team", "x=y"]);
        assert!(f.checked("on") && !f.checked("off"));
        assert_eq!(f.text("missing"), "");
    }
}
