//! The binary as an operator meets it: quiet CLI commands, private database files, and the
//! `health` command a container health check runs.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::{Backend, TestServer};
use std::process::Command;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// A successful command prints its JSON and nothing on stderr (the migration INFO lines were
/// there on every command); `-v` brings the info lines back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_commands_are_quiet_unless_asked() {
    let s = TestServer::start(Backend::Sqlite).await.unwrap();
    let out = s.cli_output(&["tenant", "create", "--name", "Quiet"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "stderr of a successful command");
    let tenant: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(tenant["name"], "Quiet");

    // A fresh database: the migrations run, and are still not reported.
    let dir = tempfile::tempdir().unwrap();
    let fresh = Command::new(env!("CARGO_BIN_EXE_scimbridge"))
        .args(["migrate"])
        .env_remove("RUST_LOG")
        .env(
            "SCIMBRIDGE_DATABASE_URL",
            format!("sqlite://{}/new.db", dir.path().display()),
        )
        .output()
        .unwrap();
    assert!(fresh.status.success(), "{}", stderr(&fresh));
    assert_eq!(stderr(&fresh), "");

    let verbose = s.cli_output(&["-v", "tenant", "create", "--name", "Loud"], None);
    assert!(verbose.status.success(), "{}", stderr(&verbose));
    assert!(stderr(&verbose).contains("INFO"), "{}", stderr(&verbose));

    // Something wrong still says so, on stderr.
    let bad = s.cli_output(&["token", "issue", "--integration", "nope"], None);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("no integration nope"),
        "{}",
        stderr(&bad)
    );
}

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The data folder is created 0700; the database, its -wal and -shm files and the master key
/// are 0600, also when an older version left them world-readable.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    // The running server: every file of its database.
    let s = TestServer::start(Backend::Sqlite).await.unwrap();
    s.cli(&["tenant", "create", "--name", "Modes"]);
    let db = s.data_dir().join("scimbridge.db");
    for f in ["scimbridge.db", "scimbridge.db-wal", "scimbridge.db-shm"] {
        assert_eq!(mode(&s.data_dir().join(f)), 0o600, "{f}");
    }

    // A first start in a folder that does not exist yet, with a generated master key.
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("var/scimbridge");
    let migrate = || {
        let out = Command::new(env!("CARGO_BIN_EXE_scimbridge"))
            .args(["migrate"])
            .env_remove("SCIMBRIDGE_MASTER_KEY")
            .env(
                "SCIMBRIDGE_DATABASE_URL",
                format!("sqlite://{}/scimbridge.db", data.display()),
            )
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    };
    migrate();
    assert_eq!(mode(&root.path().join("var")), 0o700);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("master.key")), 0o600);
    assert_eq!(mode(&data.join("scimbridge.db")), 0o600);

    // Files left world-readable are narrowed at the next start.
    std::fs::set_permissions(
        data.join("scimbridge.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    // A -wal the last process left holds committed pages: keep its content (overwriting it
    // would corrupt the database), only widen its mode; else an empty one, as SQLite makes.
    if !data.join("scimbridge.db-wal").exists() {
        std::fs::write(data.join("scimbridge.db-wal"), b"").unwrap();
    }
    std::fs::set_permissions(
        data.join("scimbridge.db-wal"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    migrate();
    assert_eq!(mode(&data.join("scimbridge.db")), 0o600);
    // SQLite deletes the -wal when the last connection closes cleanly at exit, which the
    // process may or may not get to do; if the file is still there, it was narrowed.
    let wal = data.join("scimbridge.db-wal");
    match std::fs::metadata(&wal) {
        Ok(_) => assert_eq!(mode(&wal), 0o600),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}"),
    }
    drop(db);
}

/// `scimbridge health` asks /readyz: 0 while the server is ready, 1 with one line why when
/// nothing answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_command_asks_readyz() {
    let s = TestServer::start(Backend::Sqlite).await.unwrap();
    let ok = s.cli_output(&["health", "--url", &s.base], None);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "ok");

    // Without --url: the configured bind address, a wildcard host asked on loopback.
    let port = s.base.rsplit(':').next().unwrap();
    let by_bind = Command::new(env!("CARGO_BIN_EXE_scimbridge"))
        .args(["health"])
        .env("SCIMBRIDGE_BIND", format!("0.0.0.0:{port}"))
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(by_bind.status.success(), "{}", stderr(&by_bind));

    // Nothing listening.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let down = s.cli_output(&["health", "--url", &dead], None);
    assert_eq!(down.status.code(), Some(1));
    let why = stderr(&down);
    assert_eq!(why.trim().lines().count(), 1, "{why}");
    assert!(why.contains("not ready") && why.contains(&dead), "{why}");

    // Something that answers, but not 200: not ready either.
    let wrong = s.cli_output(&["health", "--url", &format!("{}/nope", s.base)], None);
    assert_eq!(wrong.status.code(), Some(1), "{}", stderr(&wrong));
    assert!(stderr(&wrong).contains("404"), "{}", stderr(&wrong));
}
