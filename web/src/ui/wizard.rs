//! The Add Integration wizard (1 Connector · 2 Connection · 3 Roles · 4 Policy · 5 Activate).
//!
//! Step 2 saves a draft integration; steps 3–4 edit it; step 5 activates it and shows the token
//! once. For an active or paused integration the same Connection / Roles / Policy pages are its
//! settings tabs, so there is one form per concern.

use super::integrations::{
    EditIntegration, Need, Tabs, connector_title, crumbs, integration_for, tenant_for,
};
use super::view::{Crumb, Flash, Frame};
use super::{Ctx, FormData, UiError, UiResult};
use crate::app::AppState;
use crate::integration_settings::{self as settings, ConnectionChange, PolicyChange, RuleRow};
use crate::manage::ManageError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use connector_api::{Descriptor, FieldKind};
use provisioning::planner::RoleRule as Rule;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use store::{Integration, IntegrationMode, IntegrationStatus};

pub fn configure(cfg: &mut web::ServiceConfig) {
    let i = "/t/{tid}/integrations/{iid}";
    cfg.route("/t/{tid}/integrations/new", web::get().to(choose_connector))
        .route(
            "/t/{tid}/integrations/new/{kind}",
            web::get().to(new_connection),
        )
        .route(
            "/t/{tid}/integrations/new/{kind}",
            web::post().to(create_draft),
        )
        .route("/t/{tid}/connectors/{kind}/test", web::post().to(test_new))
        .route(&format!("{i}/connection"), web::get().to(edit_connection))
        .route(&format!("{i}/connection"), web::post().to(save_connection))
        .route(&format!("{i}/test"), web::post().to(test_existing))
        .route(&format!("{i}/roles"), web::get().to(roles_form))
        .route(&format!("{i}/roles"), web::post().to(save_roles))
        .route(&format!("{i}/roles/preview"), web::post().to(preview_roles))
        .route(&format!("{i}/policy"), web::get().to(policy_form))
        .route(&format!("{i}/policy"), web::post().to(save_policy))
        .route(&format!("{i}/activate"), web::get().to(review))
        .route(&format!("{i}/activate"), web::post().to(activate))
        .route(&format!("{i}/selftest"), web::post().to(self_test));
}

/// The stepper across the top of the wizard (a typed partial).
#[derive(Template)]
#[template(path = "ui/_stepper.html")]
pub struct Stepper {
    /// 1-based current step.
    pub current: u8,
}

impl Stepper {
    pub const STEPS: [&'static str; 5] = ["Connector", "Connection", "Roles", "Policy", "Activate"];

    /// (number, label, state) with state `done`, `current` or `todo`.
    pub fn items(&self) -> Vec<(u8, &'static str, &'static str)> {
        Self::STEPS
            .iter()
            .enumerate()
            .map(|(i, label)| {
                let n = i as u8 + 1;
                let state = match n.cmp(&self.current) {
                    std::cmp::Ordering::Less => "done",
                    std::cmp::Ordering::Equal => "current",
                    std::cmp::Ordering::Greater => "todo",
                };
                (n, *label, state)
            })
            .collect()
    }
}

fn descriptor(kind: &str) -> Result<&'static Descriptor, UiError> {
    crate::connectors::descriptor(kind).ok_or(UiError::NotFound)
}

/// What the integration's connector can do (a SCIM target's depends on its profile).
fn caps_of(i: &Integration) -> Result<connector_api::Capabilities, UiError> {
    crate::connectors::capabilities(&i.connector_kind, &i.settings).ok_or(UiError::NotFound)
}

// ------------------------------------------------------------------ step 1: connector

struct Card {
    kind: &'static str,
    title: &'static str,
    summary: &'static str,
    supports: Vec<(&'static str, bool)>,
}

#[derive(Template)]
#[template(path = "ui/wizard_connector.html")]
struct ConnectorPage {
    frame: Frame,
    stepper: Stepper,
    tenant_id: String,
    cards: Vec<Card>,
}

async fn choose_connector(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let tenant = tenant_for(&ctx, &path, Need::Edit).await?;
    let cards = crate::connectors::descriptors()
        .into_iter()
        .map(|d| {
            let c = &d.capabilities;
            Card {
                kind: d.kind,
                title: d.title,
                summary: d.summary,
                supports: vec![
                    ("Create", c.can_create),
                    ("Update", c.can_update),
                    ("Roles", true),
                    ("Deactivate", c.can_deactivate),
                    ("Delete", c.can_delete),
                ],
            }
        })
        .collect();
    let frame = ctx
        .frame(
            "Add integration",
            "integrations",
            Some(&tenant),
            vec![
                Crumb::link("Integrations", format!("/t/{}/integrations", tenant.id)),
                Crumb::here("Add integration"),
            ],
        )
        .await?;
    ctx.render(&ConnectorPage {
        frame,
        stepper: Stepper { current: 1 },
        tenant_id: tenant.id,
        cards,
    })
}

// ------------------------------------------------------------------ step 2: connection

/// One field of the connection form.
struct FieldView {
    key: &'static str,
    label: &'static str,
    help: &'static str,
    input_type: &'static str,
    /// A choice's values (rendered as a select); empty for free input.
    options: Vec<&'static str>,
    required: bool,
    placeholder: &'static str,
    /// Current value (never for secrets).
    value: String,
    is_secret: bool,
    /// A secret is stored already (the input then replaces it).
    stored: bool,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "ui/wizard_connection.html")]
struct ConnectionPage {
    frame: Frame,
    /// Wizard (draft / new) or settings tab.
    stepper: Option<Stepper>,
    tabs: Option<Tabs>,
    title: &'static str,
    name: String,
    name_error: Option<String>,
    fields: Vec<FieldView>,
    error: Option<String>,
    action: String,
    test_url: String,
    submit_label: &'static str,
    read_only: bool,
}

