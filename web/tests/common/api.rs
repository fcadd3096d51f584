//! An admin API client for tests that checks every response against the served OpenAPI
//! document: the operation is found by method and path template, the status must be
//! documented, and the body must match the documented schema for its media type. Each API test
//! file covers the operations of its tags (`TAGS_BY_FILE`) and asserts none was left uncalled.

use super::TestServer;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Mutex;

/// Which test file calls every operation of which OpenAPI tags. `admin_api.rs` checks that
/// every operation of the document carries one of these tags.
pub const TAGS_BY_FILE: &[(&str, &[&str])] = &[
    (
        "admin_api.rs",
        &[
            "Reference",
            "Tenants",
            "Integrations",
            "SCIM tokens",
            "Jobs",
            "Logs",
            "Staff",
        ],
    ),
    ("admin_api_settings.rs", &["Integration settings"]),
    (
        "admin_api_reconcile.rs",
        &["Deletion guard", "Reconciliation"],
    ),
    (
        "admin_api_notifications.rs",
        &["Notifications", "API tokens"],
    ),
];

/// The tags `file` covers.
pub fn tags_of(file: &str) -> &'static [&'static str] {
    TAGS_BY_FILE
        .iter()
        .find(|(f, _)| *f == file)
        .map(|(_, t)| *t)
        .unwrap_or_else(|| panic!("{file} is not in TAGS_BY_FILE"))
}

/// The client; see the module's comment.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub doc: Value,
    /// (method, path template) of every operation called.
    called: Mutex<BTreeSet<(String, String)>>,
}

pub struct Res {
    pub status: u16,
    pub content_type: String,
    pub retry_after: Option<String>,
    pub body: Value,
    pub text: String,
}

