//! The plain-text form of a reconciliation report (`scimbridge reconcile` without `--json`).

use provisioning::reconcile::{Analysis, Applied};
use std::fmt::Write;

/// The report in lines an admin reads in a terminal.
pub fn render(name: &str, imported: u64, a: &Analysis, applied: Option<&Applied>) -> String {
    let mut out = String::new();
    let s = &a.seats;
    let _ = writeln!(out, "{name}: {imported} accounts imported from the target");
    let _ = writeln!(
        out,
        "seats: {} active, {} deprovisioned, {} orphaned, {} could be reclaimed",
        s.active, s.deprovisioned, s.orphaned, s.reclaimable
    );
    if let Some(k) = &a.key_owner {
        let _ = writeln!(
            out,
            "key owner: {} ({}), never touched",
            k.email, k.target_id
        );
    }
    let _ = writeln!(out, "orphaned ({}):", a.orphaned.len());
    for o in &a.orphaned {
        let _ = writeln!(
            out,
            "  {} ({}), last login {}",
            o.email,
            o.target_id,
            o.last_login.as_deref().unwrap_or("unknown")
        );
    }
    let _ = writeln!(out, "drift ({}):", a.drift.len());
    for d in &a.drift {
        let _ = writeln!(
            out,
            "  {}: {} is \"{}\" in the target, should be \"{}\"",
            d.user_name, d.field, d.theirs, d.ours
        );
    }
    let _ = writeln!(out, "missing ({}):", a.missing.len());
    for m in &a.missing {
        let _ = writeln!(out, "  {}", m.user_name);
    }
    let p = &a.summary;
    let _ = write!(
        out,
        "plan: create {}, adopt {} existing accounts, change role of {}, deprovision {}, leave {} orphans",
        p.create, p.adopt, p.change_role, p.deprovision, p.orphans
    );
    if let Some(ap) = applied {
        let _ = write!(
            out,
            "\napplied: adopted {} accounts, queued {} users for the worker",
            ap.adopted, ap.queued
        );
    }
    out
}