fn field_views(
    d: &Descriptor,
    settings: &Map<String, Value>,
    stored_secrets: &[String],
    errors: &BTreeMap<String, String>,
) -> Vec<FieldView> {
    d.fields
        .iter()
        .map(|f| FieldView {
            key: f.key,
            label: f.label,
            help: f.help,
            input_type: match f.kind {
                FieldKind::Url => "url",
                FieldKind::Text | FieldKind::Choice(_) => "text",
                FieldKind::Secret => "password",
            },
            options: match f.kind {
                FieldKind::Choice(o) => o.to_vec(),
                _ => Vec::new(),
            },
            required: f.required && !(f.is_secret() && stored_secrets.iter().any(|s| s == f.key)),
            placeholder: f.placeholder,
            value: if f.is_secret() {
                String::new()
            } else {
                settings
                    .get(f.key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            },
            is_secret: f.is_secret(),
            stored: stored_secrets.iter().any(|s| s == f.key),
            error: errors.get(f.key).cloned(),
        })
        .collect()
}

async fn new_connection(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let (tid, kind) = path.into_inner();
    let tenant = tenant_for(&ctx, &tid, Need::Edit).await?;
    let d = descriptor(&kind)?;
    let frame = wizard_frame(&ctx, &tenant, None).await?;
    ctx.render(&ConnectionPage {
        frame,
        stepper: Some(Stepper { current: 2 }),
        tabs: None,
        title: d.title,
        name: d.title.to_string(),
        name_error: None,
        fields: field_views(d, &Map::new(), &[], &BTreeMap::new()),
        error: None,
        action: format!("/t/{tid}/integrations/new/{kind}"),
        test_url: format!("/t/{tid}/connectors/{kind}/test"),
        submit_label: "Save and continue",
        read_only: false,
    })
}

async fn wizard_frame(
    ctx: &Ctx,
    tenant: &store::Tenant,
    integration: Option<&Integration>,
) -> Result<Frame, UiError> {
    let mut crumbs = vec![Crumb::link(
        "Integrations",
        format!("/t/{}/integrations", tenant.id),
    )];
    let title = match integration {
        Some(i) if i.status != IntegrationStatus::Draft => {
            return super::integrations::integration_frame(ctx, tenant, i, "Settings").await;
        }
        Some(i) => {
            crumbs.push(Crumb::here(format!("Add integration: {}", i.name)));
            "Add integration"
        }
        None => {
            crumbs.push(Crumb::here("Add integration"));
            "Add integration"
        }
    };
    ctx.frame(title, "integrations", Some(tenant), crumbs).await
}

/// The change a connection form submits: every field (an empty setting clears it, an empty
/// secret keeps the stored one).
fn connection_change(d: &Descriptor, form: &FormData) -> ConnectionChange {
    let mut change = ConnectionChange {
        name: Some(form.text("name")),
        ..Default::default()
    };
    for f in d.fields {
        let to = if f.is_secret() {
            &mut change.secrets
        } else {
            &mut change.settings
        };
        to.insert(f.key.to_string(), form.text(f.key));
    }
    change
}

/// A refused connection's problems as the form shows them: (name, per field, general).
fn form_problems(
    problems: Vec<ManageError>,
) -> (Option<String>, BTreeMap<String, String>, Option<String>) {
    let (mut name, mut fields, mut general) = (None, BTreeMap::new(), None);
    for p in problems {
        match p {
            ManageError::Field("name", m) => name = Some(m),
            ManageError::Field(key, m) => {
                fields.insert(key.to_string(), m);
            }
            other => general = Some(settings::message(&other)),
        }
    }
    (name, fields, general)
}

async fn create_draft(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    let (tid, kind) = path.into_inner();
    let tenant = tenant_for(&ctx, &tid, Need::Edit).await?;
    let d = descriptor(&kind)?;
    let (c, problems) = settings::check_connection(
        d.kind,
        None,
        &connection_change(d, &form),
        state.config.allow_private_targets,
    )?;
    if !problems.is_empty() {
        let (name_error, errors, general) = form_problems(problems);
        let frame = wizard_frame(&ctx, &tenant, None).await?;
        let mut res = ctx.render(&ConnectionPage {
            frame,
            stepper: Some(Stepper { current: 2 }),
            tabs: None,
            title: d.title,
            name: c.name.clone(),
            name_error,
            fields: field_views(d, &c.settings, &[], &errors),
            error: general,
            action: format!("/t/{tid}/integrations/new/{kind}"),
            test_url: format!("/t/{tid}/connectors/{kind}/test"),
            submit_label: "Save and continue",
            read_only: false,
        })?;
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(res);
    }
    // A draft with no rules yet; "ignore" until the policy step is saved (`first_visit`).
    let spec = crate::manage::IntegrationSpec {
        settings: c.settings,
        secrets: c.secrets,
        deprovision: "ignore".into(),
        ..crate::manage::IntegrationSpec::new(&tid, &c.name, d.kind)
    };
    let (integration, _) = crate::manage::create_integration(
        ctx.store(),
        &ctx.actor(),
        spec,
        IntegrationStatus::Draft,
        state.config.allow_private_targets,
        store::now_ms(),
    )
    .await?;
    ctx.redirect(
        &format!("/t/{tid}/integrations/{}/roles", integration.id),
        Some(Flash::success("Connection saved. Now map roles.")),
    )
}

fn stored_secret_keys(ctx: &Ctx, i: &Integration) -> Result<Vec<String>, UiError> {
    Ok(ctx
        .store()
        .integration_secrets(i)?
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, _)| k)
        .collect())
}

