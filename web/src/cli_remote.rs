//! `scimbridge --api URL --api-token T <command>`: the CLI's commands for tenants,
//! integrations, SCIM tokens, jobs, staff, the deletion guard and reconciliation, run on a
//! remote server through its admin API. Each prints the same JSON object as the local command;
//! an API problem becomes the error.

use crate::cli::{
    AdminCommand, CliError, Command, GuardCommand, IntegrationCommand, JobCommand, Mode,
    TenantCommand, TokenCommand, print,
};
use serde_json::{Value, json};

struct Remote {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Remote {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CliError> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req
            .send()
            .await
            .map_err(|e| CliError::Invalid(format!("{url}: {e}")))?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        if status.is_success() {
            return Ok(body);
        }
        let detail = body["detail"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| text.chars().take(200).collect());
        Err(CliError::Invalid(format!("{status}: {detail}")))
    }

    /// The tenant of integration `iid` (the API nests integrations under their tenant).
    async fn tenant_of(&self, iid: &str) -> Result<String, CliError> {
        let tenants = self.call(reqwest::Method::GET, "/tenants", None).await?;
        for t in tenants.as_array().into_iter().flatten() {
            let Some(tid) = t["id"].as_str() else {
                continue;
            };
            let list = self
                .call(
                    reqwest::Method::GET,
                    &format!("/tenants/{tid}/integrations"),
                    None,
                )
                .await?;
            if list
                .as_array()
                .into_iter()
                .flatten()
                .any(|i| i["id"].as_str() == Some(iid))
            {
                return Ok(tid.to_string());
            }
        }
        Err(CliError::Invalid(format!("no integration {iid}")))
    }

    /// The staff account with this e-mail among those the token manages (the CLI names
    /// accounts by e-mail, the API by id).
    async fn staff_by_email(&self, email: &str) -> Result<Value, CliError> {
        let email = email.trim().to_lowercase();
        let list = self.call(reqwest::Method::GET, "/staff", None).await?;
        list.as_array()
            .into_iter()
            .flatten()
            .find(|u| u["email"].as_str() == Some(email.as_str()))
            .cloned()
            .ok_or_else(|| CliError::Invalid("no such staff account".into()))
    }

