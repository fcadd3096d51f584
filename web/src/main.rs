//! The scimbridge binary.
fn main() {}