/// The wizard stepper for drafts, tabs otherwise.
fn nav_for(
    tenant: &store::Tenant,
    i: &Integration,
    step: u8,
    tab: &'static str,
) -> (Option<Stepper>, Option<Tabs>) {
    if i.status == IntegrationStatus::Draft {
        (Some(Stepper { current: step }), None)
    } else {
        (None, Some(Tabs::new(tenant, i, tab)))
    }
}

async fn edit_connection(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let (tid, iid) = path.into_inner();
    let (tenant, i) = integration_for(&ctx, &tid, &iid, Need::View).await?;
    let d = descriptor(&i.connector_kind)?;
    let stored = stored_secret_keys(&ctx, &i)?;
    let (stepper, tabs) = nav_for(&tenant, &i, 2, "connection");
    let frame = wizard_frame(&ctx, &tenant, Some(&i)).await?;
    ctx.render(&ConnectionPage {
        frame,
        stepper,
        tabs,
        title: d.title,
        name: i.name.clone(),
        name_error: None,
        fields: field_views(d, &i.settings, &stored, &BTreeMap::new()),
        error: None,
        action: format!("/t/{tid}/integrations/{iid}/connection"),
        test_url: format!("/t/{tid}/integrations/{iid}/test"),
        submit_label: if i.status == IntegrationStatus::Draft {
            "Save and continue"
        } else {
            "Save connection"
        },
        read_only: !ctx.viewer.can_edit_tenant(&tid),
    })
}

async fn save_connection(post: EditIntegration) -> UiResult {
    let EditIntegration(ctx, form, tenant, i) = post;
    let tid = i.tenant_id.clone();
    let iid = i.id.clone();
    let d = descriptor(&i.connector_kind)?;
    let stored = ctx.store().integration_secrets(&i)?;
    let change = connection_change(d, &form);
    let allow_private = ctx.state.config.allow_private_targets;
    let (c, problems) =
        settings::check_connection(d.kind, Some((&i, &stored)), &change, allow_private)?;
    if !problems.is_empty() {
        let (name_error, errors, general) = form_problems(problems);
        let (stepper, tabs) = nav_for(&tenant, &i, 2, "connection");
        let frame = wizard_frame(&ctx, &tenant, Some(&i)).await?;
        let stored_keys: Vec<String> = stored.keys().cloned().collect();
        let mut res = ctx.render(&ConnectionPage {
            frame,
            stepper,
            tabs,
            title: d.title,
            name: c.name.clone(),
            name_error,
            fields: field_views(d, &c.settings, &stored_keys, &errors),
            error: general,
            action: format!("/t/{tid}/integrations/{iid}/connection"),
            test_url: format!("/t/{tid}/integrations/{iid}/test"),
            submit_label: if i.status == IntegrationStatus::Draft {
                "Save and continue"
            } else {
                "Save connection"
            },
            read_only: false,
        })?;
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(res);
    }
    settings::update_connection(
        ctx.store(),
        &ctx.actor(),
        &i,
        &change,
        allow_private,
        store::now_ms(),
    )
    .await?;
    saved(
        &ctx,
        &i,
        "roles",
        "connection",
        "Connection settings saved.".into(),
    )
}

#[derive(Template)]
#[template(path = "ui/test_result.html")]
struct TestResult {
    ok: bool,
    message: String,
    /// The target's full error text, behind a toggle.
    details: Option<String>,
}

fn fragment<T: Template>(t: &T) -> UiResult {
    let body = t.render().map_err(|e| UiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(body))
}

async fn test_new(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    let (tid, kind) = path.into_inner();
    tenant_for(&ctx, &tid, Need::Edit).await?;
    let d = descriptor(&kind)?;
    fragment(&test_submitted(&state, d, &form, None).await?)
}

/// The wizard's Test button: the connection the form describes (`current`'s stored secrets
/// where a secret is left blank).
async fn test_submitted(
    state: &AppState,
    d: &Descriptor,
    form: &FormData,
    current: Option<(&Integration, &BTreeMap<String, String>)>,
) -> Result<TestResult, UiError> {
    let t = settings::test_connection(
        state.store(),
        d.kind,
        current,
        &connection_change(d, form),
        state.config.allow_private_targets,
    )
    .await?;
    Ok(TestResult {
        ok: t.ok,
        message: t.message,
        details: t.details,
    })
}

async fn test_existing(post: EditIntegration) -> UiResult {
    let EditIntegration(ctx, form, _, i) = post;
    let d = descriptor(&i.connector_kind)?;
    let stored = ctx.store().integration_secrets(&i)?;
    fragment(&test_submitted(&ctx.state, d, &form, Some((&i, &stored))).await?)
}

/// After a settings form is saved: a draft goes on to the wizard's `next` step, an active
/// integration stays on its `tab` with `message`.
fn saved(ctx: &Ctx, i: &Integration, next: &str, tab: &str, message: String) -> UiResult {
    let base = format!("/t/{}/integrations/{}", i.tenant_id, i.id);
    if i.status == IntegrationStatus::Draft {
        ctx.redirect(&format!("{base}/{next}"), None)
    } else {
        ctx.redirect(&format!("{base}/{tab}"), Some(Flash::success(message)))
    }
}

// ------------------------------------------------------------------ step 3: roles

/// The target's roles, fetched live; the error is shown when they could not be.
async fn target_roles(
    state: &AppState,
    ctx: &Ctx,
    i: &Integration,
) -> (Vec<String>, Option<String>) {
    settings::target_roles(ctx.store(), i, state.config.allow_private_targets).await
}

