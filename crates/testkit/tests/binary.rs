//! The `fake-activecampaign` binary prints one JSON line and serves.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_prints_its_json_line_and_serves() {
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_fake-activecampaign"))
            .args([
                "--port",
                "0",
                "--token",
                "tok-1",
                "--token",
                "tok-2",
                "--rate-limit",
                "7",
                "--groups",
                "Admin,Manager,User,No access",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let info: Value = serde_json::from_str(line.trim()).unwrap();
    let base = info["base_url"].as_str().unwrap().to_owned();
    assert!(
        base.starts_with("http://127.0.0.1:") && base.ends_with("/api/3"),
        "{base}"
    );
    assert_eq!(info["tokens"], serde_json::json!(["tok-1", "tok-2"]));
    assert_eq!(info["rate_limit"], 7);
    assert_eq!(info["owner_user_id"], "1");
    assert_eq!(info["groups"]["Admin"], "3");
    assert_eq!(info["groups"]["Manager"], "4");
    assert_eq!(info["groups"]["No access"], "6");

    let client = reqwest::Client::new();
    for token in ["tok-1", "tok-2"] {
        let r = client
            .get(format!("{base}/users/me"))
            .header("Api-Token", token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["user"]["id"], "1");
    }
    let r = client
        .get(format!("{base}/groups"))
        .header("Api-Token", "tok-1")
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["meta"]["total"], "4");
    drop(child);
}

#[test]
fn binary_generates_a_token_when_none_is_given() {
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_fake-activecampaign"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: Value = serde_json::from_str(line.trim()).unwrap();
    let tokens = info["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1);
    assert!(tokens[0].as_str().unwrap().len() >= 32);
    assert_eq!(info["rate_limit"], 5);
}
