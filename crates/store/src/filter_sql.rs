//! Pushes the indexed subset of a SCIM filter down to SQL.
//!
//! [`user_condition`] and [`group_condition`] return `Some` only when the *whole* filter can
//! be expressed over indexed columns with the same result as `scim_core::filter::matches` on
//! the stored JSON; otherwise `None`, and the caller evaluates the filter in memory (over
//! [`crate::scim::list_users_unpaged`]).
//!
//! Expressible, optionally qualified with the core schema URN:
//!
//! | attribute | operators |
//! |---|---|
//! | `id` | `eq` `ne` (case-exact) |
//! | `userName` (users) | `eq` `ne` `sw` `co` `ew`, case-insensitive via `user_name_lower` |
//! | `displayName` | groups: `eq` `ne` `sw` `co` `ew` case-insensitive via `display_name_lower`; users: the same for ASCII values, through `LOWER()` |
//! | `externalId` | `eq` `ne` `sw` (case-exact) |
//! | `externalId`, `displayName` | `pr`, `eq null`, `ne null` |
//! | `active` (users) | `eq` `ne` with `true`/`false`, also as strings in any case (Entra sends `"True"`) |
//! | `meta.created`, `meta.lastModified` | `eq` `ne` `gt` `ge` `lt` `le` with an RFC 3339 time (millisecond precision) |
//! | `members.value`, `members[value eq "…"]` (groups) | `eq` |
//!
//! combined with `and`, `or`, `not`. Semantics follow the in-memory evaluator: an absent or
//! empty attribute never equals anything and always satisfies `ne`; every atom is two-valued
//! (NULLs are handled explicitly) so `not` is an exact complement.

use crate::entities::{group_members, scim_groups as g, scim_users as u};
use scim_core::filter::{AttrPath, CompValue, CompareOp, Filter};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query};
use sea_orm::{ColumnTrait, Condition};

/// Core schema URN of users.
const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Core schema URN of groups.
const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Escape character used in LIKE patterns (not special in any SQL string syntax).
const LIKE_ESCAPE: char = '!';

/// The SQL condition equivalent to `f` over `scim_users`, or `None` if some part of it is
/// not expressible.
pub fn user_condition(f: &Filter) -> Option<Condition> {
    translate(f, &Users)
}

/// The userName of a filter that is exactly `userName eq "…"` (the IdPs' lookup before every
/// create), which [`crate::Store::find_user_by_user_name`] answers like [`user_condition`]
/// would.
pub fn user_name_eq(f: &Filter) -> Option<&str> {
    match f {
        Filter::Compare(p, CompareOp::Eq, v) if attr(p, Users.urn()) == Some(Attr::UserName) => {
            non_empty_str(v)
        }
        _ => None,
    }
}

/// The SQL condition equivalent to `f` over `scim_groups`, or `None` if some part of it is
/// not expressible.
pub fn group_condition(f: &Filter) -> Option<Condition> {
    translate(f, &Groups)
}

/// How one resource type maps attributes to columns.
trait Target {
    fn urn(&self) -> &'static str;
    fn atom(&self, name: Attr, op: CompareOp, v: &CompValue) -> Option<Expr>;
    fn present(&self, name: Attr) -> Option<Expr>;
    fn value_path(&self, path: &AttrPath, inner: &Filter) -> Option<Expr>;
}

/// The attributes this module knows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Attr {
    Id,
    UserName,
    DisplayName,
    ExternalId,
    Active,
    Created,
    LastModified,
    MembersValue,
}

fn translate(f: &Filter, t: &dyn Target) -> Option<Condition> {
    Some(match f {
        Filter::And(a, b) => Condition::all().add(translate(a, t)?).add(translate(b, t)?),
        Filter::Or(a, b) => Condition::any().add(translate(a, t)?).add(translate(b, t)?),
        Filter::Not(a) => translate(a, t)?.not(),
        Filter::Present(p) => Condition::all().add(t.present(attr(p, t.urn())?)?),
        Filter::Compare(p, op, v) => Condition::all().add(t.atom(attr(p, t.urn())?, *op, v)?),
        Filter::ValuePath(p, inner) => {
            if !urn_ok(p, t.urn()) {
                return None;
            }
            Condition::all().add(t.value_path(p, inner)?)
        }
    })
}

fn urn_ok(p: &AttrPath, urn: &str) -> bool {
    p.urn.as_deref().is_none_or(|u| u.eq_ignore_ascii_case(urn))
}