#[derive(Template)]
#[template(path = "ui/wizard_roles.html")]
struct RolesPage {
    frame: Frame,
    stepper: Option<Stepper>,
    tabs: Option<Tabs>,
    action: String,
    preview_url: String,
    roles: Vec<String>,
    roles_error: Option<String>,
    default_role: String,
    default_error: Option<String>,
    rows: Vec<RuleRow>,
    error: Option<String>,
    submit_label: &'static str,
    read_only: bool,
    title: String,
    /// Custom attributes (extension schemas), below the mapping (`ui/extensions.rs`).
    extensions: super::extensions::ExtensionsSection,
    /// The roles themselves, where the integration defines them (Brevo's privilege bundles).
    bundles: Option<BundlesField>,
    /// How many users the stored rules would change now (an integration past its setup), with
    /// **Apply to all now** beside it.
    would_change: Option<usize>,
    apply_all_url: String,
}

/// The setting that defines a target's roles, edited on the Roles step.
struct BundlesField {
    label: &'static str,
    help: &'static str,
    value: String,
    error: Option<String>,
}

async fn roles_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let (tid, iid) = path.into_inner();
    let (tenant, i) = integration_for(&ctx, &tid, &iid, Need::View).await?;
    let section = super::extensions::ExtensionsSection::new(&ctx, &i);
    roles_page(&ctx, &state, &tenant, &i, section, StatusCode::OK).await
}

/// The Roles page with the stored rules and the given extensions section (which may carry
/// that form's error).
pub(super) async fn roles_page(
    ctx: &Ctx,
    state: &AppState,
    tenant: &store::Tenant,
    i: &Integration,
    extensions: super::extensions::ExtensionsSection,
    status: StatusCode,
) -> UiResult {
    let rows = settings::stored_rules(ctx.store(), i).await?;
    render_roles(
        ctx,
        state,
        tenant,
        i,
        rows,
        i.default_role.clone().unwrap_or_default(),
        None,
        None,
        status,
        Some(extensions),
        None,
    )
    .await
}

#[allow(clippy::too_many_arguments, reason = "one page, its fields")]
async fn render_roles(
    ctx: &Ctx,
    state: &AppState,
    tenant: &store::Tenant,
    i: &Integration,
    rows: Vec<RuleRow>,
    default_role: String,
    default_error: Option<String>,
    error: Option<String>,
    status: StatusCode,
    extensions: Option<super::extensions::ExtensionsSection>,
    // A submitted role definition and why it was refused.
    bundles_submitted: Option<(String, String)>,
) -> UiResult {
    let (roles, roles_error) = target_roles(state, ctx, i).await;
    let bundles = settings::bundles_field(i).map(|f| {
        let (value, error) = match bundles_submitted {
            Some((v, e)) => (v, Some(e)),
            None => (
                i.settings
                    .get(f.key)
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                None,
            ),
        };
        BundlesField {
            label: f.label,
            help: f.help,
            value,
            error,
        }
    });
    let (stepper, tabs) = nav_for(tenant, i, 3, "roles");
    let frame = wizard_frame(ctx, tenant, Some(i)).await?;
    let base = format!("/t/{}/integrations/{}", tenant.id, i.id);
    // Only for the stored rules: a refused form shows what was typed, not what is in force.
    let would_change = if i.status != IntegrationStatus::Draft && status == StatusCode::OK {
        super::reconcile::would_change_count(ctx, i).await
    } else {
        None
    };
    let mut res = ctx.render(&RolesPage {
        would_change,
        apply_all_url: format!("{base}/reconcile/apply-all"),
        frame,
        stepper,
        tabs,
        action: format!("{base}/roles"),
        preview_url: format!("{base}/roles/preview"),
        roles,
        roles_error,
        default_role,
        default_error,
        rows,
        error,
        submit_label: if i.status == IntegrationStatus::Draft {
            "Save and continue"
        } else {
            "Save roles"
        },
        read_only: !ctx.viewer.can_edit_tenant(&tenant.id),
        title: connector_title(&i.connector_kind),
        extensions: extensions.unwrap_or_else(|| super::extensions::ExtensionsSection::new(ctx, i)),
        bundles,
    })?;
    *res.status_mut() = status;
    Ok(res)
}

/// Reads the mapping table: rows in order, blank rows dropped, each checked against the
/// integration's User type `users` (so filters may name its extension attributes).
fn read_rules(
    form: &FormData,
    users: &scim_core::schema::ResourceType,
) -> (Vec<RuleRow>, Vec<(RuleRow, Rule)>) {
    let values = form.all("rule_value");
    let roles = form.all("rule_role");
    let rows = form
        .all("rule_kind")
        .iter()
        .enumerate()
        .map(|(idx, kind)| {
            RuleRow::new(
                kind,
                values.get(idx).copied().unwrap_or_default(),
                roles.get(idx).copied().unwrap_or_default(),
            )
        })
        .collect();
    settings::check_rules(rows, users)
}