    /// Starts an import at `base` (`…/reconciliation`) and waits for its end, as the local
    /// `reconcile` does; an import that stops (the target failed) is the error.
    async fn import(&self, base: &str) -> Result<(), CliError> {
        let path = format!("{base}/import");
        let started = self.call(reqwest::Method::POST, &path, None).await?["run_id"]
            .as_i64()
            .unwrap_or_default();
        loop {
            let p = self.call(reqwest::Method::GET, &path, None).await?;
            match p["state"].as_str() {
                Some("running") => {}
                // This run, or a later one, finished: the report is at least as fresh.
                Some("done") if p["run_id"].as_i64().unwrap_or_default() >= started => {
                    return Ok(());
                }
                _ => {
                    return Err(CliError::Invalid(format!(
                        "the import stopped: {}",
                        p["error"]
                            .as_str()
                            .unwrap_or("interrupted; run the command again to continue it")
                    )));
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
}

/// A one-time staff link as the local command prints it.
fn print_link(staff: &Value, link: &Value, purpose: &Value, expires_at: &Value) {
    print(json!({
        "id": staff["id"],
        "email": staff["email"],
        "link": link,
        "purpose": purpose,
        "expires_at": expires_at,
    }));
}

/// Runs `command` against the admin API at `base` with `token`.
pub async fn run(base: &str, token: &str, command: Command) -> Result<(), CliError> {
    use reqwest::Method;
    let remote = Remote {
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| CliError::Invalid(format!("cannot build an HTTP client: {e}")))?,
        base: base.trim_end_matches('/').to_string(),
        token: token.to_string(),
    };
    match command {
        Command::Tenant {
            command: TenantCommand::Create { name },
        } => {
            let t = remote
                .call(Method::POST, "/tenants", Some(json!({"name": name})))
                .await?;
            print(json!({"id": t["id"], "name": t["name"]}));
        }
        Command::Integration {
            command:
                IntegrationCommand::Create {
                    tenant,
                    name,
                    connector,
                    settings,
                    secrets,
                    default_role,
                    mode,
                    role_rules,
                    deprovision,
                    unmatched,
                    lifecycle,
                    push_groups,
                    delete_guard,
                    extension_schemas,
                },
        } => {
            // Checked here first (a bad file names itself), then sent as written.
            crate::cli::read_extension_schemas(&extension_schemas)?;
            let mut schemas: Vec<Value> = Vec::with_capacity(extension_schemas.len());
            for path in &extension_schemas {
                let text = std::fs::read_to_string(path)?;
                schemas.push(serde_json::from_str(&text).map_err(|e| {
                    CliError::Invalid(format!("--extension-schema {}: {e}", path.display()))
                })?);
            }
            let body = json!({
                "name": name,
                "connector": connector,
                "settings": settings.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
                "secrets": secrets.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
                "default_role": default_role,
                "mode": match mode { Mode::Live => "live", Mode::DryRun => "dry_run" },
                "role_rules": role_rules,
                "deprovision": deprovision,
                "unmatched": unmatched,
                "lifecycle": lifecycle,
                "push_groups": push_groups,
                "delete_guard": delete_guard,
                "extension_schemas": schemas,
                "activate": true,
            });
            let made = remote
                .call(
                    Method::POST,
                    &format!("/tenants/{tenant}/integrations"),
                    Some(body),
                )
                .await?;
            print(json!({
                "id": made["integration"]["id"],
                "scim_url": made["integration"]["scim_url"],
                "token": made["token"]["token"],
                "prefix": made["token"]["prefix"],
            }));
        }
        Command::Token {
            command:
                TokenCommand::Issue {
                    integration,
                    expires_in_days,
                },
        } => {
            let tid = remote.tenant_of(&integration).await?;
            let t = remote
                .call(
                    Method::POST,
                    &format!("/tenants/{tid}/integrations/{integration}/tokens"),
                    Some(json!({"expires_in_days": expires_in_days})),
                )
                .await?;
            print(
                json!({"token": t["token"], "scim_url": t["scim_url"], "prefix": t["prefix"], "expires_at": t["expires_at"]}),
            );
        }
        Command::Token {
            command:
                TokenCommand::Revoke {
                    integration,
                    prefix,
                },
        } => {
            let tid = remote.tenant_of(&integration).await?;
            remote
                .call(
                    Method::DELETE,
                    &format!("/tenants/{tid}/integrations/{integration}/tokens/{prefix}"),
                    None,
                )
                .await?;
            print(json!({"revoked": prefix}));
        }
        Command::Job {
            command: JobCommand::Failed { integration },
        } => {
            let tid = remote.tenant_of(&integration).await?;
            let failed = remote
                .call(
                    Method::GET,
                    &format!("/tenants/{tid}/integrations/{integration}/jobs/failed"),
                    None,
                )
                .await?;
            print(json!({"failed": failed}));
        }
        Command::Job {
            command: JobCommand::Retry { integration, job },
        } => {
            let tid = remote.tenant_of(&integration).await?;
            let r = remote
                .call(
                    Method::POST,
                    &format!("/tenants/{tid}/integrations/{integration}/jobs/retry"),
                    Some(json!({"job_id": job})),
                )
                .await?;
            print(json!({"retried": r["retried"]}));
        }
        Command::Admin {
            command:
                AdminCommand::Invite {
                    email,
                    role,
                    tenant,
                },
        } => {
            let role = store::StaffRole::from(role);
            let made = remote
                .call(
                    Method::POST,
                    "/staff",
                    Some(json!({"email": email, "role": role.as_str(), "tenant_id": tenant})),
                )
                .await?;
            print_link(
                &made["staff"],
                &made["link"],
                &json!(store::StaffTokenPurpose::Invite.as_str()),
                &made["expires_at"],
            );
        }
        Command::Admin {
            command: AdminCommand::ResetLink { email },
        } => {
            let user = remote.staff_by_email(&email).await?;
            let id = user["id"].as_str().unwrap_or_default();
            let made = remote
                .call(Method::POST, &format!("/staff/{id}/link"), None)
                .await?;
            print_link(
                &made["staff"],
                &made["link"],
                &made["purpose"],
                &made["expires_at"],
            );
        }
        Command::Admin {
            command:
                AdminCommand::SetRole {
                    email,
                    role,
                    tenant,
                },
        } => {
            let before = remote.staff_by_email(&email).await?;
            let id = before["id"].as_str().unwrap_or_default();
            let role = store::StaffRole::from(role);
            let after = remote
                .call(
                    Method::POST,
                    &format!("/staff/{id}/role"),
                    Some(json!({"role": role.as_str(), "tenant_id": tenant})),
                )
                .await?;
            print(json!({
                "id": after["id"], "email": after["email"],
                "role": after["role"], "tenant": after["tenant_id"], "was": before["role"],
            }));
        }
        Command::Admin {
            command: AdminCommand::Remove { email },
        } => {
            let user = remote.staff_by_email(&email).await?;
            let id = user["id"].as_str().unwrap_or_default();
            remote
                .call(Method::DELETE, &format!("/staff/{id}"), None)
                .await?;
            print(json!({"id": user["id"], "email": user["email"], "removed": true}));
        }
        Command::Admin {
            command: AdminCommand::Create { .. } | AdminCommand::ResetTotp { .. },
        } => {
            return Err(CliError::Invalid(
                "admin create (a password typed on the server) and admin reset-totp run on the server's database only: the API has no such operation; use admin invite or admin reset-link with --api".into(),
            ));
        }
        Command::Guard { command } => {
            let (integration, decision) = match &command {
                GuardCommand::Show { integration } => (integration, None),
                GuardCommand::Approve { integration } => (integration, Some("approve")),
                GuardCommand::Discard { integration } => (integration, Some("discard")),
            };
            let tid = remote.tenant_of(integration).await?;
            let guard = format!("/tenants/{tid}/integrations/{integration}/guard");
            // The API answers with the local command's JSON.
            let out = match decision {
                None => remote.call(Method::GET, &guard, None).await?,
                Some(d) => {
                    remote
                        .call(Method::POST, &format!("{guard}/{d}"), None)
                        .await?
                }
            };
            print(out);
        }
        Command::Reconcile {
            integration,
            apply,
            json: as_json,
            deprovision_orphan,
        } => {
            if !as_json {
                return Err(CliError::Invalid(
                    "with --api, reconcile prints the JSON report: add --json".into(),
                ));
            }
            let tid = remote.tenant_of(&integration).await?;
            let base = format!("/tenants/{tid}/integrations/{integration}/reconciliation");
            remote.import(&base).await?;
            // The same steps as the local command: the report, then the orphans, then drift.
            let mut report = remote.call(Method::GET, &base, None).await?;
            let deprovisioned = if deprovision_orphan.is_empty() {
                None
            } else {
                Some(
                    remote
                        .call(
                            Method::POST,
                            &format!("{base}/orphans/deprovision"),
                            Some(json!({"target_ids": deprovision_orphan})),
                        )
                        .await?,
                )
            };
            if apply {
                report["applied"] = remote
                    .call(Method::POST, &format!("{base}/fix-drift"), None)
                    .await?;
            }
            if let Some(d) = deprovisioned {
                report["deprovisioned"] = d;
            }
            print(report);
        }
        _ => {
            return Err(CliError::Invalid(
                "this command runs on the server's database only; --api covers tenant create, integration create, token issue/revoke, job failed/retry, admin invite/set-role/remove/reset-link, guard show/approve/discard and reconcile --json".into(),
            ));
        }
    }
    Ok(())
}
