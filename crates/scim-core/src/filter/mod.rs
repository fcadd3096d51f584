//! SCIM filters (RFC 7644 §3.4.2.2): parser to an AST, printer, evaluator and validation.

mod ast;
mod eval;
mod lexer;
mod parser;
mod qualify;

pub use ast::{AttrPath, CompValue, CompareOp, Filter};
pub use eval::{element_matches, matches, validate_filter};
pub use parser::{MAX_DEPTH, MAX_FILTER_LEN, MAX_TERMS, PatchPath, parse_filter, parse_patch_path};
pub use qualify::qualify_short_names;
