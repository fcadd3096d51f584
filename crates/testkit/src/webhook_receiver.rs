//! A webhook receiver for notification tests: records every request (path, the scimbridge
//! headers, the raw body) and answers 204, or 500 for the next N requests when told to fail.

use crate::serve::{Handler, Reply, Req, Server};
use serde_json::{Value, json};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

/// One request as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    pub timestamp: Option<String>,
    pub signature: Option<String>,
    pub event: Option<String>,
    /// The body exactly as sent (the signature covers these bytes).
    pub body: Vec<u8>,
    /// Whether this request was answered with the injected 500.
    pub failed: bool,
}

impl Received {
    /// The body as JSON (`Value::Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Default)]
struct Shared {
    received: Vec<Received>,
    fail_next: u32,
}

struct Recorder {
    shared: Arc<Mutex<Shared>>,
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Handler for Recorder {
    fn handle(&self, req: &Req<'_>) -> Reply {
        let mut s = lock(&self.shared);
        let failed = s.fail_next > 0;
        if failed {
            s.fail_next -= 1;
        }
        s.received.push(Received {
            method: req.method.to_string(),
            path: req.path.to_string(),
            content_type: (req.header)("content-type"),
            timestamp: (req.header)("x-scimbridge-timestamp"),
            signature: (req.header)("x-scimbridge-signature"),
            event: (req.header)("x-scimbridge-event"),
            body: req.body.to_vec(),
            failed,
        });
        if failed {
            Reply::json(500, json!({"error": "receiver is down (injected)"}))
        } else {
            Reply {
                status: 204,
                headers: Vec::new(),
                body: None,
            }
        }
    }
}

/// A running receiver.
pub struct WebhookReceiver {
    server: Server,
    shared: Arc<Mutex<Shared>>,
}

impl WebhookReceiver {
    /// Starts on a free port of 127.0.0.1.
    pub async fn start() -> io::Result<Self> {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let server = Server::start(
            "webhook-receiver",
            Arc::new(Recorder {
                shared: Arc::clone(&shared),
            }),
        )
        .await?;
        Ok(Self { server, shared })
    }

    /// The URL to register (`http://127.0.0.1:port/hook`).
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.server.addr)
    }

    /// Answers the next `n` requests with 500.
    pub fn fail_next(&self, n: u32) {
        lock(&self.shared).fail_next = n;
    }

    /// Every request so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared).received.clone()
    }

    /// The requests answered 2xx.
    pub fn accepted(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| !r.failed).collect()
    }

    /// Stops the server.
    pub async fn stop(&mut self) {
        self.server.stop().await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_requests_and_fails_on_demand() {
        let r = WebhookReceiver::start().await.unwrap();
        r.fail_next(1);
        let http = reqwest::Client::new();
        let send = || {
            http.post(r.url())
                .header("X-Scimbridge-Timestamp", "17")
                .header("X-Scimbridge-Signature", "sha256=00")
                .body("{\"event\":\"test\"}")
                .send()
        };
        assert_eq!(send().await.unwrap().status().as_u16(), 500);
        assert_eq!(send().await.unwrap().status().as_u16(), 204);
        let got = r.received();
        assert_eq!(got.len(), 2);
        assert!(got[0].failed && !got[1].failed);
        assert_eq!(got[1].timestamp.as_deref(), Some("17"));
        assert_eq!(got[1].signature.as_deref(), Some("sha256=00"));
        assert_eq!(got[1].json()["event"], "test");
        assert_eq!(got[1].path, "/hook");
        assert_eq!(r.accepted().len(), 1);
    }
}