fn attr(p: &AttrPath, urn: &str) -> Option<Attr> {
    if !urn_ok(p, urn) {
        return None;
    }
    let a = [
        ("id", Attr::Id),
        ("userName", Attr::UserName),
        ("displayName", Attr::DisplayName),
        ("externalId", Attr::ExternalId),
        ("active", Attr::Active),
        ("meta.created", Attr::Created),
        ("meta.lastModified", Attr::LastModified),
        ("members.value", Attr::MembersValue),
    ];
    a.into_iter().find(|(n, _)| p.is(n)).map(|(_, a)| a)
}

// ---------------------------------------------------------------------------------------------
// Building blocks

/// A non-empty string literal (empty strings follow "absent" rules that SQL would not).
fn non_empty_str(v: &CompValue) -> Option<&str> {
    match v {
        CompValue::String(s) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// `true`/`false`, also as strings in any case.
fn bool_lit(v: &CompValue) -> Option<bool> {
    match v {
        CompValue::Bool(b) => Some(*b),
        CompValue::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        CompValue::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Epoch ms of an RFC 3339 literal, if it has no precision beyond milliseconds.
fn millis_lit(v: &CompValue) -> Option<i64> {
    let CompValue::String(s) = v else { return None };
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    if t.timestamp_subsec_nanos() % 1_000_000 != 0 {
        return None;
    }
    Some(t.timestamp_millis())
}

/// Escapes LIKE wildcards in `s`.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if c == '%' || c == '_' || c == LIKE_ESCAPE {
            out.push(LIKE_ESCAPE);
        }
        out.push(c);
    }
    out
}

fn like(e: Expr, pattern: String) -> Expr {
    e.like(LikeExpr::new(pattern).escape(LIKE_ESCAPE))
}

/// A string comparison on a NOT NULL column whose value is already normalised like `v`.
/// eq/ne/sw/co/ew only.
fn string_op(col: Expr, op: CompareOp, v: &str) -> Option<Expr> {
    let esc = like_escape(v);
    Some(match op {
        CompareOp::Eq => col.eq(v),
        CompareOp::Ne => col.ne(v),
        CompareOp::Sw => like(col, format!("{esc}%")),
        CompareOp::Co => like(col, format!("%{esc}%")),
        CompareOp::Ew => like(col, format!("%{esc}")),
        _ => return None,
    })
}

/// A string comparison on a nullable column: absent values never match, except `ne`.
fn nullable_string_op(col: Expr, op: CompareOp, v: &str, cmp: Expr) -> Option<Expr> {
    Some(match op {
        CompareOp::Ne => col.clone().is_null().or(cmp.ne(v)),
        _ => col.is_not_null().and(string_op(cmp, op, v)?),
    })
}

/// `attr pr` on a nullable text column: set and not empty.
fn present(col: Expr) -> Expr {
    col.clone().is_not_null().and(col.ne(""))
}

/// `eq null` / `ne null` on a nullable text column.
fn null_op(col: Expr, op: CompareOp) -> Option<Expr> {
    match op {
        CompareOp::Eq => Some(col.clone().is_null().or(col.eq(""))),
        CompareOp::Ne => Some(present(col)),
        _ => None,
    }
}

/// `externalId` (case-exact): eq, ne, sw (via `substr`, which is case-sensitive on both
/// databases where LIKE is not), eq/ne null.
fn external_id_op(col: Expr, op: CompareOp, v: &CompValue) -> Option<Expr> {
    if matches!(v, CompValue::Null) {
        return null_op(col, op);
    }
    let s = non_empty_str(v)?;
    Some(match op {
        CompareOp::Eq => col.clone().is_not_null().and(col.eq(s)),
        CompareOp::Ne => col.clone().is_null().or(col.ne(s)),
        CompareOp::Sw => {
            let n = i32::try_from(s.chars().count()).ok()?;
            col.clone()
                .is_not_null()
                .and(Expr::expr(Func::cust("substr").arg(col).arg(1).arg(n)).eq(s))
        }
        _ => return None,
    })
}

/// `id` (case-exact, never null).
fn id_op(col: Expr, op: CompareOp, v: &CompValue) -> Option<Expr> {
    let s = non_empty_str(v)?;
    match op {
        CompareOp::Eq => Some(col.eq(s)),
        CompareOp::Ne => Some(col.ne(s)),
        _ => None,
    }
}

/// `meta.created` / `meta.lastModified` on an epoch-ms column.
fn time_op(col: Expr, op: CompareOp, v: &CompValue) -> Option<Expr> {
    let ms = millis_lit(v)?;
    Some(match op {
        CompareOp::Eq => col.eq(ms),
        CompareOp::Ne => col.ne(ms),
        CompareOp::Gt => col.gt(ms),
        CompareOp::Ge => col.gte(ms),
        CompareOp::Lt => col.lt(ms),
        CompareOp::Le => col.lte(ms),
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Users

struct Users;

impl Target for Users {
    fn urn(&self) -> &'static str {
        USER_URN
    }

    fn atom(&self, a: Attr, op: CompareOp, v: &CompValue) -> Option<Expr> {
        match a {
            Attr::Id => id_op(u::Column::Id.into_expr(), op, v),
            Attr::UserName => {
                let s = non_empty_str(v)?.to_lowercase();
                string_op(u::Column::UserNameLower.into_expr(), op, &s)
            }
            Attr::DisplayName => {
                let col = u::Column::DisplayName.into_expr();
                if matches!(v, CompValue::Null) {
                    return null_op(col, op);
                }
                // SQLite's LOWER() folds ASCII only: push down ASCII literals only.
                let s = non_empty_str(v).filter(|s| s.is_ascii())?.to_lowercase();
                nullable_string_op(col.clone(), op, &s, Expr::expr(Func::lower(col)))
            }
            Attr::ExternalId => external_id_op(u::Column::ExternalId.into_expr(), op, v),
            Attr::Active => {
                let b = bool_lit(v)?;
                let col = u::Column::Active.into_expr();
                match op {
                    CompareOp::Eq => Some(col.eq(b)),
                    CompareOp::Ne => Some(col.ne(b)),
                    _ => None,
                }
            }
            Attr::Created => time_op(u::Column::CreatedAt.into_expr(), op, v),
            Attr::LastModified => time_op(u::Column::UpdatedAt.into_expr(), op, v),
            Attr::MembersValue => None,
        }
    }

    fn present(&self, a: Attr) -> Option<Expr> {
        match a {
            Attr::ExternalId => Some(present(u::Column::ExternalId.into_expr())),
            Attr::DisplayName => Some(present(u::Column::DisplayName.into_expr())),
            _ => None,
        }
    }

    fn value_path(&self, _: &AttrPath, _: &Filter) -> Option<Expr> {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Groups

struct Groups;

/// `EXISTS (member row of this group with member_id = v)`: uses the (group_id, member_id)
/// primary key per candidate group.
fn has_member(member_id: &str) -> Expr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(group_members::Entity)
            .and_where(
                Expr::col((group_members::Entity, group_members::Column::GroupId))
                    .equals((g::Entity, g::Column::Id)),
            )
            .and_where(group_members::Column::MemberId.eq(member_id))
            .to_owned(),
    )
}

impl Target for Groups {
    fn urn(&self) -> &'static str {
        GROUP_URN
    }

    fn atom(&self, a: Attr, op: CompareOp, v: &CompValue) -> Option<Expr> {
        match a {
            Attr::Id => id_op(g::Column::Id.into_expr(), op, v),
            Attr::DisplayName => {
                let s = non_empty_str(v)?.to_lowercase();
                string_op(g::Column::DisplayNameLower.into_expr(), op, &s)
            }
            Attr::ExternalId => external_id_op(g::Column::ExternalId.into_expr(), op, v),
            Attr::Created => time_op(g::Column::CreatedAt.into_expr(), op, v),
            Attr::LastModified => time_op(g::Column::UpdatedAt.into_expr(), op, v),
            Attr::MembersValue if op == CompareOp::Eq => Some(has_member(non_empty_str(v)?)),
            Attr::MembersValue | Attr::UserName | Attr::Active => None,
        }
    }

    fn present(&self, a: Attr) -> Option<Expr> {
        match a {
            Attr::ExternalId => Some(present(g::Column::ExternalId.into_expr())),
            _ => None,
        }
    }

    /// `members[value eq "id"]`.
    fn value_path(&self, path: &AttrPath, inner: &Filter) -> Option<Expr> {
        if !path.is("members") {
            return None;
        }
        match inner {
            Filter::Compare(p, CompareOp::Eq, v) if p.is("value") && p.urn.is_none() => {
                Some(has_member(non_empty_str(v)?))
            }
            _ => None,
        }
    }
}
