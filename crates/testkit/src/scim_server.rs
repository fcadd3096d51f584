//! Plumbing shared by the fake SCIM apps (`fake_activepieces`, `fake_activtrak`): an actix
//! server on its own thread, a request log, and injected faults (429 with `Retry-After`, 503).
//! Each fake supplies only its [`App`]: what one request does to its state.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App as ActixApp, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// One request as a fake app sees it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    /// `None` for an empty body; `Some(Err)` for a body that is not JSON.
    pub body: Option<Result<Value, String>>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a fake app answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub content_type: &'static str,
    /// An `ETag` header.
    pub etag: Option<String>,
}

impl Reply {
    /// The same reply with an `ETag`.
    pub fn with_etag(mut self, tag: String) -> Self {
        self.etag = Some(tag);
        self
    }

    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            content_type: "application/scim+json",
            etag: None,
        }
    }

    pub fn plain_json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            content_type: "application/json",
            etag: None,
        }
    }

    pub fn empty(status: u16) -> Self {
        Self {
            status,
            body: None,
            content_type: "application/json",
            etag: None,
        }
    }

    /// An RFC 7644 error body (`status` as a string).
    pub fn scim_error(status: u16, detail: &str) -> Self {
        Self::json(
            status,
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": status.to_string(),
                "detail": detail,
            }),
        )
    }
}

/// A fake app: its state and what one request does to it.
pub trait App: Send + 'static {
    fn handle(&mut self, req: &Req) -> Reply;
}

/// One logged request.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Option<Value>,
    pub status: u16,
}

/// An injected failure: the next request gets `status` (with `Retry-After` if given) and
/// changes nothing.
#[derive(Debug, Clone, Copy)]
struct Fault {
    status: u16,
    retry_after: Option<u64>,
}

struct Inner<A> {
    app: A,
    faults: VecDeque<Fault>,
    log: Vec<LoggedRequest>,
}

pub(crate) struct Shared<A> {
    inner: Mutex<Inner<A>>,
}

impl<A> Shared<A> {
    fn lock(&self) -> MutexGuard<'_, Inner<A>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn handle<A: App>(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared<A>>,
) -> HttpResponse {
    let query = req.query_string().to_owned();
    let parsed = Req {
        method: req.method().as_str().to_owned(),
        path: req.path().to_owned(),
        query: url_pairs(&query),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body: if body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            Some(serde_json::from_slice(&body).map_err(|e| e.to_string()))
        },
    };
    let (reply, retry_after) = {
        let mut inner = shared.lock();
        let (reply, retry_after) = match inner.faults.pop_front() {
            Some(f) => (
                Reply::plain_json(f.status, json!({"message": "injected failure"})),
                f.retry_after,
            ),
            None => (inner.app.handle(&parsed), None),
        };
        inner.log.push(LoggedRequest {
            method: parsed.method.clone(),
            path: parsed.path.clone(),
            query,
            body: parsed.body.clone().and_then(Result::ok),
            status: reply.status,
        });
        (reply, retry_after)
    };
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut b = HttpResponse::build(status);
    if let Some(s) = retry_after {
        b.insert_header(("Retry-After", s.to_string()));
    }
    if let Some(tag) = &reply.etag {
        b.insert_header(("ETag", tag.clone()));
    }
    match reply.body {
        Some(v) => b.content_type(reply.content_type).body(v.to_string()),
        None => b.finish(),
    }
}

/// `a=b&c=d`, percent-decoded (`+` is a space).
fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Running {
    handle: ServerHandle,
    thread: JoinHandle<()>,
}

/// A running fake app.
pub struct FakeServer<A: App> {
    shared: Arc<Shared<A>>,
    addr: SocketAddr,
    running: Mutex<Option<Running>>,
}

impl<A: App> std::fmt::Debug for FakeServer<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl<A: App> FakeServer<A> {
    /// Starts `app` on `127.0.0.1` (any free port) on a thread of its own.
    pub async fn start(app: A, name: &'static str) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                app,
                faults: VecDeque::new(),
                log: Vec::new(),
            }),
        });
        let data = web::Data::from(Arc::clone(&shared));
        let (tx, rx) = tokio::sync::oneshot::channel::<io::Result<ServerHandle>>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let system = actix_web::rt::System::new();
                system.block_on(async move {
                    let server = HttpServer::new(move || {
                        ActixApp::new()
                            .app_data(data.clone())
                            .default_service(web::to(handle::<A>))
                    })
                    .workers(2)
                    .disable_signals()
                    .shutdown_timeout(0)
                    .listen(listener);
                    match server {
                        Ok(server) => {
                            let server = server.run();
                            let _ = tx.send(Ok(server.handle()));
                            let _ = server.await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })?;
        let handle = rx
            .await
            .map_err(|_| io::Error::other("fake server thread died"))??;
        Ok(Self {
            shared,
            addr,
            running: Mutex::new(Some(Running { handle, thread })),
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Reads or changes the app's state.
    pub fn with<T>(&self, f: impl FnOnce(&mut A) -> T) -> T {
        f(&mut self.shared.lock().app)
    }

    /// The next `n` requests are answered `status` (429 / 503 …) with `Retry-After:
    /// retry_after` seconds when given, and change nothing.
    pub fn fail_next(&self, n: usize, status: u16, retry_after: Option<u64>) {
        let mut inner = self.shared.lock();
        for _ in 0..n {
            inner.faults.push_back(Fault {
                status,
                retry_after,
            });
        }
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.lock().log.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().log.clear();
    }

    /// Stops the server and waits for its thread. Idempotent.
    pub async fn stop(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(r) = running {
            r.handle.stop(false).await;
            let _ = r.thread.join();
        }
    }
}

impl<A: App> Drop for FakeServer<A> {
    fn drop(&mut self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(r) = running {
            drop(r.handle.stop(false));
        }
    }
}

/// A SCIM ListResponse.
pub fn list(resources: Vec<Value>, total: usize, start_index: usize) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "startIndex": start_index,
        "Resources": resources,
    })
}

/// `attr eq "value"` (attribute name case-insensitive, as the apps' regexes do): the value.
pub fn eq_filter(filter: &str, attr: &str) -> Option<String> {
    let f = filter.trim();
    let (name, rest) = f.split_once(char::is_whitespace)?;
    if !name.eq_ignore_ascii_case(attr) {
        return None;
    }
    let rest = rest.trim_start();
    let (op, value) = rest.split_once(char::is_whitespace)?;
    if !op.eq_ignore_ascii_case("eq") {
        return None;
    }
    serde_json::from_str::<String>(value.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding_and_eq_filters() {
        assert_eq!(
            url_pairs("filter=userName+eq+%22a%40b.c%22&count=5"),
            vec![
                ("filter".to_string(), "userName eq \"a@b.c\"".to_string()),
                ("count".to_string(), "5".to_string())
            ]
        );
        assert_eq!(decode("100%"), "100%");
        assert_eq!(
            eq_filter("USERNAME eq \"a@b.c\"", "userName").as_deref(),
            Some("a@b.c")
        );
        assert_eq!(eq_filter("userName sw \"a\"", "userName"), None);
        assert_eq!(eq_filter("externalId eq \"a\"", "userName"), None);
    }
}
