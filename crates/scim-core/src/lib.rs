//! `scim-core` owns the SCIM 2.0 protocol (RFC 7643 / RFC 7644) and nothing else: schemas as
//! data, resource validation and rendering, the filter language (parser, printer, evaluator),
//! the PATCH engine with the quirks Entra ID and Okta really send, attribute projection,
//! discovery documents and the protocol messages.
//!
//! It performs no I/O and must not depend on a runtime, web framework, database or HTTP
//! client (`cargo tree -p scim-core` shows serde, serde_json, thiserror and chrono only), so
//! it is fast to test and safe to fuzz. Storage and HTTP live in other crates.

pub mod discovery;
pub mod error;
pub mod extension;
pub mod filter;
pub mod messages;
pub mod patch;
pub mod path;
pub mod projection;
pub mod resource;
pub mod schema;
pub mod sort;
pub mod value;

pub use error::{Result, ScimError, ScimType};
