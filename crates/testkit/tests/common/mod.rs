//! Shared helpers for the fake ActiveCampaign tests.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
#![allow(dead_code, reason = "not every test binary uses every helper")]

use reqwest::header::HeaderMap;
use serde_json::Value;
use testkit::fake_activecampaign::{AccountConfig, FakeActiveCampaign, FakeConfig, FakeHandle};

pub const TOKEN: &str = "test-token-1";

/// A fake with one account ("acme", token [`TOKEN`], groups Manager/User/No access)
/// and no rate limit, for functional tests.
pub async fn unlimited_fake() -> FakeHandle {
    FakeActiveCampaign::start(config_with(0)).await
}

pub fn config_with(rate_limit: u32) -> FakeConfig {
    FakeConfig {
        accounts: vec![
            AccountConfig::new("acme", TOKEN)
                .groups(["Manager", "User", "No access"])
                .rate_limit(rate_limit),
        ],
        ..FakeConfig::default()
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

#[derive(Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

impl Api {
    pub fn new(fake: &FakeHandle, token: &str) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: fake.base_url().to_owned(),
            token: Some(token.to_owned()),
        }
    }

    pub fn with_token(&self, token: Option<&str>) -> Self {
        Self {
            token: token.map(str::to_owned),
            ..self.clone()
        }
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        self.try_send(method, path, body).await.unwrap()
    }

    pub async fn try_send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Resp, reqwest::Error> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .header("Accept", "application/json");
        if let Some(token) = &self.token {
            req = req.header("Api-Token", token);
        }
        if let Some(body) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Resp {
            status,
            headers,
            text,
            json,
        })
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send("POST", path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send("PUT", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", path, None).await
    }
}

/// Keys of a JSON object, in order.
pub fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

/// `2020-05-24T05:16:49-05:00`
pub fn is_ac_timestamp(v: &Value) -> bool {
    let Some(s) = v.as_str() else { return false };
    s.len() == 25
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
        && matches!(&s[19..20], "+" | "-")
}
