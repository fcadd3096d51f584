//! The ids file written by `create` and read by `lookup` / `patch`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;

/// One created user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    pub id: String,
    #[serde(rename = "userName")]
    pub user_name: String,
}

/// Contents of the ids file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdsFile {
    pub run_id: String,
    /// SCIM base URL the users were created against.
    pub url: String,
    pub users: Vec<UserRef>,
}

impl IdsFile {
    /// Write as pretty JSON, creating parent directories.
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(path, e))?;
        }
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text).map_err(|e| Error::io(path, e))
    }

    /// Read; fails if the file holds no users.
    pub fn read(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let file: Self = serde_json::from_str(&text)?;
        if file.users.is_empty() {
            return Err(Error::NoUsers(path.display().to_string()));
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = std::env::temp_dir().join(format!("loadgen-test-{}", uuid::Uuid::new_v4()));
        let path = dir.join("nested").join("users.json");
        let file = IdsFile {
            run_id: "abcd".into(),
            url: "http://127.0.0.1:1/scim/v2/x".into(),
            users: vec![
                UserRef {
                    id: "1".into(),
                    user_name: "lg-abcd-0@example.com".into(),
                },
                UserRef {
                    id: "2".into(),
                    user_name: "lg-abcd-1@example.com".into(),
                },
            ],
        };
        file.write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("\"userName\": \"lg-abcd-0@example.com\""),
            "{text}"
        );
        assert_eq!(IdsFile::read(&path).unwrap(), file);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn empty_and_missing_files_are_errors() {
        let dir = std::env::temp_dir().join(format!("loadgen-test-{}", uuid::Uuid::new_v4()));
        let path = dir.join("users.json");
        assert!(matches!(IdsFile::read(&path), Err(Error::Io { .. })));
        IdsFile {
            run_id: "r".into(),
            url: "u".into(),
            users: vec![],
        }
        .write(&path)
        .unwrap();
        assert!(matches!(IdsFile::read(&path), Err(Error::NoUsers(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
