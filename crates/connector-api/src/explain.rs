//! A target's error in one sentence for people ("ActiveCampaign rejected the API key (HTTP
//! 403)"), with the full text kept as the details. Pure; every page that shows a target error
//! (log rows, trace, user page, Test connection, failed jobs) calls [`explain`] or
//! [`explain_text`], so the wording is decided here once.
//!
//! A recorded error is the `Display` of a [`ConnectorError`] (defined beside it in this crate),
//! possibly behind the worker's "gave up after N attempts: ", or one of the worker's own
//! reasons (an unknown role, a paused integration, the database); the text is read back by
//! those known prefixes, and anything else is shown as it is.

use crate::ConnectorError;

/// What the sentence calls the target and its credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetNames<'a> {
    /// "ActiveCampaign", "Pipedrive", "Activepieces"…
    pub target: &'a str,
    /// What the secret is called there: "API key", "API token", "token".
    pub credential: &'a str,
}

/// An error in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    /// One sentence, no trailing period.
    pub sentence: String,
    /// The full text as recorded (for a "details" toggle).
    pub details: String,
}

/// The kinds of [`ConnectorError`], by the prefix their `Display` starts with.
const KINDS: &[(&str, Kind)] = &[
    ("the target rejected the credentials: ", Kind::Unauthorized),
    ("not found in the target: ", Kind::NotFound),
    ("conflict in the target: ", Kind::Conflict),
    ("rate-limited by the target: ", Kind::RateLimited),
    ("the target is unavailable: ", Kind::Transient),
    ("the target refused the request: ", Kind::Permanent),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unauthorized,
    NotFound,
    Conflict,
    RateLimited,
    Transient,
    Permanent,
}

/// Longest part of the target's own message the sentence quotes.
const MAX_QUOTE: usize = 160;

/// `e` in one sentence.
pub fn explain(names: TargetNames<'_>, e: &ConnectorError) -> Explained {
    explain_text(names, &e.to_string())
}

/// A recorded error text in one sentence.
pub fn explain_text(names: TargetNames<'_>, recorded: &str) -> Explained {
    let details = recorded.trim().to_owned();
    let (gave_up, text) = gave_up(&details);
    let mut sentence = match KINDS.iter().find(|(p, _)| text.starts_with(p)) {
        Some((prefix, kind)) => connector_sentence(names, *kind, &text[prefix.len()..]),
        None => our_sentence(names, text),
    };
    if let Some(n) = gave_up {
        sentence = format!("{sentence} — gave up after {n} attempts");
    }
    Explained { sentence, details }
}

/// The worker's "gave up after N attempts: " prefix.
fn gave_up(text: &str) -> (Option<&str>, &str) {
    let Some(rest) = text.strip_prefix("gave up after ") else {
        return (None, text);
    };
    match rest.split_once(" attempts: ") {
        Some((n, rest)) if n.chars().all(|c| c.is_ascii_digit()) => (Some(n), rest),
        _ => (None, text),
    }
}

/// The status of a "… (HTTP 422)" or "… (code, HTTP 422)" text, and the text without that
/// parenthesis.
fn http_status(text: &str) -> (Option<u16>, String) {
    if let Some(at) = text.rfind("HTTP ") {
        let after = &text[at + 5..];
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        if let (Ok(status), Some(open)) = (digits.parse::<u16>(), text[..at].rfind('('))
            && after[digits.len()..].starts_with(')')
        {
            let rest = format!("{}{}", &text[..open], &after[digits.len() + 1..]);
            return (Some(status), rest.trim().to_owned());
        }
    }
    (None, text.to_owned())
}

/// The target's own words in "{what}: {message}": the message, cut at the first "; " hint
/// and at [`MAX_QUOTE`] characters.
fn target_words(message: &str) -> String {
    let (_, message) = http_status(message);
    let words = match message.split_once(": ") {
        // "create user a@x: Email is taken" — the call named before the colon.
        Some((what, rest)) if looks_like_a_call(what) => rest.to_owned(),
        _ => message,
    };
    let words = words.trim().trim_end_matches('.').to_owned();
    if words.chars().count() > MAX_QUOTE {
        let cut: String = words.chars().take(MAX_QUOTE).collect();
        format!("{}…", cut.trim_end())
    } else {
        words
    }
}

