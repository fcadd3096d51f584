//! The filter AST. Produced by [`super::parse_filter`], printed back by `Display`
//! (`parse(print(f)) == f`), evaluated by [`super::matches`], and simple enough for a store
//! to translate the indexed parts into SQL.

use serde_json::Number;
use std::fmt;

/// An attribute path: `[urn:]name[.subAttr]`, e.g. `userName`, `name.givenName`,
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`.
///
/// Names keep the case they were written in; compare them with [`AttrPath::is`] or
/// `eq_ignore_ascii_case`, since SCIM attribute names are case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// Schema URN the path was qualified with, if any (without the trailing `:`).
    pub urn: Option<String>,
    /// The top-level attribute name.
    pub name: String,
    /// The sub-attribute, for complex attributes.
    pub sub_attr: Option<String>,
}

impl AttrPath {
    /// A path with just a top-level name.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            urn: None,
            name: name.into(),
            sub_attr: None,
        }
    }
    /// A path `name.sub`.
    pub fn with_sub(name: impl Into<String>, sub: impl Into<String>) -> Self {
        Self {
            urn: None,
            name: name.into(),
            sub_attr: Some(sub.into()),
        }
    }
    /// Case-insensitive comparison against `name` or `name.sub` (URN ignored).
    pub fn is(&self, dotted: &str) -> bool {
        match dotted.split_once('.') {
            Some((n, s)) => {
                self.name.eq_ignore_ascii_case(n)
                    && self
                        .sub_attr
                        .as_deref()
                        .is_some_and(|x| x.eq_ignore_ascii_case(s))
            }
            None => self.name.eq_ignore_ascii_case(dotted) && self.sub_attr.is_none(),
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// Comparison operators of RFC 7644 §3.4.2.2 (`pr` is [`Filter::Present`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    /// Parses an operator keyword, case-insensitively.
    pub fn from_keyword(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }
    /// The lowercase keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }
}

/// A comparison literal.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Null => f.write_str("null"),
            CompValue::Bool(b) => write!(f, "{b}"),
            CompValue::Number(n) => write!(f, "{n}"),
            // serde_json's string encoding is exactly the JSON string the grammar uses.
            CompValue::String(s) => f.write_str(&serde_json::Value::String(s.clone()).to_string()),
        }
    }
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath pr`
    Present(AttrPath),
    /// `attrPath op value`
    Compare(AttrPath, CompareOp, CompValue),
    /// `attrPath[valFilter]`: some element of the multi-valued attribute matches the inner
    /// filter, whose paths are relative to the element (their `name` is the sub-attribute,
    /// or `value` for multi-valued simple attributes). `emails[type eq "work"].value eq "x"`
    /// (an Entra form outside the RFC grammar) parses as `emails[type eq "work" and value eq "x"]`.
    ValuePath(AttrPath, Box<Filter>),
    /// `a and b`
    And(Box<Filter>, Box<Filter>),
    /// `a or b`
    Or(Box<Filter>, Box<Filter>),
    /// `not (a)`
    Not(Box<Filter>),
}

impl Filter {
    fn precedence(&self) -> u8 {
        match self {
            Filter::Or(..) => 1,
            Filter::And(..) => 2,
            _ => 3,
        }
    }

    fn fmt_child(&self, child: &Filter, min: u8, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if child.precedence() < min {
            write!(f, "({child})")
        } else {
            write!(f, "{child}")
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Present(p) => write!(f, "{p} pr"),
            Filter::Compare(p, op, v) => write!(f, "{p} {} {v}", op.keyword()),
            Filter::ValuePath(p, inner) => write!(f, "{p}[{inner}]"),
            // Left-associative: the right operand needs parentheses at equal precedence.
            Filter::And(a, b) => {
                self.fmt_child(a, 2, f)?;
                f.write_str(" and ")?;
                self.fmt_child(b, 3, f)
            }
            Filter::Or(a, b) => {
                self.fmt_child(a, 1, f)?;
                f.write_str(" or ")?;
                self.fmt_child(b, 2, f)
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
        }
    }
}
