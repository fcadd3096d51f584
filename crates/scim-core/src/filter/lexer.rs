//! Tokenizer for filters and PATCH paths. Positions are byte offsets into the input so errors
//! can say where the expression went wrong.

use crate::error::{Result, ScimError};

/// One token and the byte offset it starts at.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub pos: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    /// An attribute path, keyword, number or `true`/`false`/`null`.
    Word(String),
    /// A JSON string literal, already unescaped.
    Str(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
}

const NUL_NOT_ALLOWED: &str =
    "a NUL character (\\u0000) is not allowed in a filter, not even escaped in a string";

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$' | ':' | '.' | '+')
}

/// Splits `input` into tokens. `invalid` builds the error (invalidFilter or invalidPath).
pub(crate) fn tokenize(input: &str, invalid: fn(String) -> ScimError) -> Result<Vec<Token>> {
    // PostgreSQL cannot hold NUL in text and SQLite compares strings containing it
    // inconsistently, so a filter with NUL (raw or escaped) would match differently per
    // database: refuse it on both.
    if input.contains('\0') {
        return Err(invalid(NUL_NOT_ALLOWED.into()));
    }
    let mut tokens = Vec::new();
    let bytes = input.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' | ')' | '[' | ']' => {
                let kind = match c {
                    '(' => TokenKind::LParen,
                    ')' => TokenKind::RParen,
                    '[' => TokenKind::LBracket,
                    _ => TokenKind::RBracket,
                };
                tokens.push(Token { kind, pos: i });
                i += 1;
            }
            '"' => {
                let (s, end) = lex_string(input, i, invalid)?;
                tokens.push(Token {
                    kind: TokenKind::Str(s),
                    pos: i,
                });
                i = end;
            }
            _ if is_word_char(c) => {
                let start = i;
                while i < bytes.len() && is_word_char(bytes[i] as char) {
                    i += 1;
                }
                tokens.push(Token {
                    kind: TokenKind::Word(input[start..i].to_string()),
                    pos: start,
                });
            }
            _ => {
                let ch = input[i..].chars().next().unwrap_or('?');
                return Err(invalid(format!(
                    "unexpected character '{ch}' at position {i}"
                )));
            }
        }
    }
    Ok(tokens)
}

/// Lexes a JSON string starting at the opening quote; returns the value and the index after
/// the closing quote. JSON escapes (`\"`, `\\`, `\n`, `\uXXXX`, …) are decoded by serde_json.
fn lex_string(
    input: &str,
    start: usize,
    invalid: fn(String) -> ScimError,
) -> Result<(String, usize)> {
    let bytes = input.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => {
                let literal = &input[start..=i];
                let value: String = serde_json::from_str(literal)
                    .map_err(|_| invalid(format!("invalid string literal at position {start}")))?;
                if value.contains('\0') {
                    return Err(invalid(NUL_NOT_ALLOWED.into()));
                }
                return Ok((value, i + 1));
            }
            _ => i += 1,
        }
    }
    Err(invalid(format!(
        "unterminated string starting at position {start}"
    )))
}