async fn save_roles(post: EditIntegration) -> UiResult {
    let EditIntegration(ctx, form, tenant, i) = post;
    let allow_private = ctx.state.config.allow_private_targets;
    let bundles = settings::bundles_field(&i).map(|f| (f, form.text(f.key)));
    let change = settings::RolesChange {
        default_role: form.text("default_role"),
        rules: read_rules(&form, &provisioning::inputs::user_type(&i)).0,
        bundles: bundles.as_ref().map(|(_, text)| text.clone()),
    };
    // The roles themselves first (rules and the default role name them).
    let probe =
        match settings::with_bundles(ctx.store(), &i, change.bundles.as_deref(), allow_private) {
            Ok(probe) => probe,
            Err(e @ ManageError::Field(..)) => {
                let (label, text) = bundles.map(|(f, text)| (f.label, text)).unwrap_or_default();
                return render_roles(
                    &ctx,
                    &ctx.state,
                    &tenant,
                    &i,
                    change.rules,
                    change.default_role,
                    None,
                    Some(format!("The {label} need attention.")),
                    StatusCode::UNPROCESSABLE_ENTITY,
                    None,
                    Some((text, settings::message(&e))),
                )
                .await;
            }
            Err(e) => return Err(e.into()),
        };
    // (When the roles cannot be listed, the names are taken as typed; Brevo's roles are the
    // bundles on this same form.)
    let (known_roles, _) = target_roles(&ctx.state, &ctx, &probe).await;
    let check = settings::check_roles(&probe, &change, &known_roles);
    if check.problem().is_some() {
        let error = Some("Some rules need attention: see the marked rows.".to_string())
            .filter(|_| check.rows.iter().any(|r| r.error.is_some()));
        return render_roles(
            &ctx,
            &ctx.state,
            &tenant,
            &i,
            check.rows,
            change.default_role,
            check.default_error,
            error,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            None,
        )
        .await;
    }
    settings::update_roles(
        ctx.store(),
        &ctx.actor(),
        &i,
        &change,
        &known_roles,
        allow_private,
        store::now_ms(),
    )
    .await?;
    // The Roles page it returns to says how many users the new rules would change.
    saved(&ctx, &i, "policy", "roles", "Role mappings saved.".into())
}

struct PreviewRow {
    n: usize,
    describe: String,
    role: String,
    matches: usize,
    decides: usize,
    sample: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "ui/roles_preview.html")]
struct PreviewFragment {
    users: usize,
    truncated: bool,
    rows: Vec<PreviewRow>,
    default_role: String,
    default_count: usize,
    removed: usize,
}

async fn preview_roles(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    let (tid, iid) = path.into_inner();
    let (_, i) = integration_for(&ctx, &tid, &iid, Need::View).await?;
    let default_role = form.text("default_role");
    let users = provisioning::inputs::user_type(&i);
    let (rows, parsed) = read_rules(&form, &users);
    let mut candidate = i.clone();
    candidate.default_role = Some(default_role.clone()).filter(|d| !d.is_empty());
    let policy = provisioning::inputs::policy_of(&candidate).map_err(UiError::BadRequest)?;
    let rules = provisioning::planner::IntegrationRules {
        rules: parsed.iter().map(|(_, r)| r.clone()).collect(),
        policy,
        users,
    };
    let caps = caps_of(&i)?;
    let preview = provisioning::preview::preview_rules(ctx.store(), &iid, &rules, &caps).await?;
    let mut parsed_iter = parsed.iter().zip(preview.rules.iter());
    let out_rows = rows
        .iter()
        .enumerate()
        .map(|(n, row)| {
            let (matches, decides, sample, describe) = if row.error.is_none() {
                match parsed_iter.next() {
                    Some(((_, rule), p)) => {
                        (p.matches, p.decides, p.sample.join(", "), rule.describe())
                    }
                    None => (0, 0, String::new(), row.value.clone()),
                }
            } else {
                (0, 0, String::new(), row.value.clone())
            };
            PreviewRow {
                n: n + 1,
                describe,
                role: row.role.clone(),
                matches,
                decides,
                sample,
                error: row.error.clone(),
            }
        })
        .collect();
    fragment(&PreviewFragment {
        users: preview.users,
        truncated: preview.truncated,
        rows: out_rows,
        default_role,
        default_count: preview.default,
        removed: preview.removed,
    })
}

// ------------------------------------------------------------------ step 4: policy

/// The Policy form's fields, as typed (kept on a form error).
#[derive(Debug, Clone)]
struct PolicyForm {
    /// `role`, `deactivate`, `delete` or `ignore`.
    deprovision: String,
    deprovision_role: String,
    /// `auto`, `default`, `deprovision` or `keep`.
    unmatched: String,
    /// `assignment` or `groups`.
    lifecycle: String,
    /// `none`, `ruled` or `all`.
    group_push: String,
    guard_on: bool,
    guard_users: String,
    guard_percent: String,
    mode: IntegrationMode,
}

impl PolicyForm {
    fn of(i: &Integration) -> Self {
        let p = provisioning::inputs::policy_of(i).unwrap_or_default();
        let (deprovision, deprovision_role) = match &p.deprovision {
            provisioning::planner::Deprovision::Role(r) => ("role".to_string(), r.clone()),
            other => (other.to_string(), String::new()),
        };
        let (guard_on, guard_users, guard_percent) = match p.guard {
            provisioning::planner::DeleteGuard::Off => (false, "10".into(), "20".into()),
            provisioning::planner::DeleteGuard::On { users, percent } => {
                (true, users.to_string(), percent.to_string())
            }
        };
        Self {
            deprovision,
            deprovision_role,
            unmatched: p.unmatched.map_or("auto", |u| u.as_str()).to_string(),
            lifecycle: p.lifecycle.as_str().to_string(),
            group_push: p.group_push.as_str().to_string(),
            guard_on,
            guard_users,
            guard_percent,
            mode: i.mode,
        }
    }

    fn read(form: &FormData) -> Self {
        Self {
            deprovision: form.text("deprovision"),
            deprovision_role: form.text("deprovision_role"),
            unmatched: form.text("unmatched"),
            lifecycle: form.text("lifecycle"),
            group_push: form.text("group_push"),
            guard_on: form.checked("guard_on"),
            guard_users: form.text("guard_users"),
            guard_percent: form.text("guard_percent"),
            mode: match form.text("mode").as_str() {
                "dry_run" => IntegrationMode::DryRun,
                _ => IntegrationMode::Live,
            },
        }
    }

