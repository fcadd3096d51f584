//! Test harness: runs the real `scimbridge` binary (CLI and `serve`) on a fresh SQLite file or
//! a fresh PostgreSQL database, and talks to it over real HTTP.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test harness"
)]

pub mod api;
pub mod target;
pub mod ui;

use serde_json::Value;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SCIM: &str = "application/scim+json";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running scimbridge with its own database.
pub struct TestServer {
    child: Child,
    pub base: String,
    pub db_url: String,
    _dir: tempfile::TempDir,
    pg_db: Option<String>,
    master_key: String,
    pub http: reqwest::Client,
    serve: ServeOptions,
}

/// Extra settings for the `serve` process (not the CLI commands).
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Environment variables set on `serve` after the defaults (e.g. `RUST_LOG=debug`).
    pub env: Vec<(String, String)>,
    /// Append the server's stderr (its log) to a file; read it with [`TestServer::server_log`].
    pub capture_stderr: bool,
}

impl ServeOptions {
    /// Options setting these environment variables.
    pub fn env(vars: &[(&str, &str)]) -> Self {
        Self {
            env: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            capture_stderr: false,
        }
    }
}

/// A SCIM endpoint with its token.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub tenant: String,
    pub id: String,
    pub url: String,
    pub token: String,
    pub prefix: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_healthy(http: &reqwest::Client, base: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(Instant::now() < deadline, "server did not start");
        assert!(
            child.try_wait().unwrap().is_none(),
            "server exited at start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Another server process on the same database; killed on drop.
pub struct Instance {
    pub child: Child,
    pub base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pg_admin_url() -> Option<String> {
    std::env::var("SCIMBRIDGE_TEST_PG")
        .ok()
        .filter(|s| !s.is_empty())
}

impl TestServer {
    /// Starts a server on `backend`; `None` when PostgreSQL is not configured for tests.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, ServeOptions::default()).await
    }

    /// [`TestServer::start`] with extra environment and/or the server's stderr kept.
    pub async fn start_with(backend: Backend, serve: ServeOptions) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let (db_url, pg_db) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}/scimbridge.db", dir.path().display()),
                None,
            ),
            Backend::Postgres => {
                let admin = pg_admin_url()?;
                let name = format!("scb_http_{}", uuid::Uuid::new_v4().simple());
                psql(&admin, &format!("CREATE DATABASE {name}"));
                (
                    format!("{}/{name}", admin.trim_end_matches('/')),
                    Some(name),
                )
            }
        };
        let port = free_port();
        let master_key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_string();
        let mut server = Self {
            child: Command::new("true").spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
            db_url,
            _dir: dir,
            pg_db,
            master_key,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            serve,
        };
        let _ = server.child.wait();
        server.child = server.spawn_serve(port);
        wait_healthy(&server.http, &server.base, &mut server.child).await;
        Some(server)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_scimbridge"));
        c.args(args)
            .env("SCIMBRIDGE_DATABASE_URL", &self.db_url)
            .env("SCIMBRIDGE_MASTER_KEY", &self.master_key)
            .env("SCIMBRIDGE_PUBLIC_URL", &self.base)
            .env("SCIMBRIDGE_ALLOW_PRIVATE_TARGETS", "true")
            .env("SCIMBRIDGE_JOB_LEASE_SECS", "3")
            .env("SCIMBRIDGE_GUARD_SETTLE_SECS", "1")
            // Tests that watch a wrong key's jobs fail keep doing so; the automatic pause is
            // tested with it on (web/tests/auto_pause.rs sets it in `ServeOptions::env`).
            .env("SCIMBRIDGE_AUTO_PAUSE_AFTER", "0")
            .env("RUST_LOG", "warn");
        c
    }

    fn spawn_serve(&self, port: impl std::fmt::Display) -> Child {
        // stdout carries the first-run setup link; keep it for `setup_url`.
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self._dir.path().join("serve.stdout"))
            .unwrap();
        let err = if self.serve.capture_stderr {
            Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self._dir.path().join("serve.stderr"))
                    .unwrap(),
            )
        } else {
            Stdio::null()
        };
        let mut c = self.command(&["serve"]);
        c.env("SCIMBRIDGE_BIND", format!("127.0.0.1:{port}"));
        for (k, v) in &self.serve.env {
            c.env(k, v);
        }
        c.stdout(out).stderr(err).spawn().unwrap()
    }

    /// What the server wrote on stderr so far (needs [`ServeOptions::capture_stderr`]).
    pub fn server_log(&self) -> String {
        assert!(self.serve.capture_stderr, "start with capture_stderr");
        std::fs::read_to_string(self._dir.path().join("serve.stderr")).unwrap_or_default()
    }

    /// Kills the server with SIGKILL (no graceful shutdown) and starts it again on the same
    /// database and port.
    pub async fn kill9_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port = self.base.rsplit(':').next().unwrap().to_string();
        self.child = self.spawn_serve(&port);
        wait_healthy(&self.http, &self.base, &mut self.child).await;
    }

    /// Sends SIGTERM (a graceful stop, as systemd or Docker do) and waits up to `limit` for the
    /// process to exit. Returns its exit status, or `None` if it was still running (it is then
    /// killed).
    pub fn terminate_and_wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM failed");
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }

    /// A second `scimbridge serve` on the same database (another instance behind a balancer).
    pub async fn another_instance(&self) -> Instance {
        let port = free_port();
        let mut child = self.spawn_serve(port);
        let base = format!("http://127.0.0.1:{port}");
        wait_healthy(&self.http, &base, &mut child).await;
        Instance { child, base }
    }

    /// A new server (new folder, new port, same master key and serve options) on a copy of
    /// the SQLite file `backup`: a restore.
    pub async fn restored_from(&self, backup: &std::path::Path) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scimbridge.db");
        std::fs::copy(backup, &file).unwrap();
        let port = free_port();
        let mut server = Self {
            child: Command::new("true").spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
            db_url: format!("sqlite://{}", file.display()),
            _dir: dir,
            pg_db: None,
            master_key: self.master_key.clone(),
            http: self.http.clone(),
            serve: self.serve.clone(),
        };
        let _ = server.child.wait();
        server.child = server.spawn_serve(port);
        wait_healthy(&server.http, &server.base, &mut server.child).await;
        server
    }

    /// Every first-run setup link printed on stdout so far (by this and other instances).
    pub fn setup_urls(&self) -> Vec<String> {
        let text =
            std::fs::read_to_string(self._dir.path().join("serve.stdout")).unwrap_or_default();
        text.lines()
            .filter(|l| l.contains("/setup?token="))
            .map(|l| l.trim().to_string())
            .collect()
    }

    /// The first-run setup link the server printed on stdout (waits up to 10 s for it).
    pub async fn setup_url(&self) -> String {
        let path = self._dir.path().join("serve.stdout");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if let Some(line) = text.lines().rev().find(|l| l.contains("/setup?token=")) {
                return line.trim().to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no setup link on stdout: {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The `scimbridge <args>` command with the harness's environment, to spawn (and kill).
    pub fn cli_command(&self, args: &[&str]) -> Command {
        self.command(args)
    }

    /// Runs `scimbridge <args>` with `stdin` on standard input; returns (success, stdout, stderr).
    pub fn cli_stdin(&self, args: &[&str], stdin: &str) -> (bool, String, String) {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }

    /// Runs `scimbridge <args>` with the harness's environment, without `RUST_LOG` unless
    /// `rust_log` is given; the whole output.
    pub fn cli_output(&self, args: &[&str], rust_log: Option<&str>) -> std::process::Output {
        let mut c = self.command(args);
        match rust_log {
            Some(level) => c.env("RUST_LOG", level),
            None => c.env_remove("RUST_LOG"),
        };
        c.stdin(Stdio::null()).output().unwrap()
    }

    /// The folder holding the server's SQLite database.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// Opens the server's database directly (to inspect jobs, links and events).
    pub async fn store(&self) -> store::Store {
        let key = store::MasterKey::from_base64(&self.master_key).unwrap();
        store::Store::connect(&self.db_url, key).await.unwrap()
    }

    /// Runs a CLI command and parses its JSON output.
    pub fn cli(&self, args: &[&str]) -> Value {
        let out = self.command(args).stdin(Stdio::null()).output().unwrap();
        assert!(
            out.status.success(),
            "scimbridge {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?} printed non-JSON: {e}: {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Runs a CLI command expected to fail; returns stderr.
    pub fn cli_fails(&self, args: &[&str]) -> String {
        let out = self.command(args).stdin(Stdio::null()).output().unwrap();
        assert!(!out.status.success(), "scimbridge {args:?} should fail");
        String::from_utf8_lossy(&out.stderr).to_string()
    }

    /// A new tenant with one ActiveCampaign integration.
    pub fn endpoint(&self, tenant_name: &str) -> Endpoint {
        self.endpoint_with(
            tenant_name,
            &[
                "--setting",
                "base_url=https://acme.api-us1.com/api/3",
                "--secret",
                "api_key=sk-test-123",
            ],
        )
    }

    /// A new tenant with one ActiveCampaign integration named "<tenant> AC", created by
    /// `scimbridge integration create` with `args` (settings, secrets, roles, …).
    pub fn endpoint_with(&self, tenant_name: &str, args: &[&str]) -> Endpoint {
        self.endpoint_of(tenant_name, "activecampaign", args)
    }

    /// A new tenant with one integration of `connector` named "<tenant> AC", created by
    /// `scimbridge integration create --connector <connector>` with `args`.
    pub fn endpoint_of(&self, tenant_name: &str, connector: &str, args: &[&str]) -> Endpoint {
        let tenant = self.cli(&["tenant", "create", "--name", tenant_name]);
        let tenant_id = tenant["id"].as_str().unwrap().to_string();
        let name = format!("{tenant_name} AC");
        let mut all = vec![
            "integration",
            "create",
            "--tenant",
            &tenant_id,
            "--name",
            &name,
            "--connector",
            connector,
        ];
        all.extend_from_slice(args);
        let i = self.cli(&all);
        Endpoint {
            tenant: tenant_id.clone(),
            id: i["id"].as_str().unwrap().to_string(),
            url: i["scim_url"].as_str().unwrap().to_string(),
            token: i["token"].as_str().unwrap().to_string(),
            prefix: i["prefix"].as_str().unwrap().to_string(),
        }
    }

    /// Sends a SCIM request; returns status, headers and JSON body (Null when empty).
    pub async fn call(&self, ep: &Endpoint, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.call_with(&ep.url, Some(&ep.token), method, path, body)
            .await
    }

    pub async fn call_with(
        &self,
        url: &str,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.http.request(method, format!("{url}{path}"));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.header("content-type", SCIM).body(b.to_string());
        }
        Resp::from(rb.send().await.unwrap()).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let (Some(admin), Some(db)) = (pg_admin_url(), &self.pg_db) {
            psql(
                &admin,
                &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
            );
        }
    }
}

fn psql(admin_url: &str, sql: &str) {
    let url = format!("{}/postgres", admin_url.trim_end_matches('/'));
    let out = Command::new("psql")
        .args([&url, "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .expect("psql is needed for the PostgreSQL tests");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    async fn from(r: reqwest::Response) -> Self {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a SCIM error with this status and scimType.
    #[track_caller]
    pub fn assert_error(&self, status: u16, scim_type: Option<&str>) {
        assert_eq!(self.status, status, "{:?}", self.body);
        assert_eq!(self.header("content-type"), Some(SCIM), "{:?}", self.body);
        assert_eq!(
            self.body["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
        assert_eq!(self.body["status"], status.to_string());
        assert_eq!(self.body["scimType"].as_str(), scim_type, "{:?}", self.body);
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
}

/// Generates one test per backend from an async fn taking a `TestServer`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let server = $crate::common::TestServer::start($crate::common::Backend::Sqlite).await.unwrap();
                    super::$name(server).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    match $crate::common::TestServer::start($crate::common::Backend::Postgres).await {
                        Some(server) => super::$name(server).await,
                        None => eprintln!("SKIPPED on PostgreSQL: SCIMBRIDGE_TEST_PG is not set"),
                    }
                }
            )*
        }
    };
}