/// Connectors name the call before the message: "create user a@x", "update user 12",
/// "list roles", "test connection".
fn looks_like_a_call(what: &str) -> bool {
    let first = what.split_whitespace().next().unwrap_or_default();
    what.len() <= 120
        && matches!(
            first,
            "create"
                | "update"
                | "delete"
                | "deactivate"
                | "reactivate"
                | "get"
                | "find"
                | "list"
                | "read"
                | "add"
                | "remove"
                | "set"
                | "invite"
                | "revoke"
                | "cancel"
                | "test"
                | "assign"
                | "unassign"
                | "rotate"
                | "change"
                | "lookup"
                | "search"
                | "patch"
                | "put"
                | "post"
        )
}

fn with_status(sentence: String, status: Option<u16>) -> String {
    match status {
        Some(s) => format!("{sentence} (HTTP {s})"),
        None => sentence,
    }
}

fn connector_sentence(names: TargetNames<'_>, kind: Kind, message: &str) -> String {
    let t = names.target;
    let (status, _) = http_status(message);
    let lower = message.to_ascii_lowercase();
    // The target's words only: the call's name may say "permission" too ("list permission
    // groups"), and a rejected key there is no missing permission.
    let words = target_words(message).to_ascii_lowercase();
    match kind {
        Kind::Unauthorized if words.contains("lacks") || words.contains("permission") => {
            with_status(
                format!(
                    "{t} refused: the {}'s user lacks the permission for this",
                    names.credential
                ),
                status,
            )
        }
        Kind::Unauthorized => with_status(format!("{t} rejected the {}", names.credential), status),
        Kind::NotFound => with_status(
            format!("{t} does not have it: {}", target_words(message)),
            status,
        ),
        Kind::Conflict => with_status(
            format!(
                "{t} already has a conflicting record: {}",
                target_words(message)
            ),
            status,
        ),
        Kind::RateLimited => with_status(
            format!("{t} is limiting our requests; we try again later"),
            status,
        ),
        Kind::Transient if lower.contains("timed out") => {
            format!("{t} did not answer in time; we try again later")
        }
        Kind::Transient if lower.contains("could not connect") => {
            format!("Could not connect to {t}; we try again later")
        }
        Kind::Transient => with_status(format!("{t} is unavailable; we try again later"), status),
        Kind::Permanent if lower.contains("not allowed for targets") => format!(
            "{t}'s address is one scimbridge may not call: {}",
            target_words(message)
        ),
        Kind::Permanent => with_status(
            format!("{t} refused the request: {}", target_words(message)),
            status,
        ),
    }
}

