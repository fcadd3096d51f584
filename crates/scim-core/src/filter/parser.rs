//! Recursive-descent parser for RFC 7644 §3.4.2.2 filters.
//!
//! Precedence, lowest first: `or`, `and`, `not`/grouping. Keywords are case-insensitive.
//! Input is bounded ([`MAX_FILTER_LEN`], [`MAX_DEPTH`], [`MAX_TERMS`]) so hostile filters
//! cannot exhaust the stack or the CPU.

use super::ast::{AttrPath, CompValue, CompareOp, Filter};
use super::lexer::{Token, TokenKind, tokenize};
use crate::error::{Result, ScimError};
use crate::path::parse_attr_path;

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 8 * 1024;
/// Deepest nesting of parentheses, `not` and brackets.
pub const MAX_DEPTH: usize = 32;
/// Most comparison terms in one filter.
pub const MAX_TERMS: usize = 256;

/// Parses a filter expression.
pub fn parse_filter(input: &str) -> Result<Filter> {
    if input.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_filter(format!(
            "filter is {} bytes long; the limit is {MAX_FILTER_LEN}",
            input.len()
        )));
    }
    let tokens = tokenize(input, ScimError::invalid_filter)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
        terms: 0,
        end: input.len(),
        in_brackets: false,
    };
    if p.tokens.is_empty() {
        return Err(ScimError::invalid_filter("filter is empty"));
    }
    let f = p.parse_or()?;
    if let Some(t) = p.peek() {
        return Err(p.error_at(t.pos, "expected 'and', 'or' or the end of the filter"));
    }
    Ok(f)
}

/// A PATCH path: `attrPath`, `attrPath[valFilter]` or `attrPath[valFilter].subAttr`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute (with its sub-attribute when there is no filter).
    pub attr: AttrPath,
    /// The value filter selecting elements of a multi-valued attribute.
    pub filter: Option<Filter>,
    /// The sub-attribute after the brackets.
    pub sub_attr_after_filter: Option<String>,
}

