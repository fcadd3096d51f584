use super::*;

const MIN: i64 = 60_000;

fn facts() -> Facts {
    Facts {
        tenant_id: "t1".into(),
        integration_id: "i1".into(),
        integration_name: "AC".into(),
        active: true,
        ..Facts::default()
    }
}

fn rules() -> Rules {
    Rules::default()
}

fn kinds(m: &[Message]) -> Vec<EventKind> {
    m.iter().map(|m| m.event).collect()
}

fn failures(count: u64, latest_at: i64) -> Failures {
    Failures {
        count,
        latest_at,
        reasons: (0..count).map(|i| format!("reason {i}")).collect(),
    }
}

#[test]
fn failures_are_batched_into_one_message_per_window() {
    let r = rules();
    let mut f = facts();
    f.new_failures = failures(1, 1_000);
    let (s, m) = evaluate(&State::fresh(0), &f, 1_000, &r);
    assert!(m.is_empty(), "the window is open");
    assert_eq!(s.batch_started, Some(1_000));
    // More failures arrive within the window: still nothing.
    f.new_failures = failures(5, 5 * MIN);
    let (s, m) = evaluate(&s, &f, 5 * MIN, &r);
    assert!(m.is_empty());
    // The window closes: one message that counts all five, three reasons.
    let (s, m) = evaluate(&s, &f, 1_000 + 15 * MIN, &r);
    assert_eq!(kinds(&m), [EventKind::JobsFailed]);
    assert!(m[0].title.contains("5 jobs failed"), "{}", m[0].title);
    assert_eq!(m[0].details["count"], 5);
    assert_eq!(m[0].details["reasons"].as_array().map(Vec::len), Some(3));
    assert_eq!(m[0].path, "/t/t1/jobs");
    assert_eq!(s.failures_cursor, 5 * MIN);
    assert_eq!(s.batch_started, None);
    // The store reads failures after the cursor: none now, nothing more is sent.
    f.new_failures = Failures::default();
    let (_, m) = evaluate(&s, &f, 40 * MIN, &r);
    assert!(m.is_empty());
}

#[test]
fn a_condition_sends_once_until_it_clears() {
    let r = rules();
    let mut f = facts();
    f.held_removals = 12;
    let (s, m) = evaluate(&State::default(), &f, 0, &r);
    assert_eq!(kinds(&m), [EventKind::GuardHeld]);
    assert!(m[0].text.contains("12 removals"));
    let (s, m) = evaluate(&s, &f, MIN, &r);
    assert!(m.is_empty(), "still held: no second message");
    f.held_removals = 0;
    let (s, m) = evaluate(&s, &f, 2 * MIN, &r);
    assert!(m.is_empty());
    assert!(s.raised.is_empty());
    f.held_removals = 3;
    let (_, m) = evaluate(&s, &f, 3 * MIN, &r);
    assert_eq!(
        kinds(&m),
        [EventKind::GuardHeld],
        "held again: a new message"
    );
}

#[test]
fn the_idp_is_quiet_after_two_cycles_only_when_active_and_ever_heard() {
    let r = rules();
    let mut f = facts();
    let (_, m) = evaluate(&State::default(), &f, 500 * MIN, &r);
    assert!(m.is_empty(), "never heard from the IdP");
    f.last_idp_request = Some(0);
    let (_, m) = evaluate(&State::default(), &f, 80 * MIN, &r);
    assert!(
        m.is_empty(),
        "exactly 80 minutes is not longer than two cycles"
    );
    let (s, m) = evaluate(&State::default(), &f, 81 * MIN, &r);
    assert_eq!(kinds(&m), [EventKind::IdpQuiet]);
    assert!(m[0].title.contains("81 minutes"));
    let (_, m) = evaluate(&s, &f, 200 * MIN, &r);
    assert!(m.is_empty());
    f.active = false;
    let (_, m) = evaluate(&State::default(), &f, 200 * MIN, &r);
    assert!(m.is_empty(), "paused integrations are not watched");
}

#[test]
fn each_expiring_token_is_announced_once() {
    let r = rules();
    let mut f = facts();
    let day = 24 * 60 * MIN;
    f.expiring_tokens = vec![ExpiringToken {
        id: "k1".into(),
        prefix: "scb_abcdefgh".into(),
        expires_at: 10 * day,
    }];
    let (s, m) = evaluate(&State::default(), &f, 0, &r);
    assert_eq!(kinds(&m), [EventKind::TokenExpiring]);
    assert!(m[0].text.contains("scb_abcdefgh"));
    assert!(m[0].title.contains("10 days"));
    f.expiring_tokens.push(ExpiringToken {
        id: "k2".into(),
        prefix: "scb_2".into(),
        expires_at: 13 * day,
    });
    let (s, m) = evaluate(&s, &f, day, &r);
    assert_eq!(m.len(), 1, "only the new token");
    assert!(m[0].text.contains("scb_2"));
    // A revoked token leaves the list and its key goes.
    f.expiring_tokens.remove(0);
    let (s, _) = evaluate(&s, &f, 2 * day, &r);
    assert_eq!(s.raised.iter().collect::<Vec<_>>(), ["token:k2"]);
}