impl Api {
    pub async fn new(base: &str) -> Self {
        let http = reqwest::Client::new();
        let r = http
            .get(format!("{base}/api/v1/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "the document needs no token");
        let doc: Value = r.json().await.unwrap();
        assert_eq!(doc["openapi"].as_str().unwrap().get(..3), Some("3.1"));
        let api = Self {
            http,
            base: base.to_string(),
            doc,
            called: Mutex::default(),
        };
        api.called
            .lock()
            .unwrap()
            .insert(("get".into(), "/api/v1/openapi.json".into()));
        api
    }

    /// The document's path template that `path` (no query) matches.
    pub fn template(&self, path: &str) -> String {
        let segs: Vec<&str> = path.split('/').collect();
        let found = self.doc["paths"].as_object().unwrap().keys().find(|t| {
            let ts: Vec<&str> = t.split('/').collect();
            ts.len() == segs.len()
                && ts
                    .iter()
                    .zip(&segs)
                    .all(|(t, s)| (t.starts_with('{') && t.ends_with('}')) || t == s)
        });
        found
            .unwrap_or_else(|| panic!("{path} is not in the OpenAPI document"))
            .clone()
    }

    pub fn check(&self, method: &str, path: &str, res: &Res) {
        let template = self.template(path.split('?').next().unwrap());
        let op = &self.doc["paths"][&template][method];
        assert!(op.is_object(), "{method} {template} is not documented");
        self.called
            .lock()
            .unwrap()
            .insert((method.to_string(), template.clone()));
        let response = &op["responses"][res.status.to_string()];
        assert!(
            response.is_object(),
            "{method} {template} answered {} which is not documented: {}",
            res.status,
            res.text
        );
        let Some(content) = response["content"].as_object() else {
            assert!(
                res.text.is_empty(),
                "{method} {template} {}: undocumented body",
                res.status
            );
            return;
        };
        let media = res.content_type.split(';').next().unwrap().trim();
        let schema = &content.get(media).unwrap_or_else(|| {
            panic!(
                "{method} {template} {}: {media} is not documented",
                res.status
            )
        })["schema"];
        let mut root = schema.as_object().unwrap().clone();
        root.insert("components".into(), self.doc["components"].clone());
        let validator = jsonschema::validator_for(&Value::Object(root))
            .unwrap_or_else(|e| panic!("schema of {method} {template}: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(&res.body)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {template} {}: the body does not match the document: {errors:?}\n{}",
            res.status,
            res.text
        );
    }

    pub async fn call(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Res {
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let mut req = self.http.request(m, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.finish(method, path, req).await
    }

    /// A request with a raw (possibly broken) JSON body.
    pub async fn call_raw(&self, token: &str, method: &str, path: &str, body: &str) -> Res {
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let req = self
            .http
            .request(m, format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string());
        self.finish(method, path, req).await
    }

    pub async fn finish(&self, method: &str, path: &str, req: reqwest::RequestBuilder) -> Res {
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let header = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_string());
        let content_type = header("content-type").unwrap_or_default();
        let retry_after = header("retry-after");
        let text = r.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        let res = Res {
            status,
            content_type,
            retry_after,
            body,
            text,
        };
        self.check(method, path, &res);
        res
    }

    pub async fn get(&self, token: &str, path: &str) -> Res {
        self.call(Some(token), "get", path, None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Res {
        self.call(Some(token), "post", path, Some(body)).await
    }

    pub async fn delete(&self, token: &str, path: &str) -> Res {
        self.call(Some(token), "delete", path, None).await
    }

    pub async fn put(&self, token: &str, path: &str, body: Value) -> Res {
        self.call(Some(token), "put", path, Some(body)).await
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> Res {
        self.call(Some(token), "patch", path, Some(body)).await
    }

    /// Creates a tenant named `name` through the API; its id.
    pub async fn new_tenant(&self, token: &str, name: &str) -> String {
        let r = self
            .post(
                token,
                "/api/v1/tenants",
                serde_json::json!({ "name": name }),
            )
            .await;
        r.expect(201)["id"].as_str().unwrap().to_string()
    }

    /// Every operation of the document tagged with one of `tags` that no call reached.
    pub fn uncalled(&self, tags: &[&str]) -> Vec<String> {
        let called = self.called.lock().unwrap();
        let mut missing = Vec::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let tagged = op["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|t| tags.contains(&t.as_str().unwrap_or_default()));
                if tagged && !called.contains(&(method.clone(), path.clone())) {
                    missing.push(format!("{method} {path}"));
                }
            }
        }
        missing
    }

    /// Operations whose tag no test file covers (see `TAGS_BY_FILE`).
    pub fn untested_tags(&self) -> Vec<String> {
        let known: Vec<&str> = TAGS_BY_FILE
            .iter()
            .flat_map(|(_, t)| t.iter().copied())
            .collect();
        let mut odd = Vec::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let tags: Vec<&str> = op["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if tags.is_empty() || !tags.iter().all(|t| known.contains(t)) {
                    odd.push(format!("{method} {path} {tags:?}"));
                }
            }
        }
        odd
    }
}

impl Res {
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        &self.body
    }

    /// A problem document with this status.
    #[track_caller]
    pub fn problem(&self, status: u16) -> String {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        assert_eq!(self.content_type, "application/problem+json");
        assert_eq!(self.body["status"], status);
        assert_eq!(self.body["type"], "about:blank");
        assert!(self.body["title"].as_str().is_some_and(|t| !t.is_empty()));
        self.body["detail"].as_str().unwrap().to_string()
    }
}

/// `scimbridge api-token create` for `email`: the token (checks the output's shape).
pub fn cli_token(s: &TestServer, email: &str, name: &str) -> String {
    let out = s.cli_output(
        &["api-token", "create", "--email", email, "--name", name],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "quiet stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let o = v.as_object().unwrap();
    assert_eq!(o.len(), 2, "exactly token and prefix: {v}");
    let token = o["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("sbapi_") && token.len() > 40);
    assert!(token.starts_with(o["prefix"].as_str().unwrap()));
    token
}
