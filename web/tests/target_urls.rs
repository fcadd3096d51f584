//! Target URLs checked where the connection is made (issue 33), against the real binary with
//! `SCIMBRIDGE_ALLOW_PRIVATE_TARGETS=false`: the literal private forms are refused by the CLI
//! and the wizard, and "test connection" to a name that resolves to loopback fails at connect
//! time with the reason, although its text looks public.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::ui::{PASSWORD, Ui, admin};
use common::{Backend, ServeOptions, TestServer};
use std::net::ToSocketAddrs;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const MASTER_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// A host name the system resolver maps only to forbidden addresses and that the URL text
/// check accepts (the machine's own name usually is one: /etc/hosts maps it to 127.0.x.1 or
/// a private address). There is no DNS to the internet here, so no `127.0.0.1.nip.io`.
fn name_resolving_inside() -> Option<String> {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    [hostname.trim(), "ip6-localhost", "ip6-loopback"]
        .into_iter()
        .filter(|n| !n.is_empty())
        .find(|n| {
            let url = format!("https://{n}/api/3");
            let addrs: Vec<_> = (*n, 443)
                .to_socket_addrs()
                .map(|a| a.map(|s| s.ip()).collect())
                .unwrap_or_default();
            target_http::check_url(&url, target_http::Policy::STRICT).is_ok()
                && !addrs.is_empty()
                && addrs
                    .iter()
                    .all(|ip| target_http::forbidden_reason(*ip).is_some())
        })
        .map(str::to_string)
}

async fn strict_server(backend: Backend) -> Option<TestServer> {
    TestServer::start_with(
        backend,
        ServeOptions::env(&[("SCIMBRIDGE_ALLOW_PRIVATE_TARGETS", "false")]),
    )
    .await
}

/// `scimbridge integration create` with private targets not allowed.
fn strict_cli(s: &TestServer, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_scimbridge"))
        .args(args)
        .env("SCIMBRIDGE_DATABASE_URL", &s.db_url)
        .env("SCIMBRIDGE_MASTER_KEY", MASTER_KEY)
        .env("SCIMBRIDGE_PUBLIC_URL", &s.base)
        .env("SCIMBRIDGE_ALLOW_PRIVATE_TARGETS", "false")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

async fn private_targets_are_refused(s: TestServer) {
    let tenant = s.cli(&["tenant", "create", "--name", "Acme"]);
    let tid = tenant["id"].as_str().unwrap().to_string();
    // The CLI: each literal form is refused, a public name is accepted.
    for url in [
        "https://[::ffff:127.0.0.1]/api/3",
        "https://[::ffff:a9fe:a9fe]/api/3",
        "https://[64:ff9b::a9fe:a9fe]/api/3",
        "https://0.0.0.0/api/3",
        "https://[::]/api/3",
        "https://[fe80::1]/api/3",
        "https://[fd12::1]/api/3",
        "https://100.64.0.7/api/3",
    ] {
        let setting = format!("base_url={url}");
        let out = strict_cli(
            &s,
            &[
                "integration",
                "create",
                "--tenant",
                &tid,
                "--name",
                "Bad",
                "--connector",
                "activecampaign",
                "--setting",
                &setting,
                "--secret",
                "api_key=k",
            ],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{url} was accepted");
        assert!(err.contains("not allowed"), "{url}: {err}");
    }
    let out = strict_cli(
        &s,
        &[
            "integration",
            "create",
            "--tenant",
            &tid,
            "--name",
            "Good",
            "--connector",
            "activecampaign",
            "--setting",
            "base_url=https://acme.api-us1.com/api/3",
            "--secret",
            "api_key=k",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The wizard: the IPv4-mapped metadata address is refused by "test connection" and save.
    admin(&s, "root@example.com", "platform-admin", None);
    let ui = Ui::new(&s.base);
    assert_eq!(ui.sign_in("root@example.com", PASSWORD).await.status, 303);
    let new = format!("/t/{tid}/integrations/new/activecampaign");
    let test = format!("/t/{tid}/connectors/activecampaign/test");
    let fields = |url: &'static str| [("name", "Acme AC"), ("base_url", url), ("api_key", "k")];
    let tested = ui
        .post(&new, &test, &fields("https://[::ffff:a9fe:a9fe]/api/3"))
        .await;
    assert_eq!(tested.status, 200, "{}", tested.body);
    assert!(tested.body.contains("not allowed"), "{}", tested.body);
    assert!(!tested.body.contains("Connected"), "{}", tested.body);
    let saved = ui
        .post(&new, &new, &fields("https://[::ffff:127.0.0.1]/api/3"))
        .await;
    assert_ne!(saved.status, 303, "saved: {}", saved.body);
    assert!(saved.body.contains("not allowed"), "{}", saved.body);

    // Connect time: a name whose text passes but which resolves inside.
    let Some(name) = name_resolving_inside() else {
        eprintln!(
            "SKIPPED the resolver end-to-end part: no host name here resolves only to private addresses"
        );
        return;
    };
    // A listener on loopback that counts connections: nothing may reach it.
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let reached = Arc::new(AtomicUsize::new(0));
    let counter = reached.clone();
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let url: &'static str = Box::leak(format!("https://{name}:{port}/api/3").into_boxed_str());
    let tested = ui.post(&new, &test, &fields(url)).await;
    assert_eq!(tested.status, 200, "{}", tested.body);
    assert!(
        tested
            .body
            .contains("resolves only to addresses that are not allowed"),
        "{url}: {}",
        tested.body
    );
    assert!(tested.body.contains(&name), "{}", tested.body);
    assert_eq!(reached.load(Ordering::SeqCst), 0, "{url} was connected to");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_targets_are_refused_sqlite() {
    private_targets_are_refused(strict_server(Backend::Sqlite).await.unwrap()).await;
}