/// Parses a PATCH `path` (RFC 7644 §3.5.2). Errors are `invalidPath`.
pub fn parse_patch_path(input: &str) -> Result<PatchPath> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(ScimError::invalid_path("path is empty"));
    }
    if trimmed.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_path("path is too long"));
    }
    let Some(open) = trimmed.find('[') else {
        return Ok(PatchPath {
            attr: parse_attr_path(trimmed)?,
            filter: None,
            sub_attr_after_filter: None,
        });
    };
    let close = trimmed.rfind(']').filter(|&c| c > open).ok_or_else(|| {
        ScimError::invalid_path(format!(
            "'{trimmed}': '[' at position {open} is never closed"
        ))
    })?;
    let attr = parse_attr_path(&trimmed[..open])?;
    if attr.sub_attr.is_some() {
        return Err(ScimError::invalid_path(format!(
            "'{trimmed}': a value filter must follow a top-level attribute"
        )));
    }
    let filter = parse_filter(&trimmed[open + 1..close]).map_err(|e| {
        ScimError::invalid_path(format!("'{trimmed}': invalid value filter: {}", e.detail))
    })?;
    let rest = &trimmed[close + 1..];
    let sub = if rest.is_empty() {
        None
    } else {
        let sub = rest
            .strip_prefix('.')
            .filter(|s| !s.is_empty() && !s.contains(['.', '[', ']']));
        Some(
            sub.ok_or_else(|| {
                ScimError::invalid_path(format!(
                    "'{trimmed}': unexpected '{rest}' after the value filter"
                ))
            })?
            .to_string(),
        )
    };
    Ok(PatchPath {
        attr,
        filter: Some(filter),
        sub_attr_after_filter: sub,
    })
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    terms: usize,
    end: usize,
    in_brackets: bool,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn here(&self) -> usize {
        self.peek().map(|t| t.pos).unwrap_or(self.end)
    }

    fn error_at(&self, pos: usize, what: &str) -> ScimError {
        ScimError::invalid_filter(format!("{what} at position {pos}"))
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token { kind: TokenKind::Word(w), .. }) if w.eq_ignore_ascii_case(kw))
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(self.here(), &format!("nesting deeper than {MAX_DEPTH}")));
        }
        Ok(())
    }

    fn parse_or(&mut self) -> Result<Filter> {
        let mut left = self.parse_and()?;
        while self.peek_keyword("or") {
            self.pos += 1;
            let right = self.parse_and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self) -> Result<Filter> {
        let mut left = self.parse_unary()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            let right = self.parse_unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_unary(&mut self) -> Result<Filter> {
        if self.peek_keyword("not") {
            self.pos += 1;
            self.enter()?;
            let inner = self.parse_unary()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if matches!(
            self.peek(),
            Some(Token {
                kind: TokenKind::LParen,
                ..
            })
        ) {
            let open = self.here();
            self.pos += 1;
            self.enter()?;
            let inner = self.parse_or()?;
            self.depth -= 1;
            match self.next() {
                Some(Token {
                    kind: TokenKind::RParen,
                    ..
                }) => return Ok(inner),
                _ => return Err(self.error_at(open, "'(' is never closed; it opens")),
            }
        }
        self.parse_atom()
    }

    fn parse_atom(&mut self) -> Result<Filter> {
        let pos = self.here();
        let word = match self.next() {
            Some(Token {
                kind: TokenKind::Word(w),
                ..
            }) => w,
            Some(_) => return Err(self.error_at(pos, "expected an attribute path")),
            None => return Err(self.error_at(pos, "expected an attribute path, found the end")),
        };
        let path = parse_attr_path(&word)
            .map_err(|_| self.error_at(pos, &format!("'{word}' is not a valid attribute path")))?;

        if matches!(
            self.peek(),
            Some(Token {
                kind: TokenKind::LBracket,
                ..
            })
        ) {
            return self.parse_value_path(path, pos);
        }
        self.parse_comparison(path)
    }

    /// `path[inner]`, optionally followed by `.sub op value` (Entra's matching-attribute form).
    fn parse_value_path(&mut self, path: AttrPath, pos: usize) -> Result<Filter> {
        if self.in_brackets {
            return Err(self.error_at(pos, "value filters cannot be nested"));
        }
        if path.sub_attr.is_some() {
            return Err(self.error_at(pos, "a value filter must follow a top-level attribute"));
        }
        self.pos += 1; // '['
        self.enter()?;
        self.in_brackets = true;
        let inner = self.parse_or()?;
        self.in_brackets = false;
        self.depth -= 1;
        match self.next() {
            Some(Token {
                kind: TokenKind::RBracket,
                ..
            }) => {}
            _ => return Err(self.error_at(pos, "'[' is never closed; the value path starts")),
        }
        // `].sub op value`: the lexer yields the sub-attribute as a word starting with '.'.
        if let Some(Token {
            kind: TokenKind::Word(w),
            pos: wpos,
        }) = self.peek().cloned()
            && let Some(sub) = w.strip_prefix('.')
        {
            self.pos += 1;
            let sub_path = parse_attr_path(sub).map_err(|_| {
                self.error_at(wpos, &format!("'{sub}' is not a valid sub-attribute"))
            })?;
            self.in_brackets = true;
            let cmp = self.parse_comparison(sub_path);
            self.in_brackets = false;
            return Ok(Filter::ValuePath(
                path,
                Box::new(Filter::And(Box::new(inner), Box::new(cmp?))),
            ));
        }
        Ok(Filter::ValuePath(path, Box::new(inner)))
    }

    fn parse_comparison(&mut self, path: AttrPath) -> Result<Filter> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(self.error_at(self.here(), &format!("more than {MAX_TERMS} terms")));
        }
        let pos = self.here();
        let op_word = match self.next() {
            Some(Token {
                kind: TokenKind::Word(w),
                ..
            }) => w,
            _ => {
                return Err(self.error_at(pos, &format!("expected an operator after '{path}'")));
            }
        };
        if op_word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let op = CompareOp::from_keyword(&op_word)
            .ok_or_else(|| self.error_at(pos, &format!("unknown operator '{op_word}'")))?;
        let vpos = self.here();
        let value = match self.next() {
            Some(Token {
                kind: TokenKind::Str(s),
                ..
            }) => CompValue::String(s),
            Some(Token {
                kind: TokenKind::Word(w),
                ..
            }) => parse_literal(&w)
                .ok_or_else(|| self.error_at(vpos, &format!("'{w}' is not a valid value")))?,
            _ => return Err(self.error_at(vpos, &format!("expected a value after '{op_word}'"))),
        };
        Ok(Filter::Compare(path, op, value))
    }
}

fn parse_literal(w: &str) -> Option<CompValue> {
    if w.eq_ignore_ascii_case("true") {
        Some(CompValue::Bool(true))
    } else if w.eq_ignore_ascii_case("false") {
        Some(CompValue::Bool(false))
    } else if w.eq_ignore_ascii_case("null") {
        Some(CompValue::Null)
    } else {
        match serde_json::from_str::<serde_json::Value>(w).ok()? {
            serde_json::Value::Number(n) => Some(CompValue::Number(n)),
            _ => None,
        }
    }
}