    /// The change these fields describe, in the stored words (checked by
    /// `integration_settings::check_policy`).
    fn change(&self) -> PolicyChange {
        PolicyChange {
            deprovision: if self.deprovision == "role" {
                format!("role:{}", self.deprovision_role.trim())
            } else {
                self.deprovision.clone()
            },
            unmatched: self.unmatched.clone(),
            lifecycle: self.lifecycle.clone(),
            push_groups: self.group_push.clone(),
            delete_guard: if self.guard_on {
                format!("{},{}%", self.guard_users, self.guard_percent)
            } else {
                "off".into()
            },
            mode: self.mode,
        }
    }
}

#[derive(Template)]
#[template(path = "ui/wizard_policy.html")]
struct PolicyPage {
    frame: Frame,
    stepper: Option<Stepper>,
    tabs: Option<Tabs>,
    action: String,
    roles: Vec<String>,
    roles_error: Option<String>,
    /// The no-access role chosen for the admin on a first visit, said in words.
    suggested: Option<String>,
    /// No role looks like "no access": the admin must choose (nothing preselected).
    choose_explicitly: bool,
    f: PolicyForm,
    mode: &'static str,
    has_default_role: bool,
    default_role: String,
    can_deactivate: bool,
    has_groups: bool,
    error: Option<String>,
    submit_label: &'static str,
    read_only: bool,
    title: String,
    /// A dry-run integration past its setup: what switching to live would do, against the
    /// target's imported accounts (`None` before an import).
    going_live: Option<String>,
    recon_href: String,
}

async fn policy_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let (tid, iid) = path.into_inner();
    let (tenant, i) = integration_for(&ctx, &tid, &iid, Need::View).await?;
    let f = PolicyForm::of(&i);
    render_policy(&ctx, &state, &tenant, &i, f, None, StatusCode::OK).await
}

/// A draft's deprovision policy is the wizard's placeholder until its Policy step is saved:
/// the step then suggests the target's no-access role, or leaves the choice to the admin.
fn first_visit(i: &Integration, f: &PolicyForm) -> bool {
    i.status == IntegrationStatus::Draft && f.deprovision == "ignore"
}

async fn render_policy(
    ctx: &Ctx,
    state: &AppState,
    tenant: &store::Tenant,
    i: &Integration,
    f: PolicyForm,
    error: Option<String>,
    status: StatusCode,
) -> UiResult {
    let (roles, roles_error) = target_roles(state, ctx, i).await;
    let mut f = f;
    let mut suggested = None;
    if error.is_none() && first_visit(i, &f) {
        match provisioning::planner::suggest_no_access_role(&roles) {
            Some(r) => {
                f.deprovision = "role".into();
                f.deprovision_role = r.to_owned();
                suggested = Some(r.to_owned());
            }
            None => f.deprovision = String::new(),
        }
    }
    let (stepper, tabs) = nav_for(tenant, i, 4, "policy");
    let frame = wizard_frame(ctx, tenant, Some(i)).await?;
    let caps = caps_of(i)?;
    let going_live = if i.status != IntegrationStatus::Draft && i.mode == IntegrationMode::DryRun {
        super::reconcile::plan_sentence(ctx, i).await
    } else {
        None
    };
    let mut res = ctx.render(&PolicyPage {
        going_live,
        recon_href: format!("/t/{}/integrations/{}/reconcile", tenant.id, i.id),
        frame,
        stepper,
        tabs,
        action: format!("/t/{}/integrations/{}/policy", tenant.id, i.id),
        choose_explicitly: f.deprovision.is_empty() && error.is_none(),
        suggested,
        roles,
        roles_error,
        mode: f.mode.as_str(),
        f,
        has_default_role: i.default_role.is_some(),
        default_role: i.default_role.clone().unwrap_or_default(),
        can_deactivate: caps.can_deactivate,
        has_groups: caps.groups,
        error,
        submit_label: if i.status == IntegrationStatus::Draft {
            "Save and continue"
        } else {
            "Save policy"
        },
        read_only: !ctx.viewer.can_edit_tenant(&tenant.id),
        title: connector_title(&i.connector_kind),
    })?;
    *res.status_mut() = status;
    Ok(res)
}

