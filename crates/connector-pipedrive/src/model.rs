//! Wire shapes. Unknown fields are ignored.

use serde::Deserialize;
use serde_json::Value;

/// `{"success": …, "data": …, "additional_data": …}`.
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    #[serde(default)]
    pub success: bool,
    pub data: Option<T>,
    #[serde(default)]
    pub additional_data: Option<Value>,
}

impl<T> Envelope<T> {
    /// `additional_data.pagination.more_items_in_collection`.
    pub fn more(&self) -> bool {
        self.additional_data
            .as_ref()
            .and_then(|a| a.pointer("/pagination/more_items_in_collection"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

#[derive(Debug, Deserialize)]
pub struct User {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub company_name: Option<String>,
    #[serde(default)]
    pub company_domain: Option<String>,
    #[serde(default)]
    pub active_flag: Option<bool>,
    /// "YYYY-MM-DD HH:MM:SS", null before the first login.
    #[serde(default)]
    pub last_login: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Role {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RoleAssignment {
    pub role_id: u64,
}

/// The failure envelope (`error`; `error_info` and `errorCode` add nothing readable).
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub error: Option<String>,
}
