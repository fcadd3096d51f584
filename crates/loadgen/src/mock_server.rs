//! Throwaway in-memory SCIM mock for end-to-end tests: a raw `TcpListener` speaking
//! just enough keep-alive HTTP/1.1 for the load generator's client, with canned SCIM-shaped responses.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

pub const BASE_PATH: &str = "/scim/v2/itest";

#[derive(Default)]
pub struct State {
    users: Vec<(String, String)>,
    by_name: HashMap<String, usize>,
    pub patches: u64,
}

pub struct Mock {
    pub url: String,
    pub state: Arc<Mutex<State>>,
    pub connections: Arc<AtomicU64>,
}

pub async fn start(token: &str) -> Mock {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let state = Arc::new(Mutex::new(State::default()));
    let connections = Arc::new(AtomicU64::new(0));
    let auth = format!("Bearer {token}");
    let (st, conns) = (state.clone(), connections.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            conns.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(stream, st.clone(), auth.clone()));
        }
    });
    Mock {
        url: format!("http://{addr}{BASE_PATH}"),
        state,
        connections,
    }
}

async fn serve(stream: TcpStream, state: Arc<Mutex<State>>, auth: String) {
    let mut r = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or(""),
        );
        let target = target.to_owned();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).await.unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        r.read_exact(&mut body).await.unwrap();
        let (status, resp) = if headers.get("authorization") != Some(&auth) {
            (401, json!({"detail": "bad token", "status": "401"}))
        } else if len > 0
            && headers.get("content-type").map(String::as_str) != Some("application/scim+json")
        {
            (415, json!({"detail": "content-type"}))
        } else {
            let mut st = state.lock().unwrap();
            route(&mut st, &method, &target, &body)
        };
        let text = if status == 204 {
            String::new()
        } else {
            resp.to_string()
        };
        let reason = match status {
            200 => "OK",
            201 => "Created",
            204 => "No Content",
            _ => "Error",
        };
        let out = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/scim+json\r\ncontent-length: {}\r\n\r\n{text}",
            text.len()
        );
        if r.get_mut().write_all(out.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn route(st: &mut State, method: &str, target: &str, body: &[u8]) -> (u16, Value) {
    let rest = target.strip_prefix(BASE_PATH).unwrap_or("");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let params: HashMap<&str, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k, decode(v)))
        .collect();
    let list = |total: usize, res: Vec<Value>| {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
               "totalResults": total, "itemsPerPage": res.len(), "Resources": res})
    };
    match (method, path) {
        ("POST", "/Users") => {
            let v: Value = serde_json::from_slice(body).unwrap();
            let name = v["userName"].as_str().unwrap().to_owned();
            assert_eq!(v["emails"][0]["value"], name.as_str());
            if st.by_name.contains_key(&name) {
                return (409, json!({"scimType": "uniqueness"}));
            }
            let id = format!("id-{}", st.users.len());
            st.by_name.insert(name.clone(), st.users.len());
            st.users.push((id.clone(), name.clone()));
            (201, json!({"id": id, "userName": name}))
        }
        ("GET", "/Users") if params.contains_key("filter") => {
            let f = &params["filter"];
            let name = f
                .strip_prefix("userName eq \"")
                .and_then(|s| s.strip_suffix('"'));
            let hit = name.and_then(|n| st.by_name.get(n)).map(|&i| &st.users[i]);
            let res: Vec<Value> = hit
                .map(|(id, n)| json!({"id": id, "userName": n}))
                .into_iter()
                .collect();
            (200, list(res.len(), res))
        }
        ("GET", "/Users") => {
            let start: usize = params
                .get("startIndex")
                .and_then(|s| s.parse().ok())
                .unwrap_or(1);
            let count: usize = params
                .get("count")
                .and_then(|s| s.parse().ok())
                .unwrap_or(100);
            let res = st
                .users
                .iter()
                .skip(start.saturating_sub(1))
                .take(count)
                .map(|(id, n)| json!({"id": id, "userName": n}))
                .collect();
            (200, list(st.users.len(), res))
        }
        ("PATCH", p) if p.starts_with("/Users/") => {
            let v: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(v["Operations"].as_array().unwrap().len(), 3);
            let id = &p["/Users/".len()..];
            if st.users.iter().any(|(i, _)| i == id) {
                st.patches += 1;
                (204, Value::Null)
            } else {
                (404, json!({"detail": "not found"}))
            }
        }
        _ => (
            404,
            json!({"detail": format!("no route {method} {target}")}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Scenario};
    use crate::ids::IdsFile;

    fn tmp_ids() -> PathBuf {
        std::env::temp_dir()
            .join(format!("loadgen-e2e-{}", uuid::Uuid::new_v4()))
            .join("u.json")
    }

    fn scenario(args: &[&str]) -> Scenario {
        Cli::try_parse_from(std::iter::once("loadgen").chain(args.iter().copied()))
            .unwrap()
            .scenario
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn all_scenario_end_to_end() {
        let mock = start("sekret").await;
        let ids = tmp_ids();
        let ids_s = ids.to_str().unwrap();
        let pid = std::process::id().to_string();
        let sc = scenario(&[
            "all",
            "--url",
            &mock.url,
            "--token",
            "sekret",
            "--users",
            "250",
            "--concurrency-create",
            "8",
            "--concurrency-lookup",
            "6",
            "--requests",
            "300",
            "--count",
            "100",
            "--ids-out",
            ids_s,
            "--server-pid",
            &pid,
        ]);
        let report = crate::run(&sc).await.unwrap();
        let names: Vec<&str> = report
            .scenarios
            .iter()
            .map(|s| s.scenario.as_str())
            .collect();
        assert_eq!(names, ["create", "lookup", "patch", "page"]);
        for s in &report.scenarios {
            assert_eq!(s.errors, 0, "{s:?}");
            assert!(!s.stopped_early);
        }
        assert_eq!(report.scenarios[0].ok, 250);
        assert_eq!(report.scenarios[1].ok, 300);
        assert_eq!(report.scenarios[2].ok, 300);
        let page = report.scenarios[3].page.clone().unwrap();
        assert_eq!(
            (
                page.pages,
                page.resources_seen,
                page.unique_ids,
                page.total_results
            ),
            (3, 250, 250, 250)
        );
        assert_eq!(mock.state.lock().unwrap().patches, 300);
        assert!(report.server.as_ref().unwrap().vm_rss_kb.is_some());
        // Keep-alive pool: connections are reused. hyper may race a fresh connect against
        // a connection being returned to the pool, so allow some slack over the max
        // concurrency (8); without reuse this would be ~850 connections.
        let conns = mock.connections.load(Ordering::SeqCst);
        assert!(conns <= 16, "{conns} connections");

        // The ids file feeds standalone lookup/patch runs.
        let file = IdsFile::read(&ids).unwrap();
        assert_eq!(file.users.len(), 250);
        assert_eq!(Some(file.run_id.clone()), report.run_id);
        assert!(
            file.users[0]
                .user_name
                .starts_with(&format!("lg-{}-0@", file.run_id))
        );
        for cmd in ["lookup", "patch"] {
            let sc = scenario(&[
                cmd,
                "--url",
                &mock.url,
                "--token",
                "sekret",
                "--requests",
                "50",
                "--concurrency",
                "4",
                "--ids-in",
                ids_s,
            ]);
            let r = crate::run(&sc).await.unwrap();
            assert_eq!((r.scenarios[0].ok, r.scenarios[0].errors), (50, 0), "{r:?}");
        }

        // A second create run doesn't collide with the first.
        let sc = scenario(&[
            "create",
            "--url",
            &mock.url,
            "--token",
            "sekret",
            "--users",
            "20",
            "--ids-out",
            ids_s,
        ]);
        let r = crate::run(&sc).await.unwrap();
        assert_eq!(r.scenarios[0].ok, 20);
        assert_eq!(IdsFile::read(&ids).unwrap().users.len(), 20);

        let text = report.render_text();
        assert!(
            text.contains("250 resources seen (250 unique) vs totalResults 250 -> OK"),
            "{text}"
        );
        std::fs::remove_dir_all(ids.parent().unwrap()).unwrap();
    }

    #[tokio::test]
    async fn errors_are_counted_and_sampled() {
        let mock = start("right").await;
        let ids = tmp_ids();
        let sc = scenario(&[
            "all",
            "--url",
            &mock.url,
            "--token",
            "wrong",
            "--users",
            "10",
            "--concurrency-create",
            "2",
            "--ids-out",
            ids.to_str().unwrap(),
        ]);
        let report = crate::run(&sc).await.unwrap();
        // No users created: lookup/patch skipped, page fails on its first request.
        let names: Vec<&str> = report
            .scenarios
            .iter()
            .map(|s| s.scenario.as_str())
            .collect();
        assert_eq!(names, ["create", "page"]);
        let create = &report.scenarios[0];
        assert_eq!((create.ok, create.errors), (0, 10));
        assert_eq!(create.errors_by_status.get("401"), Some(&10));
        assert_eq!(create.error_samples.len(), 3);
        assert!(create.error_samples[0].starts_with("401: {\"detail\":\"bad token\""));
        assert_eq!(report.scenarios[1].errors_by_status.get("401"), Some(&1));
        assert!(!ids.exists());
        assert_eq!(report.total_errors(), 11);
    }

    #[tokio::test]
    async fn transport_errors_and_duration_bound() {
        // Nothing listens on this port once the listener is dropped.
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/scim/v2/x");
        let sc = scenario(&["page", "--url", &url, "--token", "t"]);
        let report = crate::run(&sc).await.unwrap();
        assert_eq!(
            report.scenarios[0].errors_by_status.get("connect"),
            Some(&1),
            "{report:?}"
        );

        let mock = start("t").await;
        let ids = tmp_ids();
        let sc = scenario(&[
            "create",
            "--url",
            &mock.url,
            "--token",
            "t",
            "--users",
            "100000000",
            "--concurrency",
            "4",
            "--duration-secs",
            "0.3",
            "--ids-out",
            ids.to_str().unwrap(),
        ]);
        let r = crate::run(&sc).await.unwrap();
        std::fs::remove_dir_all(ids.parent().unwrap()).unwrap();
        let s = &r.scenarios[0];
        assert!(s.stopped_early && s.ok > 0 && s.errors == 0, "{s:?}");
        assert!(s.wall_secs < 5.0);
    }
}
