//! A browser-like UI client for HTTP tests: keeps cookies, reads CSRF tokens from pages.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test harness"
)]

use super::TestServer;
use std::time::Duration;

pub const PASSWORD: &str = "correct horse battery staple";

/// A browser-like client: keeps cookies, does not follow redirects.
pub struct Ui {
    http: reqwest::Client,
    base: String,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

impl Ui {
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            base: base.to_string(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        Self::page(r).await
    }

    pub async fn page(r: reqwest::Response) -> Page {
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        Page {
            status,
            location,
            body: r.text().await.unwrap(),
        }
    }

    /// Posts a form as-is (the caller includes the CSRF token or not).
    pub async fn post_raw(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Page {
        let mut req = self.http.post(format!("{}{path}", self.base)).form(fields);
        if let Some(o) = origin {
            req = req.header("Origin", o);
        }
        Self::page(req.send().await.unwrap()).await
    }

    /// Posts a form with the CSRF token read from `form_page`.
    pub async fn post(&self, form_page: &str, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = csrf_of(&self.get(form_page).await.body);
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all, Some(&self.base.clone())).await
    }

    /// Posts a form with this CSRF token, from our own origin.
    pub async fn post_csrf(&self, csrf: &str, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut all = vec![("csrf", csrf)];
        all.extend_from_slice(fields);
        let base = self.base.clone();
        self.post_raw(path, &all, Some(&base)).await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Page {
        self.post(
            "/login",
            "/login",
            &[("email", email), ("password", password)],
        )
        .await
    }
}

/// The first CSRF token in a page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("page has a CSRF field") + marker.len();
    html[start..][..html[start..].find('"').unwrap()].to_string()
}

pub fn admin(s: &TestServer, email: &str, role: &str, tenant: Option<&str>) {
    let mut args = vec!["admin", "create", "--email", email, "--role", role];
    if let Some(t) = tenant {
        args.extend_from_slice(&["--tenant", t]);
    }
    let (ok, out, err) = s.cli_stdin(&args, PASSWORD);
    assert!(ok, "admin create failed: {out} {err}");
}