async fn save_policy(post: EditIntegration) -> UiResult {
    let EditIntegration(ctx, form, tenant, i) = post;
    let f = PolicyForm::read(&form);
    let done = match settings::update_policy(
        ctx.store(),
        &ctx.actor(),
        &i,
        &f.change(),
        ctx.state.config.allow_private_targets,
        store::now_ms(),
    )
    .await
    {
        Ok(done) => done,
        Err(e @ (ManageError::Field(..) | ManageError::Invalid(_))) => {
            return render_policy(
                &ctx,
                &ctx.state,
                &tenant,
                &i,
                f,
                Some(settings::message(&e)),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        Err(e) => return Err(e.into()),
    };
    let msg = match done.went_live {
        Some((adopted, queued)) => {
            let adopted = if adopted > 0 {
                format!(" {adopted} existing accounts were adopted (linked, not created again).")
            } else {
                String::new()
            };
            format!(
                "Policy saved. Now live: {queued} known users are being synced to the target app.{adopted}"
            )
        }
        None => "Policy saved.".to_string(),
    };
    saved(&ctx, &i, "activate", "policy", msg)
}

// ------------------------------------------------------------------ step 5: activate

/// Readable deprovisioning policy.
pub fn describe_policy(policy: &str) -> String {
    match provisioning::planner::Deprovision::parse(policy) {
        Ok(p) => {
            let text = p.describe();
            let mut c = text.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        }
        Err(_) => policy.to_string(),
    }
}

#[derive(Template)]
#[template(path = "ui/wizard_activate.html")]
struct ActivatePage {
    frame: Frame,
    stepper: Stepper,
    integration: Integration,
    connector: String,
    default_role: String,
    /// Each rule in words, highest priority first.
    rules: Vec<String>,
    /// Each policy in words: (what, choice).
    policies: Vec<(&'static str, String)>,
    mode: &'static str,
    action: String,
    /// After activation: the token, shown once.
    token: Option<String>,
    scim_url: String,
    selftest_url: String,
    problems: Vec<String>,
    /// Why the identity provider may not reach the Tenant URL (http, loopback).
    url_warning: Option<String>,
    /// A question to confirm before activating (an integration that would change nobody).
    confirm: Option<String>,
    /// The plan against the imported target state, in one sentence (after an import).
    diff: Option<String>,
    recon_href: String,
}

/// Why Entra would refuse `scim_url`, in words with the setting to change: it must be https
/// and reachable from Microsoft's cloud, so not a loopback or private address.
fn tenant_url_warning(scim_url: &str) -> Option<String> {
    let url = reqwest::Url::parse(scim_url).ok()?;
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
    let local = host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| {
            ip.is_loopback() || ip.is_unspecified() || target_http::forbidden_reason(ip).is_some()
        });
    let why = match (url.scheme() == "https", local) {
        (true, false) => return None,
        (false, true) => "is http and a local address",
        (false, false) => "is http, not https",
        (true, true) => "is a local address",
    };
    Some(format!(
        "The Tenant URL {scim_url} {why}: Microsoft Entra ID refuses it (and Okta cannot reach \
         it). Set SCIMBRIDGE_PUBLIC_URL to the https address under which the identity provider \
         reaches this server, and restart it."
    ))
}

async fn review(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> UiResult {
    let ctx = Ctx::load(&req, &state).await?;
    let (tid, iid) = path.into_inner();
    let (tenant, i) = integration_for(&ctx, &tid, &iid, Need::Edit).await?;
    if i.status != IntegrationStatus::Draft {
        return ctx.redirect(&format!("/t/{tid}/integrations/{iid}"), None);
    }
    render_activate(&ctx, &state, &tenant, i, None).await
}

async fn render_activate(
    ctx: &Ctx,
    state: &AppState,
    tenant: &store::Tenant,
    i: Integration,
    token: Option<String>,
) -> UiResult {
    let (rules, policies, problems) = review_of(ctx, &i).await?;
    let confirm = provisioning::inputs::policy_of(&i)
        .ok()
        .filter(|p| rules_are_empty_and_unmatched_keep(p, &rules))
        .map(|_| {
            "No mapping rule, and users no rule matches keep what they have: activating \
             changes no account's role. Activate anyway?"
                .to_string()
        });
    let frame = if token.is_some() {
        ctx.frame(
            "Integration activated",
            "integrations",
            Some(tenant),
            crumbs(tenant, &i, "Activated"),
        )
        .await?
    } else {
        wizard_frame(ctx, tenant, Some(&i)).await?
    };
    let base = format!("/t/{}/integrations/{}", tenant.id, i.id);
    let diff = if token.is_none() {
        super::reconcile::plan_sentence(ctx, &i).await
    } else {
        None
    };
    ctx.render(&ActivatePage {
        diff,
        recon_href: format!("{base}/reconcile"),
        frame,
        stepper: Stepper { current: 5 },
        connector: connector_title(&i.connector_kind),
        default_role: i.default_role.clone().unwrap_or_default(),
        rules,
        policies,
        mode: if i.mode == IntegrationMode::Live {
            "Live"
        } else {
            "Dry run"
        },
        action: format!("{base}/activate"),
        url_warning: tenant_url_warning(&state.config.scim_url(&i.id)),
        confirm,
        scim_url: state.config.scim_url(&i.id),
        selftest_url: format!("{base}/selftest"),
        token,
        problems,
        integration: i,
    })
}

/// Whether activating would leave every role as it is: no rule, and "keep" for users no rule
/// matches.
fn rules_are_empty_and_unmatched_keep(p: &provisioning::planner::Policy, rules: &[String]) -> bool {
    rules.is_empty() && p.unmatched() == provisioning::planner::Unmatched::Keep
}

/// The rules and policies in words, and what stops activation (one check for the review page
/// and the activate action).
pub async fn review_of(
    ctx: &Ctx,
    i: &Integration,
) -> Result<(Vec<String>, Vec<(&'static str, String)>, Vec<String>), UiError> {
    let problems = crate::manage::activation_problems(ctx.store(), i).await?;
    let (rules, policy) = match provisioning::inputs::load_rules(ctx.store(), i).await {
        Ok(r) => (
            r.rules
                .iter()
                .map(|rule| format!("{} → {}", rule.describe(), rule.target_role))
                .collect::<Vec<_>>(),
            Some(r.policy),
        ),
        // `problems` says why.
        Err(_) => (Vec::new(), None),
    };
    let mut policies = Vec::new();
    if let Some(p) = &policy {
        policies = vec![
            (
                "When a user is deactivated",
                describe_policy(&p.deprovision.to_string()),
            ),
            (
                "When no rule matches",
                match p.unmatched() {
                    provisioning::planner::Unmatched::Default => "give the default role".into(),
                    provisioning::planner::Unmatched::Deprovision => {
                        format!("remove access ({})", p.deprovision.removal().describe())
                    }
                    provisioning::planner::Unmatched::Keep => "keep the role they have".into(),
                },
            ),
            (
                "An account exists",
                match p.lifecycle {
                    provisioning::planner::Lifecycle::Assignment => {
                        "while the user is assigned".into()
                    }
                    provisioning::planner::Lifecycle::Groups => {
                        "only while the user is in a mapped group".into()
                    }
                },
            ),
            ("Deletion guard", p.guard.describe()),
        ];
    }
    Ok((rules, policies, problems))
}

async fn activate(post: EditIntegration) -> UiResult {
    let EditIntegration(ctx, _, tenant, i) = post;
    let tid = i.tenant_id.clone();
    let iid = i.id.clone();
    if i.status != IntegrationStatus::Draft {
        return ctx.redirect(
            &format!("/t/{tid}/integrations/{iid}"),
            Some(Flash::error(
                "This integration is already active. Issue more tokens on its Tokens tab.",
            )),
        );
    }
    if let Some(problem) = review_of(&ctx, &i).await?.2.into_iter().next() {
        return ctx.redirect(
            &format!("/t/{tid}/integrations/{iid}/roles"),
            Some(Flash::error(problem)),
        );
    }
    let issued = crate::manage::activate(ctx.store(), &ctx.actor(), &i, store::now_ms()).await?;
    let i = ctx
        .store()
        .get_integration(&tid, &iid)
        .await?
        .ok_or(UiError::NotFound)?;
    // Rendered in the POST response (never stored, never in a URL): the only time it shows.
    render_activate(&ctx, &ctx.state, &tenant, i, Some(issued.token)).await
}

#[derive(Template)]
#[template(path = "ui/selftest.html")]
struct SelfTestFragment {
    checks: Vec<(bool, String)>,
}

/// Calls our own SCIM endpoint the way Entra's "Test Connection" does: discovery, then a
/// `userName eq` query for a user that does not exist.
async fn self_test(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> UiResult {
    let form = FormData::from_bytes(&body);
    let ctx = Ctx::load_post(&req, &state, &form).await?;
    let (tid, iid) = path.into_inner();
    integration_for(&ctx, &tid, &iid, Need::Edit).await?;
    let token = form.text("token");
    // Talk to this process directly: the public URL may only be reachable from outside.
    let base = format!("http://{}/scim/v2/{iid}", local_addr(&state.config.bind));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| UiError::Internal(e.to_string()))?;
    let probe = format!(
        "scimbridge-selftest-{}@example.invalid",
        super::session::random_token(6)
    );
    let calls = [
        (
            "GET /ServiceProviderConfig",
            format!("{base}/ServiceProviderConfig"),
        ),
        (
            "GET /Users?filter=userName eq … (Entra's Test Connection)",
            format!(
                "{base}/Users?filter={}",
                urlencoding::encode(&format!("userName eq \"{probe}\""))
            ),
        ),
        ("GET /Groups?count=1", format!("{base}/Groups?count=1")),
    ];
    let mut checks = Vec::new();
    for (label, url) in calls {
        let res = client.get(&url).bearer_auth(&token).send().await;
        checks.push(match res {
            Ok(r) if r.status().is_success() => {
                (true, format!("{label}: {} OK", r.status().as_u16()))
            }
            Ok(r) if r.status().as_u16() == 401 => (
                false,
                format!("{label}: 401, the token was refused. Paste the token exactly as shown."),
            ),
            Ok(r) => (false, format!("{label}: HTTP {}", r.status().as_u16())),
            Err(e) => (false, format!("{label}: could not connect ({e})")),
        });
    }
    fragment(&SelfTestFragment { checks })
}

/// The address to reach this process on: the bind address, with a wildcard host replaced by
/// loopback.
fn local_addr(bind: &str) -> String {
    match bind.rsplit_once(':') {
        Some(("0.0.0.0", port)) => format!("127.0.0.1:{port}"),
        Some(("[::]", port)) => format!("[::1]:{port}"),
        _ => bind.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_tenant_url_must_be_https_and_public() {
        use super::tenant_url_warning as w;
        assert_eq!(w("https://scim.contoso.com/scim/v2/i1"), None);
        for (url, why) in [
            ("http://scim.contoso.com/scim/v2/i1", "is http, not https"),
            (
                "http://127.0.0.1:8080/scim/v2/i1",
                "is http and a local address",
            ),
            ("https://localhost/scim/v2/i1", "is a local address"),
            ("https://[::1]/scim/v2/i1", "is a local address"),
            ("https://10.0.0.5/scim/v2/i1", "is a local address"),
        ] {
            let text = w(url).unwrap_or_default();
            assert!(
                text.contains(why) && text.contains("SCIMBRIDGE_PUBLIC_URL"),
                "{url}: {text}"
            );
        }
    }

    use super::*;

    #[test]
    fn stepper_marks_steps() {
        let s = Stepper { current: 3 }.items();
        assert_eq!(s[0], (1, "Connector", "done"));
        assert_eq!(s[2], (3, "Roles", "current"));
        assert_eq!(s[4], (5, "Activate", "todo"));
    }

    #[test]
    fn rules_are_read_in_order_and_checked() {
        let form = FormData::parse(
            b"rule_kind=group&rule_value=Sales&rule_role=Sales+Manager&\
              rule_kind=filter&rule_value=department+eq&rule_role=Admin&\
              rule_kind=app_role&rule_value=&rule_role=&\
              rule_kind=app_role&rule_value=Admin&rule_role=",
        );
        let (rows, parsed) = read_rules(&form, &scim_core::schema::ResourceType::user());
        assert_eq!(rows.len(), 3, "the blank row is dropped");
        assert_eq!(parsed.len(), 1);
        assert!(
            rows[1]
                .error
                .as_deref()
                .unwrap_or_default()
                .starts_with("Not a valid SCIM filter")
        );
        assert_eq!(rows[2].error.as_deref(), Some("Choose the target role."));
    }

    #[test]
    fn policies_read_well() {
        assert_eq!(
            describe_policy("role:No access"),
            "Move the account to the role \"No access\""
        );
        assert_eq!(
            describe_policy("delete"),
            "Delete the account in the target app"
        );
        assert_eq!(describe_policy("ignore"), "Leave the account unchanged");
        assert_eq!(local_addr("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(local_addr("127.0.0.1:9"), "127.0.0.1:9");
    }
}