/// The worker's own reasons, which name no connector error kind.
fn our_sentence(names: TargetNames<'_>, text: &str) -> String {
    let t = names.target;
    if let Some(rest) = text.strip_prefix("the role '")
        && let Some((role, _)) = rest.split_once("' does not exist")
    {
        return format!("The role '{role}' does not exist in {t}");
    }
    if let Some(status) = text.strip_prefix("integration is ") {
        return format!("The integration is {status}; nothing is sent to {t}");
    }
    if text.starts_with("database: ") {
        return "Our database did not answer; we try again".into();
    }
    // Anything else as it is, as a sentence.
    let words = target_words(text);
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "Unknown error".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const AC: TargetNames<'static> = TargetNames {
        target: "ActiveCampaign",
        credential: "API key",
    };
    const PD: TargetNames<'static> = TargetNames {
        target: "Pipedrive",
        credential: "API token",
    };
    const BREVO: TargetNames<'static> = TargetNames {
        target: "Brevo",
        credential: "API key",
    };
    const AP: TargetNames<'static> = TargetNames {
        target: "Activepieces",
        credential: "token",
    };
    const AT: TargetNames<'static> = TargetNames {
        target: "ActivTrak",
        credential: "token",
    };

    fn say(names: TargetNames<'_>, e: ConnectorError) -> String {
        explain(names, &e).sentence
    }

    #[test]
    fn rejected_credentials_name_the_target_and_its_credential() {
        // As each connector words it (crates/connector-*/src/errors.rs).
        let ac = ConnectorError::Unauthorized(
            "create user ada@acme.test: ActiveCampaign rejected the API key (HTTP 403); it may have been reset — enter the current key from Settings → Developer".into(),
        );
        assert_eq!(
            say(AC, ac.clone()),
            "ActiveCampaign rejected the API key (HTTP 403)"
        );
        assert!(explain(AC, &ac).details.contains("Settings → Developer"));
        // A call named after ActiveCampaign's "permission groups" is no missing permission.
        assert_eq!(
            say(AC, ConnectorError::Unauthorized("list permission groups: ActiveCampaign rejected the API key (HTTP 403); it may have been reset — enter the current key from Settings → Developer".into())),
            "ActiveCampaign rejected the API key (HTTP 403)"
        );
        assert_eq!(
            say(PD, ConnectorError::Unauthorized("list roles: Pipedrive rejected the API token (HTTP 401); enter the current token from Personal preferences → API".into())),
            "Pipedrive rejected the API token (HTTP 401)"
        );
        assert_eq!(
            say(PD, ConnectorError::Unauthorized("create user a@x: the API token's user lacks admin rights: You do not have permissions (HTTP 403)".into())),
            "Pipedrive refused: the API token's user lacks the permission for this (HTTP 403)"
        );
        assert_eq!(
            say(
                BREVO,
                ConnectorError::Unauthorized(
                    "test connection: Brevo rejected the API key: Key not found (HTTP 401)".into()
                )
            ),
            "Brevo rejected the API key (HTTP 401)"
        );
        assert_eq!(
            say(AP, ConnectorError::Unauthorized("list users: Unauthorized (HTTP 401); check the token (and the auth header setting)".into())),
            "Activepieces rejected the token (HTTP 401)"
        );
        assert_eq!(
            say(AT, ConnectorError::Unauthorized("test connection: Forbidden (HTTP 403); check the token (and the auth header setting)".into())),
            "ActivTrak rejected the token (HTTP 403)"
        );
    }

    #[test]
    fn every_kind_reads_as_one_sentence_with_the_targets_words() {
        assert_eq!(
            say(
                AC,
                ConnectorError::NotFound(
                    "update user 13: No Result found for User with id 13 (HTTP 404)".into()
                )
            ),
            "ActiveCampaign does not have it: No Result found for User with id 13 (HTTP 404)"
        );
        assert_eq!(
            say(
                BREVO,
                ConnectorError::Conflict(
                    "invite a@x: User already exists (duplicate_parameter, HTTP 400)".into()
                )
            ),
            "Brevo already has a conflicting record: User already exists (HTTP 400)"
        );
        assert_eq!(
            say(
                PD,
                ConnectorError::RateLimited {
                    retry_after: Some(Duration::from_secs(2)),
                    message: "list users: Too many requests (HTTP 429)".into()
                }
            ),
            "Pipedrive is limiting our requests; we try again later (HTTP 429)"
        );
        assert_eq!(
            say(
                AC,
                ConnectorError::Transient("create user a@x: timed out to ActiveCampaign".into())
            ),
            "ActiveCampaign did not answer in time; we try again later"
        );
        assert_eq!(
            say(
                AT,
                ConnectorError::Transient(
                    "list users: could not connect to the SCIM target".into()
                )
            ),
            "Could not connect to ActivTrak; we try again later"
        );
        assert_eq!(
            say(
                AP,
                ConnectorError::Transient("create user a@x: Bad gateway (HTTP 502)".into())
            ),
            "Activepieces is unavailable; we try again later (HTTP 502)"
        );
        assert_eq!(
            say(AC, ConnectorError::Permanent("create user a@x: Unprocessable — The group was not provided [group] (HTTP 422)".into())),
            "ActiveCampaign refused the request: Unprocessable — The group was not provided [group] (HTTP 422)"
        );
        assert_eq!(
            say(AT, ConnectorError::Permanent("test connection: intranet.example resolves only to addresses that are not allowed for targets (10.0.0.1: private)".into())),
            "ActivTrak's address is one scimbridge may not call: intranet.example resolves only to addresses that are not allowed for targets (10.0.0.1: private)"
        );
    }

    #[test]
    fn recorded_texts_read_back_including_the_workers_own_reasons() {
        let gave_up = "gave up after 10 attempts: the target is unavailable: create user a@x: could not connect to Pipedrive";
        let e = explain_text(PD, gave_up);
        assert_eq!(
            e.sentence,
            "Could not connect to Pipedrive; we try again later — gave up after 10 attempts"
        );
        assert_eq!(e.details, gave_up);
        assert_eq!(
            explain_text(
                AC,
                "the role 'Sales' does not exist in the target; it has: Admin, User"
            )
            .sentence,
            "The role 'Sales' does not exist in ActiveCampaign"
        );
        assert_eq!(
            explain_text(BREVO, "integration is paused").sentence,
            "The integration is paused; nothing is sent to Brevo"
        );
        assert_eq!(
            explain_text(AC, "database: connection refused").sentence,
            "Our database did not answer; we try again"
        );
        assert_eq!(explain_text(AC, "something odd").sentence, "Something odd");
        // A long message of the target is cut, the details keep it whole.
        let long = format!(
            "the target refused the request: update user 1: {} (HTTP 400)",
            "x".repeat(400)
        );
        let e = explain_text(AC, &long);
        assert!(
            e.sentence.chars().count() < 230 && e.sentence.contains('…'),
            "{}",
            e.sentence
        );
        assert_eq!(e.details, long);
    }
}
