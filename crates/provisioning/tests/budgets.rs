//! Budgets under the worker's injected clock, against the real connectors and the fakes, on
//! SQLite and PostgreSQL: 300 users into Pipedrive with a small daily token budget never
//! spend more than it in a day and resume the next day; 150 users into Brevo land under the
//! hourly limit Brevo reports (not the one configured), with no 429 and no failed job.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use connector_api::{Capabilities, Connector, Throttle};
use provisioning::engine::{Clock, ConnectorRegistry, Worker, WorkerConfig};
use provisioning::throttle::{Budget, Window};
use provisioning::{Directory, IntegrationScope};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::testing::test_stores;
use store::{Integration, IntegrationPolicies, IntegrationStatus, NewIntegration, Store};
use target_http::Policy;
use testkit::FakeClock;
use testkit::fake_brevo::{BrevoConfig, FakeBrevo, HOUR_MS};
use testkit::fake_pipedrive::{DAY_MS, FakePipedrive, PipedriveConfig};

struct Shared(FakeClock);

impl Clock for Shared {
    fn now_ms(&self) -> i64 {
        self.0.now_ms()
    }
}

/// Builds the connector under test with the limiter the worker hands it.
struct Registry {
    kind: &'static str,
    base: String,
    key: String,
    budget: Budget,
}

impl ConnectorRegistry for Registry {
    fn connect(
        &self,
        _: &Integration,
        _: &BTreeMap<String, String>,
        throttle: Arc<dyn Throttle>,
    ) -> Result<Arc<dyn Connector>, String> {
        Ok(if self.kind == connector_pipedrive::KIND {
            Arc::new(
                connector_pipedrive::Pipedrive::new(
                    &self.base,
                    &self.key,
                    None,
                    Policy::ALLOW_PRIVATE,
                )?
                .with_throttle(throttle),
            )
        } else {
            Arc::new(
                connector_brevo::Brevo::new(&self.base, &self.key, r#"{"Marketer":[{"feature":"email_campaigns","permissions":["create_edit_delete"]}]}"#, Policy::ALLOW_PRIVATE)?
                    .with_throttle(throttle),
            )
        })
    }
    fn rate_limit(&self, _: &Integration) -> (String, Duration) {
        (format!("{}:test", self.kind), Duration::from_millis(10))
    }
    fn budget(&self, _: &Integration) -> Option<Budget> {
        Some(self.budget)
    }
    fn capabilities(&self, kind: &str) -> Option<Capabilities> {
        match kind {
            connector_pipedrive::KIND => Some(connector_pipedrive::DESCRIPTOR.capabilities),
            connector_brevo::KIND => Some(connector_brevo::DESCRIPTOR.capabilities),
            _ => None,
        }
    }
}

async fn integration(store: &Store, kind: &str, role: &str) -> (IntegrationScope, String) {
    let tenant = store.create_tenant("Acme").await.unwrap();
    let i = store
        .create_integration(NewIntegration {
            tenant_id: tenant.id.clone(),
            name: kind.into(),
            connector_kind: kind.into(),
            settings: serde_json::Map::new(),
            secrets: BTreeMap::new(),
            default_role: Some(role.into()),
            deprovision_policy: "delete".into(),
            policies: IntegrationPolicies::default(),
            extension_schemas: Vec::new(),
            mode: store::IntegrationMode::Live,
            status: IntegrationStatus::Active,
        })
        .await
        .unwrap();
    (
        IntegrationScope::new(tenant.id, i.id.clone(), "http://scim".into()),
        i.id,
    )
}

/// Waits until `count` stops changing for a while (the window's budget is spent or all is
/// done); returns it.
async fn settle(count: impl Fn() -> usize, target: usize) -> usize {
    let mut last = count();
    let mut since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = count();
        if now >= target {
            return now;
        }
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() > Duration::from_millis(1_500) {
            return now;
        }
        assert!(Instant::now() < deadline, "no end in sight at {now}");
    }
}