#[test]
fn the_failure_share_needs_enough_calls() {
    let r = rules();
    let mut f = facts();
    f.calls_last_hour = 9;
    f.failed_calls_last_hour = 9;
    let (_, m) = evaluate(&State::default(), &f, 0, &r);
    assert!(m.is_empty(), "fewer than 10 calls");
    f.calls_last_hour = 10;
    f.failed_calls_last_hour = 1;
    let (_, m) = evaluate(&State::default(), &f, 0, &r);
    assert!(m.is_empty(), "10 % is under 20 %");
    f.failed_calls_last_hour = 2;
    let (_, m) = evaluate(&State::default(), &f, 0, &r);
    assert_eq!(kinds(&m), [EventKind::FailureRate]);
    assert!(m[0].title.contains("20%"));
}

#[test]
fn rejected_credentials_and_auto_pause_are_level_conditions() {
    let r = rules();
    let mut f = facts();
    f.rejected_credentials = 2;
    f.auto_paused = true;
    let (s, m) = evaluate(&State::default(), &f, 0, &r);
    assert_eq!(
        kinds(&m),
        [EventKind::AutoPaused, EventKind::CredentialsRejected]
    );
    assert!(m[1].path.ends_with("/connection"));
    let (_, m) = evaluate(&s, &f, MIN, &r);
    assert!(m.is_empty());
}

#[test]
fn an_auto_pause_says_why_once_and_again_after_a_resume() {
    let r = rules();
    let mut f = facts();
    f.auto_paused = true;
    f.pause_reason = "ActiveCampaign rejected the API key (HTTP 403) on 3 jobs in a row".into();
    let (s, m) = evaluate(&State::default(), &f, 0, &r);
    assert_eq!(kinds(&m), [EventKind::AutoPaused]);
    assert!(
        m[0].text
            .contains("rejected the API key (HTTP 403) on 3 jobs")
    );
    assert!(m[0].text.contains("Resume"));
    assert_eq!(m[0].details["reason"], f.pause_reason.as_str());
    // The Overview, not a tab.
    assert!(
        m[0].path
            .ends_with(&format!("/integrations/{}", f.integration_id))
    );
    let (s, m) = evaluate(&s, &f, MIN, &r);
    assert!(m.is_empty(), "said once");
    // Resumed: the rule clears; a second pause is a new message.
    f.auto_paused = false;
    f.pause_reason.clear();
    let (s, m) = evaluate(&s, &f, 2 * MIN, &r);
    assert!(m.is_empty());
    f.auto_paused = true;
    let (_, m) = evaluate(&s, &f, 3 * MIN, &r);
    assert_eq!(kinds(&m), [EventKind::AutoPaused]);
}

#[test]
fn signatures_verify_and_detect_tampering() {
    let sig = sign("whsec_k", 1_700_000_000, b"{\"a\":1}");
    assert!(sig.starts_with("sha256="));
    assert_eq!(sig.len(), 7 + 64);
    assert!(verify("whsec_k", 1_700_000_000, b"{\"a\":1}", &sig));
    assert!(!verify("whsec_k", 1_700_000_001, b"{\"a\":1}", &sig));
    assert!(!verify("whsec_k", 1_700_000_000, b"{\"a\":2}", &sig));
    assert!(!verify("other", 1_700_000_000, b"{\"a\":1}", &sig));
    assert!(!verify("whsec_k", 1_700_000_000, b"{\"a\":1}", "md5=00"));
}

#[test]
fn known_signature_vector() {
    // Against an independent computation:
    // printf '1.x' | openssl dgst -sha256 -hmac key
    assert_eq!(
        sign("key", 1, b"x"),
        "sha256=fc4913c41a7bf793267e2a384f3261c9436ec2cd097bd745e7b0d99113f510ec"
    );
}

#[test]
fn the_retry_schedule_gives_up_after_its_waits() {
    let r = RetrySchedule::default();
    assert_eq!(r.max_attempts(), 5);
    assert_eq!(r.next_attempt(1, 0), Some(60_000));
    assert_eq!(r.next_attempt(4, 0), Some(7_200_000));
    assert_eq!(r.next_attempt(5, 0), None);
    let t = RetrySchedule::parse("1, 2").unwrap_or_default();
    assert_eq!(t.waits_ms, [1_000, 2_000]);
    assert!(RetrySchedule::parse("1,x").is_err());
    assert_eq!(RetrySchedule::parse("").map(|r| r.max_attempts()), Ok(1));
}

#[test]
fn event_names_round_trip() {
    for k in EventKind::ALL {
        assert_eq!(EventKind::parse(k.as_str()), Some(k));
    }
    assert_eq!(EventKind::parse("nope"), None);
}