fn worker(store: &Store, registry: Registry, clock: &FakeClock) -> Arc<Worker> {
    Worker::new(
        store.clone(),
        Arc::new(registry),
        WorkerConfig {
            poll: Duration::from_millis(20),
            concurrency: 4,
            guard_settle: Duration::ZERO,
            clock: Arc::new(Shared(clock.clone())),
            seed: Some(3),
            ..WorkerConfig::default()
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipedrive_300_users_never_exceed_the_daily_budget_and_resume_the_next_day() {
    const BUDGET: u64 = 1_500;
    const USERS: usize = 300;
    for db in test_stores().await {
        let clock = FakeClock::default();
        // Start early in a UTC day, so a "day" of the test is one advance of the clock.
        clock.advance(Duration::from_millis(
            (DAY_MS - clock.now_ms().rem_euclid(DAY_MS)) as u64 + 60_000,
        ));
        let fake = FakePipedrive::start(PipedriveConfig {
            daily_budget: BUDGET,
            burst_limit: 0,
            clock: clock.clone(),
            ..PipedriveConfig::default()
        })
        .await;
        let store = db.store.clone();
        let (scope, iid) = integration(&store, connector_pipedrive::KIND, "Sales").await;
        let registry = Registry {
            kind: connector_pipedrive::KIND,
            base: fake.base_url(),
            key: fake.token(),
            budget: Budget {
                limit: BUDGET,
                window: Window::UtcDay,
            },
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(worker(&store, registry, &clock).run(stopped));
        let dir = Directory::new(store.clone());
        for n in 0..USERS {
            let email = format!("user{n}@x.com");
            dir.create_user(
                &scope,
                &json!({"userName": email, "emails": [{"value": email, "primary": true}]}),
                "c",
            )
            .await
            .unwrap();
        }
        let mut days = 0;
        let with_role = || fake.users().iter().filter(|u| u.roles == ["Sales"]).count();
        loop {
            let done = settle(with_role, USERS).await;
            days += 1;
            assert!(
                fake.spent_today() <= BUDGET,
                "{}: day {days} spent {}",
                db.label,
                fake.spent_today()
            );
            if done >= USERS {
                break;
            }
            assert!(days < 10, "{}: only {done} after {days} days", db.label);
            clock.advance(Duration::from_millis(DAY_MS as u64));
        }
        stop.send(true).unwrap();
        running.await.unwrap();
        // 300 × (POST /users 10 + a role assignment 10) = 6,000 tokens: four full days or more.
        assert!(days >= 4, "{}: {days} days", db.label);
        assert!(fake.max_spent_in_a_day() <= BUDGET, "{}", db.label);
        assert_eq!(
            fake.throttled(),
            0,
            "{}: the limiter kept every call within budget",
            db.label
        );
        assert!(
            store.list_failed_jobs(&iid).await.unwrap().is_empty(),
            "{}",
            db.label
        );
        assert!(
            store.open_jobs(&iid).await.unwrap().is_empty(),
            "{}",
            db.label
        );
        fake.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brevo_150_invitations_follow_the_reported_hourly_limit() {
    const REPORTED: u32 = 60;
    const USERS: usize = 150;
    for db in test_stores().await {
        let clock = FakeClock::default();
        clock.advance(Duration::from_millis(
            (HOUR_MS - clock.now_ms().rem_euclid(HOUR_MS)) as u64 + 1_000,
        ));
        let fake = FakeBrevo::start(BrevoConfig {
            hourly_limit: REPORTED,
            clock: clock.clone(),
            ..BrevoConfig::default()
        })
        .await;
        let store = db.store.clone();
        let (scope, iid) = integration(&store, connector_brevo::KIND, "Marketer").await;
        // Configured at 100/hour; Brevo says 60: what Brevo says governs.
        let registry = Registry {
            kind: connector_brevo::KIND,
            base: fake.base_url(),
            key: fake.api_key(),
            budget: Budget {
                limit: 100,
                window: Window::Rolling(Duration::from_secs(3600)),
            },
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let running = tokio::spawn(worker(&store, registry, &clock).run(stopped));
        let dir = Directory::new(store.clone());
        for n in 0..USERS {
            let email = format!("m{n}@x.com");
            dir.create_user(
                &scope,
                &json!({"userName": email, "emails": [{"value": email, "primary": true}]}),
                "c",
            )
            .await
            .unwrap();
        }
        let invited = || fake.users().len() - 1;
        let mut hours = 0;
        loop {
            let done = settle(invited, USERS).await;
            hours += 1;
            if done >= USERS {
                break;
            }
            assert!(hours < 6, "{}: only {done} after {hours} hours", db.label);
            clock.advance(Duration::from_millis(HOUR_MS as u64));
        }
        stop.send(true).unwrap();
        running.await.unwrap();
        assert_eq!(hours, 3, "{}: 60 + 60 + 30", db.label);
        assert_eq!(
            fake.max_admitted_in_an_hour(),
            REPORTED as usize,
            "{}",
            db.label
        );
        assert_eq!(fake.throttled(), 0, "{}: no 429", db.label);
        assert!(
            fake.users()
                .iter()
                .all(|u| u.is_owner || u.status == "pending")
        );
        assert!(
            store.list_failed_jobs(&iid).await.unwrap().is_empty(),
            "{}",
            db.label
        );
        assert!(
            store.open_jobs(&iid).await.unwrap().is_empty(),
            "{}",
            db.label
        );
        fake.stop().await;
    }
}

/// A reconciliation import of a Brevo account bigger than the hour's budget stops at it
/// (no 429, no error), keeps its cursor, and continues after the reset without reading again
/// what it had: every account's permissions are read once, however many hours it takes.
#[tokio::test]
async fn brevo_import_spreads_over_hours_and_reads_each_account_once() {
    use provisioning::reconcile::{ImportConfig, ImportOutcome, ReconcileError, Reconciler};
    const LIMIT: u32 = 10;
    const ACCOUNTS: usize = 24;
    for db in test_stores().await {
        let clock = FakeClock::default();
        clock.advance(Duration::from_millis(
            (HOUR_MS - clock.now_ms().rem_euclid(HOUR_MS)) as u64 + 1_000,
        ));
        let fake = FakeBrevo::start(BrevoConfig {
            hourly_limit: LIMIT,
            clock: clock.clone(),
            ..BrevoConfig::default()
        })
        .await;
        for n in 0..ACCOUNTS {
            fake.add_user(&format!("hand{n:02}@x.com"), &[]);
        }
        let store = db.store.clone();
        let (_, iid) = integration(&store, connector_brevo::KIND, "Marketer").await;
        let i = store.get_integration_unscoped(&iid).await.unwrap().unwrap();
        let rec = Reconciler {
            store: store.clone(),
            registry: Arc::new(Registry {
                kind: connector_brevo::KIND,
                base: fake.base_url(),
                key: fake.api_key(),
                budget: Budget {
                    limit: u64::from(LIMIT),
                    window: Window::Rolling(Duration::from_secs(3600)),
                },
            }),
            clock: Arc::new(Shared(clock.clone())),
        };
        let config = ImportConfig {
            owner: "test".into(),
            ..ImportConfig::default()
        };
        let mut hours = 0;
        let imported = loop {
            hours += 1;
            assert!(hours <= 6, "{}: not done after {hours} hours", db.label);
            match rec.import_now(&i, &config, 1.0).await {
                Ok(ImportOutcome::Finished { imported, .. }) => break imported,
                Err(ReconcileError::Connector(connector_api::ConnectorError::RateLimited {
                    retry_after: Some(_),
                    ..
                })) => {
                    // Stopped at the budget: no error recorded, the cursor kept.
                    let run = store.recon_run(&iid).await.unwrap().unwrap();
                    assert_eq!(run.state, store::RunState::Running, "{}", db.label);
                    assert!(run.error.is_none(), "{}: {:?}", db.label, run.error);
                    clock.advance(Duration::from_millis(HOUR_MS as u64));
                }
                other => panic!("{}: {other:?}", db.label),
            }
        };
        assert_eq!(imported, ACCOUNTS as u64 + 1, "{}: and the owner", db.label);
        assert!(hours >= 3, "{}: 25 reads need 3 hours of 10", db.label);
        assert_eq!(fake.throttled(), 0, "{}: no 429", db.label);
        assert!(fake.max_admitted_in_an_hour() <= LIMIT as usize);
        let requests = fake.requests();
        for n in 0..ACCOUNTS {
            let path = format!("/organization/user/hand{n:02}@x.com/permissions");
            assert_eq!(
                requests
                    .iter()
                    .filter(|(_, p, _)| p.ends_with(&path))
                    .count(),
                1,
                "{}: {path} read once: {requests:?}",
                db.label
            );
        }
        let accounts = store.recon_accounts(&iid).await.unwrap();
        assert_eq!(accounts.len(), ACCOUNTS + 1, "{}", db.label);
        assert!(accounts.iter().all(|a| a.roles_known), "{}", db.label);
        fake.stop().await;
    }
}
