//! Applies SCIM operations to one integration's users and groups.
//!
//! Every write stores the new state and queues a job for each affected subject in one
//! transaction, so an accepted change is never lost and never half-written. Reads are answered
//! from our own store; filters on indexed attributes run in SQL, the rest in `scim-core`.

use crate::error::{DirectoryError, Result};
use crate::page_walks::{Continuation, ListWalk, Listing, PageWalks};
use chrono::{DateTime, TimeZone, Utc};
use scim_core::discovery::Capabilities;
use scim_core::filter::{AttrPath, Filter, matches, parse_filter, validate_filter};
use scim_core::messages::{ListResponse, PatchOp, SearchRequest, SortOrder};
use scim_core::patch::{PatchNotes, apply_patch};
use scim_core::path::parse_attr_path;
use scim_core::projection::Projection;
use scim_core::resource::{self, Meta};
use scim_core::schema::ResourceType;
use scim_core::sort::sort_resources;
use scim_core::{ScimError, ScimType};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use store::Store;
use store::scim::{GroupRow, ListQuery, MemberRow, RowKey, SortKey, UserRow};
use store::{MemberType, SubjectKind};

/// Which integration a request acts on; obtained from an authenticated token only.
#[derive(Debug, Clone)]
pub struct IntegrationScope {
    pub tenant_id: String,
    pub integration_id: String,
    /// `<public url>/scim/v2/<integration id>`, for `meta.location` and `$ref`.
    pub base_url: String,
    /// The integration's User type ([`crate::schemas::user_type`]): built once per token
    /// lookup and shared, so a request pays no query and no parse for it.
    pub user_type: Arc<ResourceType>,
}

impl IntegrationScope {
    /// A scope whose User type is the standard one (core + Enterprise, no extensions).
    pub fn new(tenant_id: String, integration_id: String, base_url: String) -> Self {
        Self {
            tenant_id,
            integration_id,
            base_url,
            user_type: Arc::new(ResourceType::user()),
        }
    }
}

/// A rendered resource and what the HTTP layer needs around it.
#[derive(Debug, Clone)]
pub struct Resource {
    pub body: Map<String, Value>,
    /// Weak ETag, `W/"<version>"`.
    pub etag: String,
    pub location: String,
    /// userName or displayName, for logs.
    pub name: String,
}

/// Default page size when the client sends no `count`.
pub const DEFAULT_PAGE_SIZE: u64 = 100;

/// The directory service.
#[derive(Clone)]
pub struct Directory {
    store: Store,
    users: ResourceType,
    groups: ResourceType,
    caps: Capabilities,
    walks: Arc<PageWalks>,
}

const SUBJECT_USER: SubjectKind = SubjectKind::User;
const SUBJECT_GROUP: SubjectKind = SubjectKind::Group;

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn ts(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Enqueues a job for each user id in `users` (in the caller's transaction): roles can follow
/// group membership, so a membership change re-syncs the users it touched.
async fn enqueue_users(
    txn: &store::WriteTxn,
    integration: &str,
    users: &[&String],
    corr: Option<&str>,
    now: i64,
) -> store::Result<()> {
    for user in users {
        store::jobs::enqueue_job(txn, integration, SUBJECT_USER, user, corr, now).await?;
    }
    Ok(())
}

fn parse_stored(json: &str) -> Result<Map<String, Value>> {
    serde_json::from_str(json).map_err(|e| {
        DirectoryError::Store(store::StoreError::InvalidData(format!(
            "stored resource: {e}"
        )))
    })
}

fn to_json(attrs: &Map<String, Value>) -> String {
    Value::Object(attrs.clone()).to_string()
}

/// `If-Match`: `*` or a list of ETags; a mismatch is 412.
fn check_if_match(if_match: Option<&str>, version: i64) -> Result<()> {
    let Some(header) = if_match else {
        return Ok(());
    };
    let current = format!("W/\"{version}\"");
    let ok = header.split(',').map(str::trim).any(|t| {
        t == "*" || t == current || t.trim_start_matches("W/") == format!("\"{version}\"")
    });
    if ok {
        Ok(())
    } else {
        Err(ScimError::precondition_failed(format!(
            "If-Match {header} does not match the current version {current}"
        ))
        .into())
    }
}

impl Directory {
    /// A directory over `store` with the standard User (with Enterprise) and Group types.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            users: ResourceType::user(),
            groups: ResourceType::group(),
            caps: Capabilities::default(),
            walks: Arc::default(),
        }
    }

    /// [`Store::write`] of a change to the integration's users or groups: once it is done
    /// (committed or not), the integration's remembered page walks are void.
    async fn write<T, F, Fut>(&self, integration_id: &str, unit: F) -> Result<T>
    where
        F: Fn(Arc<store::WriteTxn>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let written = self.store.write(unit).await;
        self.walks.written(integration_id);
        written
    }

    /// The standard User resource type (an integration with extension schemas serves
    /// [`IntegrationScope::user_type`] instead).
    pub fn user_type(&self) -> &ResourceType {
        &self.users
    }

    /// The Group resource type served.
    pub fn group_type(&self) -> &ResourceType {
        &self.groups
    }

    /// What the server supports (for `/ServiceProviderConfig`).
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// The store underneath.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// How many list pages continued a client's walk from where its previous page ended
    /// instead of skipping rows (see [`crate::page_walks`]).
    pub fn resumed_page_walks(&self) -> u64 {
        self.walks.resumed()
    }

    fn user_location(s: &IntegrationScope, id: &str) -> String {
        format!("{}/Users/{id}", s.base_url)
    }

    fn group_location(s: &IntegrationScope, id: &str) -> String {
        format!("{}/Groups/{id}", s.base_url)
    }

    fn render_user(&self, s: &IntegrationScope, row: &UserRow) -> Result<Resource> {
        let attrs = parse_stored(&row.resource)?;
        let meta = Meta {
            created: ts(row.created_at),
            last_modified: ts(row.updated_at),
            location: Self::user_location(s, &row.id),
            version: row.version,
        };
        Ok(Resource {
            body: resource::render(&s.user_type, &row.id, attrs, &meta),
            etag: meta.etag(),
            location: meta.location,
            name: row.user_name.clone(),
        })
    }

    fn render_group(
        &self,
        s: &IntegrationScope,
        row: &GroupRow,
        members: Option<&[MemberRow]>,
    ) -> Result<Resource> {
        let mut attrs = parse_stored(&row.resource)?;
        if let Some(members) = members
            && !members.is_empty()
        {
            let list = members
                .iter()
                .map(|m| {
                    let mut o = Map::new();
                    o.insert("value".into(), Value::String(m.member_id.clone()));
                    let path = if m.member_type == MemberType::Group {
                        "Groups"
                    } else {
                        "Users"
                    };
                    o.insert(
                        "$ref".into(),
                        Value::String(format!("{}/{path}/{}", s.base_url, m.member_id)),
                    );
                    o.insert(
                        "type".into(),
                        Value::String(m.member_type.as_str().to_string()),
                    );
                    if let Some(d) = &m.display {
                        o.insert("display".into(), Value::String(d.clone()));
                    }
                    Value::Object(o)
                })
                .collect();
            attrs.insert("members".into(), Value::Array(list));
        }
        let meta = Meta {
            created: ts(row.created_at),
            last_modified: ts(row.updated_at),
            location: Self::group_location(s, &row.id),
            version: row.version,
        };
        Ok(Resource {
            body: resource::render(&self.groups, &row.id, attrs, &meta),
            etag: meta.etag(),
            location: meta.location,
            name: row.display_name.clone(),
        })
    }

    /// Stored form of a user's attributes. `password` (writeOnly, returned never) is dropped:
    /// scimbridge never needs it (targets get random passwords; staff sign in by SSO), so it
    /// is neither stored nor returned. A missing `active` is stored as `true`, as the indexed
    /// column says, so SQL and in-memory filters agree.
    fn stored_attrs(mut attrs: Map<String, Value>) -> Map<String, Value> {
        attrs.shift_remove("password");
        if !attrs.contains_key("active") {
            attrs.insert("active".into(), Value::Bool(true));
        }
        attrs
    }

    fn user_row(
        &self,
        s: &IntegrationScope,
        id: String,
        attrs: &Map<String, Value>,
        created_at: i64,
        version: i64,
    ) -> Result<UserRow> {
        let user_name = resource::user_name(attrs)
            .ok_or_else(|| ScimError::invalid_value("'userName' is required"))?
            .to_string();
        let text = |k: &str| attrs.get(k).and_then(Value::as_str).map(str::to_string);
        Ok(UserRow {
            id,
            integration_id: s.integration_id.clone(),
            user_name,
            external_id: text("externalId"),
            display_name: text("displayName"),
            // A user without `active` is provisioned as active (Entra always sends it).
            active: attrs.get("active").and_then(Value::as_bool).unwrap_or(true),
            resource: to_json(&Self::stored_attrs(attrs.clone())),
            version,
            created_at,
            updated_at: now_ms().max(created_at),
        })
    }

    // ---------------------------------------------------------------- users

    /// `POST /Users`.
    pub async fn create_user(
        &self,
        s: &IntegrationScope,
        body: &Value,
        correlation_id: &str,
    ) -> Result<Resource> {
        let attrs = resource::parse_create(&s.user_type, body)?;
        let now = now_ms();
        let row = self.user_row(s, store::new_id(), &attrs, now, 1)?;
        let corr = correlation_id.to_string();
        let row = self
            .write(&s.integration_id, move |txn| {
                // Clones: the unit may run twice (see `Store::write`).
                let (row, corr) = (row.clone(), corr.clone());
                async move {
                    store::scim::insert_user_queuing_job(&*txn, &row, Some(&corr), now)
                        .await
                        .map_err(|e| uniqueness(e, "userName", &row.user_name))?;
                    Ok::<_, DirectoryError>(row)
                }
            })
            .await?;
        self.render_user(s, &row)
    }

    async fn load_user(&self, s: &IntegrationScope, id: &str) -> Result<UserRow> {
        self.store
            .get_user(&s.integration_id, id)
            .await?
            .ok_or_else(|| ScimError::not_found(format!("User {id} not found")).into())
    }

    /// `GET /Users/{id}`.
    pub async fn get_user(
        &self,
        s: &IntegrationScope,
        id: &str,
        projection: &Projection,
    ) -> Result<Resource> {
        let row = self.load_user(s, id).await?;
        let mut r = self.render_user(s, &row)?;
        r.body = projection.apply(&s.user_type, std::mem::take(&mut r.body));
        Ok(r)
    }

    /// `PUT /Users/{id}`.
    pub async fn replace_user(
        &self,
        s: &IntegrationScope,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        correlation_id: &str,
    ) -> Result<Resource> {
        self.update_user(s, id, if_match, correlation_id, |rt, _, current| {
            Ok((
                resource::apply_put(rt, current, body)?,
                PatchNotes::default(),
            ))
        })
        .await
        .map(|(r, _)| r)
    }

    /// `PATCH /Users/{id}`.
    pub async fn patch_user(
        &self,
        s: &IntegrationScope,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        correlation_id: &str,
    ) -> Result<(Resource, PatchNotes)> {
        let request = PatchOp::from_value(body)?;
        self.update_user(s, id, if_match, correlation_id, |rt, id, current| {
            Ok(apply_patch(rt, id, current, &request)?)
        })
        .await
    }

    /// Read, change, write with optimistic concurrency; retried when a concurrent writer won
    /// and the client did not pin a version with If-Match.
    async fn update_user<F>(
        &self,
        s: &IntegrationScope,
        id: &str,
        if_match: Option<&str>,
        correlation_id: &str,
        change: F,
    ) -> Result<(Resource, PatchNotes)>
    where
        F: Fn(&ResourceType, &str, &Map<String, Value>) -> Result<(Map<String, Value>, PatchNotes)>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let row = self.load_user(s, id).await?;
            check_if_match(if_match, row.version)?;
            let current = parse_stored(&row.resource)?;
            let (next, notes) = change(&s.user_type, id, &current)?;
            if next == current {
                return Ok((self.render_user(s, &row)?, notes));
            }
            let new_row =
                self.user_row(s, row.id.clone(), &next, row.created_at, row.version + 1)?;
            let (before, corr) = (row, correlation_id.to_string());
            let written = self
                .write(&s.integration_id, move |txn| {
                    // Clones: the unit may run twice (see `Store::write`).
                    let (before, new_row, corr) = (before.clone(), new_row.clone(), corr.clone());
                    async move {
                        store::scim::update_user_from_queuing_job(
                            &*txn,
                            &before,
                            &new_row,
                            Some(&corr),
                        )
                        .await
                        .map_err(|e| uniqueness(e, "userName", &new_row.user_name))?;
                        Ok::<_, DirectoryError>(new_row)
                    }
                })
                .await;
            match written {
                Ok(new_row) => return Ok((self.render_user(s, &new_row)?, notes)),
                Err(DirectoryError::Store(store::StoreError::VersionMismatch))
                    if if_match.is_none() && attempt < 5 =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `DELETE /Users/{id}`: removes the user and its memberships; the job deprovisions it.
    pub async fn delete_user(
        &self,
        s: &IntegrationScope,
        id: &str,
        if_match: Option<&str>,
        correlation_id: &str,
    ) -> Result<String> {
        let row = self.load_user(s, id).await?;
        check_if_match(if_match, row.version)?;
        let (integration, uid, corr) = (
            s.integration_id.clone(),
            id.to_string(),
            correlation_id.to_string(),
        );
        self.write(&s.integration_id, move |txn| {
            // Clones: the unit may run twice (see `Store::write`).
            let (integration, uid, corr) = (integration.clone(), uid.clone(), corr.clone());
            async move {
                if !store::scim::delete_user(&*txn, &integration, &uid).await? {
                    return Err(ScimError::not_found(format!("User {uid} not found")).into());
                }
                store::jobs::enqueue_job(
                    &*txn,
                    &integration,
                    SUBJECT_USER,
                    &uid,
                    Some(&corr),
                    now_ms(),
                )
                .await?;
                Ok::<_, DirectoryError>(())
            }
        })
        .await?;
        Ok(row.user_name)
    }

    /// `GET /Users` and `POST /Users/.search`.
    pub async fn search_users(
        &self,
        s: &IntegrationScope,
        req: &SearchRequest,
    ) -> Result<ListResponse<Map<String, Value>>> {
        let plan = Plan::new(&s.user_type, req, self.caps.max_results)?;
        // The IdPs' lookup before every create: at most one user, by the unique index.
        if let Some(user_name) = plan
            .filter
            .as_ref()
            .and_then(store::filter_sql::user_name_eq)
        {
            let found = (self.store)
                .find_user_by_user_name(&s.integration_id, user_name)
                .await?;
            let total = u64::from(found.is_some());
            let page: Vec<UserRow> = found
                .into_iter()
                .skip(plan.offset as usize)
                .take(plan.count as usize)
                .collect();
            return self.user_page(s, &plan, &page, total);
        }
        let db = self.store.db();
        match (
            plan.pushdown(store::filter_sql::user_condition),
            plan.sql_sort(user_sort_key),
        ) {
            // Everything pushed down: SQL filters, sorts and pages.
            (Some(condition), Ok(sort)) => {
                let (rows, total) = self
                    .walked(
                        s,
                        Listing::Users,
                        req,
                        plan.page_query(condition, sort),
                        |q| async move { self.store.list_users(&s.integration_id, &q).await },
                        |r| row_key(r.created_at, &r.id),
                    )
                    .await?;
                self.user_page(s, &plan, &rows, total)
            }
            // Filter or sort not expressible in SQL: evaluate in memory over the integration.
            _ => {
                let rows = store::scim::list_users_unpaged(db, &s.integration_id, None).await?;
                let mut items = Vec::with_capacity(rows.len());
                for r in &rows {
                    let body = self.render_user(s, r)?.body;
                    if plan
                        .filter
                        .as_ref()
                        .is_none_or(|f| matches(f, &body, &s.user_type))
                    {
                        items.push(body);
                    }
                }
                Ok(plan.page_in_memory(&s.user_type, items))
            }
        }
    }

    /// Reads the page of `q` (a `listing` of `s` answering `req`) with `list`, continuing a
    /// remembered walk when `q`'s offset is where one left off (creation order only), and
    /// remembers where a full page ends (see [`crate::page_walks`]).
    async fn walked<R, L, Fut>(
        &self,
        s: &IntegrationScope,
        listing: Listing,
        req: &SearchRequest,
        mut q: ListQuery,
        list: L,
        key: impl Fn(&R) -> RowKey,
    ) -> Result<(Vec<R>, u64)>
    where
        L: FnOnce(ListQuery) -> Fut,
        Fut: Future<Output = store::Result<(Vec<R>, u64)>>,
    {
        if q.sort.is_some() {
            return Ok(list(q).await?);
        }
        let walk = &ListWalk {
            integration_id: &s.integration_id,
            listing,
            filter: req.filter.as_deref(),
        };
        let generation = self.walks.generation(walk.integration_id);
        if let Some(c) = self.walks.resume(walk, q.offset, Instant::now()) {
            q.after = Some(c.after);
            q.known_total = Some(c.total);
        }
        let (offset, limit) = (q.offset, q.limit);
        let (rows, total) = list(q).await?;
        if let Some(last) = rows.last().filter(|_| rows.len() as u64 == limit) {
            let next = Continuation {
                after: key(last),
                total,
            };
            (self.walks).remember(walk, generation, offset + limit, next, Instant::now());
        }
        Ok((rows, total))
    }

    /// A page of users SQL already filtered, sorted and cut.
    fn user_page(
        &self,
        s: &IntegrationScope,
        plan: &Plan,
        rows: &[UserRow],
        total: u64,
    ) -> Result<ListResponse<Map<String, Value>>> {
        let items = rows
            .iter()
            .map(|r| {
                self.render_user(s, r)
                    .map(|x| plan.projection.apply(&s.user_type, x.body))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ListResponse::new(items, total, plan.start_index))
    }

    // ---------------------------------------------------------------- groups

    /// `POST /Groups`. Members, if any, must be users or groups of this integration.
    pub async fn create_group(
        &self,
        s: &IntegrationScope,
        body: &Value,
        correlation_id: &str,
    ) -> Result<Resource> {
        let mut attrs = resource::parse_create(&self.groups, body)?;
        let members = take_members(&mut attrs)?;
        let now = now_ms();
        let row = self.group_row(s, store::new_id(), &attrs, now, 1)?;
        let corr = correlation_id.to_string();
        let row = self
            .write(&s.integration_id, move |txn| {
                // Clones: the unit may run twice (see `Store::write`).
                let (row, corr, members) = (row.clone(), corr.clone(), members.clone());
                async move {
                    let (txn, integration, corr) =
                        (&*txn, &row.integration_id, Some(corr.as_str()));
                    store::scim::insert_group(txn, &row)
                        .await
                        .map_err(|e| uniqueness(e, "displayName", &row.display_name))?;
                    let typed = resolve_members(txn, integration, &members).await?;
                    if !typed.is_empty() {
                        store::scim::set_group_members(txn, integration, &row.id, &typed).await?;
                    }
                    store::jobs::enqueue_job(txn, integration, SUBJECT_GROUP, &row.id, corr, now)
                        .await?;
                    let users: Vec<&String> = (typed.iter())
                        .filter(|(_, k)| *k == MemberType::User)
                        .map(|(m, _)| m)
                        .collect();
                    enqueue_users(txn, integration, &users, corr, now).await?;
                    Ok::<_, DirectoryError>(row)
                }
            })
            .await?;
        let members =
            store::scim::list_group_members(self.store.db(), &s.integration_id, &row.id).await?;
        self.render_group(s, &row, Some(&members))
    }

    fn group_row(
        &self,
        s: &IntegrationScope,
        id: String,
        attrs: &Map<String, Value>,
        created_at: i64,
        version: i64,
    ) -> Result<GroupRow> {
        let display_name = attrs
            .get("displayName")
            .and_then(Value::as_str)
            .ok_or_else(|| ScimError::invalid_value("'displayName' is required"))?
            .to_string();
        Ok(GroupRow {
            id,
            integration_id: s.integration_id.clone(),
            display_name,
            external_id: attrs
                .get("externalId")
                .and_then(Value::as_str)
                .map(str::to_string),
            resource: to_json(attrs),
            version,
            created_at,
            updated_at: now_ms().max(created_at),
        })
    }

    async fn load_group(&self, s: &IntegrationScope, id: &str) -> Result<GroupRow> {
        self.store
            .get_group(&s.integration_id, id)
            .await?
            .ok_or_else(|| ScimError::not_found(format!("Group {id} not found")).into())
    }

    /// `GET /Groups/{id}`; members are loaded only when the projection returns them.
    pub async fn get_group(
        &self,
        s: &IntegrationScope,
        id: &str,
        projection: &Projection,
    ) -> Result<Resource> {
        let row = self.load_group(s, id).await?;
        let members = if projection.includes(&self.groups, "members") {
            Some(store::scim::list_group_members(self.store.db(), &s.integration_id, id).await?)
        } else {
            None
        };
        let mut r = self.render_group(s, &row, members.as_deref())?;
        r.body = projection.apply(&self.groups, std::mem::take(&mut r.body));
        Ok(r)
    }

    /// `PUT /Groups/{id}`.
    pub async fn replace_group(
        &self,
        s: &IntegrationScope,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        correlation_id: &str,
    ) -> Result<Resource> {
        self.update_group(s, id, if_match, correlation_id, |rt, _, current| {
            Ok((
                resource::apply_put(rt, current, body)?,
                PatchNotes::default(),
            ))
        })
        .await
        .map(|(r, _)| r)
    }

    /// `PATCH /Groups/{id}`.
    pub async fn patch_group(
        &self,
        s: &IntegrationScope,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        correlation_id: &str,
    ) -> Result<(Resource, PatchNotes)> {
        let request = PatchOp::from_value(body)?;
        self.update_group(s, id, if_match, correlation_id, |rt, id, current| {
            Ok(apply_patch(rt, id, current, &request)?)
        })
        .await
    }

    async fn update_group<F>(
        &self,
        s: &IntegrationScope,
        id: &str,
        if_match: Option<&str>,
        correlation_id: &str,
        change: F,
    ) -> Result<(Resource, PatchNotes)>
    where
        F: Fn(&ResourceType, &str, &Map<String, Value>) -> Result<(Map<String, Value>, PatchNotes)>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let row = self.load_group(s, id).await?;
            check_if_match(if_match, row.version)?;
            let before_members =
                store::scim::list_group_members(self.store.db(), &s.integration_id, id).await?;
            let mut current = parse_stored(&row.resource)?;
            if !before_members.is_empty() {
                let list = before_members
                    .iter()
                    .map(|m| serde_json::json!({"value": m.member_id}))
                    .collect();
                current.insert("members".into(), Value::Array(list));
            }
            let (mut next, notes) = change(&self.groups, id, &current)?;
            let after_ids = take_members(&mut next)?;
            current.shift_remove("members");
            let before_ids: Vec<String> =
                before_members.iter().map(|m| m.member_id.clone()).collect();
            let added: Vec<String> = after_ids
                .iter()
                .filter(|m| !before_ids.contains(m))
                .cloned()
                .collect();
            let removed: Vec<String> = before_ids
                .iter()
                .filter(|m| !after_ids.contains(m))
                .cloned()
                .collect();
            let attrs_changed = next != current;
            if !attrs_changed && added.is_empty() && removed.is_empty() {
                return Ok((self.render_group(s, &row, Some(&before_members))?, notes));
            }
            let new_row =
                self.group_row(s, row.id.clone(), &next, row.created_at, row.version + 1)?;
            let (expected, corr) = (row.version, correlation_id.to_string());
            let written = self
                .write(&s.integration_id, move |txn| {
                    // Clones: the unit may run twice (see `Store::write`).
                    let (new_row, corr, added, removed, before_members) = (
                        new_row.clone(),
                        corr.clone(),
                        added.clone(),
                        removed.clone(),
                        before_members.clone(),
                    );
                    async move {
                        let (txn, integration, id) = (&*txn, &new_row.integration_id, &new_row.id);
                        let corr = Some(corr.as_str());
                        store::scim::update_group(txn, &new_row, expected)
                            .await
                            .map_err(|e| uniqueness(e, "displayName", &new_row.display_name))?;
                        let typed_added = resolve_members(txn, integration, &added).await?;
                        if !typed_added.is_empty() {
                            store::scim::add_group_members(txn, integration, id, &typed_added)
                                .await?;
                        }
                        if !removed.is_empty() {
                            store::scim::remove_group_members(txn, integration, id, &removed)
                                .await?;
                        }
                        let now = new_row.updated_at;
                        store::jobs::enqueue_job(txn, integration, SUBJECT_GROUP, id, corr, now)
                            .await?;
                        // Roles can follow group membership: every member whose groups changed is
                        // re-synced.
                        let touched: Vec<&String> = typed_added
                            .iter()
                            .filter(|(_, k)| *k == MemberType::User)
                            .map(|(m, _)| m)
                            .chain(removed.iter())
                            .collect();
                        enqueue_users(txn, integration, &touched, corr, now).await?;
                        if attrs_changed {
                            // A renamed group can change every member's role.
                            let kept: Vec<&String> = (before_members.iter())
                                .filter(|m| {
                                    m.member_type == MemberType::User
                                        && !removed.contains(&m.member_id)
                                })
                                .map(|m| &m.member_id)
                                .collect();
                            enqueue_users(txn, integration, &kept, corr, now).await?;
                        }
                        Ok::<_, DirectoryError>(new_row)
                    }
                })
                .await;
            let new_row = match written {
                Ok(new_row) => new_row,
                Err(DirectoryError::Store(store::StoreError::VersionMismatch))
                    if if_match.is_none() && attempt < 5 =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            };
            let members =
                store::scim::list_group_members(self.store.db(), &s.integration_id, id).await?;
            return Ok((self.render_group(s, &new_row, Some(&members))?, notes));
        }
    }

    /// `DELETE /Groups/{id}`; former members are re-synced (their roles may change).
    pub async fn delete_group(
        &self,
        s: &IntegrationScope,
        id: &str,
        if_match: Option<&str>,
        correlation_id: &str,
    ) -> Result<String> {
        let row = self.load_group(s, id).await?;
        check_if_match(if_match, row.version)?;
        let members =
            store::scim::list_group_members(self.store.db(), &s.integration_id, id).await?;
        let (integration, gid, corr) = (
            s.integration_id.clone(),
            id.to_string(),
            correlation_id.to_string(),
        );
        self.write(&s.integration_id, move |txn| {
            // Clones: the unit may run twice (see `Store::write`).
            let (integration, gid, corr, members) = (
                integration.clone(),
                gid.clone(),
                corr.clone(),
                members.clone(),
            );
            async move {
                let (txn, corr) = (&*txn, Some(corr.as_str()));
                if !store::scim::delete_group(txn, &integration, &gid).await? {
                    return Err(ScimError::not_found(format!("Group {gid} not found")).into());
                }
                let now = now_ms();
                store::jobs::enqueue_job(txn, &integration, SUBJECT_GROUP, &gid, corr, now).await?;
                let users: Vec<&String> = (members.iter())
                    .filter(|m| m.member_type == MemberType::User)
                    .map(|m| &m.member_id)
                    .collect();
                enqueue_users(txn, &integration, &users, corr, now).await?;
                Ok::<_, DirectoryError>(())
            }
        })
        .await?;
        Ok(row.display_name)
    }

    /// `GET /Groups` and `POST /Groups/.search`.
    pub async fn search_groups(
        &self,
        s: &IntegrationScope,
        req: &SearchRequest,
    ) -> Result<ListResponse<Map<String, Value>>> {
        let plan = Plan::new(&self.groups, req, self.caps.max_results)?;
        let with_members = plan.projection.includes(&self.groups, "members");
        let db = self.store.db();
        let rendered =
            |row: &GroupRow, members: Option<Vec<MemberRow>>| -> Result<Map<String, Value>> {
                Ok(self.render_group(s, row, members.as_deref())?.body)
            };
        match (
            plan.pushdown(store::filter_sql::group_condition),
            plan.sql_sort(group_sort_key),
        ) {
            (Some(condition), Ok(sort)) => {
                let (rows, total) = self
                    .walked(
                        s,
                        Listing::Groups,
                        req,
                        plan.page_query(condition, sort),
                        |q| async move { self.store.list_groups(&s.integration_id, &q).await },
                        |r| row_key(r.created_at, &r.id),
                    )
                    .await?;
                let mut members = if with_members {
                    members_of(db, &s.integration_id, &rows).await?
                } else {
                    HashMap::new()
                };
                let mut items = Vec::with_capacity(rows.len());
                for row in &rows {
                    let members = with_members.then(|| members.remove(&row.id).unwrap_or_default());
                    items.push(plan.projection.apply(&self.groups, rendered(row, members)?));
                }
                Ok(ListResponse::new(items, total, plan.start_index))
            }
            _ => {
                let rows = store::scim::list_groups_unpaged(db, &s.integration_id, None).await?;
                let mut members = members_of(db, &s.integration_id, &rows).await?;
                let mut items = Vec::new();
                for row in &rows {
                    let members = Some(members.remove(&row.id).unwrap_or_default());
                    let body = rendered(row, members)?;
                    if plan
                        .filter
                        .as_ref()
                        .is_none_or(|f| matches(f, &body, &self.groups))
                    {
                        items.push(body);
                    }
                }
                Ok(plan.page_in_memory(&self.groups, items))
            }
        }
    }
}

fn row_key(created_at: i64, id: &str) -> RowKey {
    RowKey {
        created_at,
        id: id.to_string(),
    }
}

/// Maps a store conflict on the unique column to a SCIM 409 naming the value.
fn uniqueness(e: store::StoreError, attr: &str, value: &str) -> DirectoryError {
    match e {
        store::StoreError::Conflict { .. } => ScimError::uniqueness(format!(
            "{attr} '{value}' is already taken in this integration"
        ))
        .into(),
        other => other.into(),
    }
}

/// The members of each of `groups`, fetched together.
pub(crate) async fn members_of(
    db: &sea_orm::DatabaseConnection,
    integration_id: &str,
    groups: &[GroupRow],
) -> store::Result<HashMap<String, Vec<MemberRow>>> {
    let ids: Vec<&str> = groups.iter().map(|g| g.id.as_str()).collect();
    store::scim::members_of_groups(db, integration_id, &ids).await
}

/// Removes `members` from a group's attribute map and returns the member ids.
fn take_members(attrs: &mut Map<String, Value>) -> Result<Vec<String>> {
    let Some(list) = attrs.shift_remove("members") else {
        return Ok(Vec::new());
    };
    let mut ids = Vec::new();
    for m in list.as_array().into_iter().flatten() {
        let id = m.get("value").and_then(Value::as_str).ok_or_else(|| {
            ScimError::invalid_value("every member needs a 'value' (the member's id)")
        })?;
        if !ids.iter().any(|x: &String| x == id) {
            ids.push(id.to_string());
        }
    }
    Ok(ids)
}

/// Types each member id as User or Group; unknown ids are `invalidValue`.
async fn resolve_members<C: sea_orm::ConnectionTrait>(
    conn: &C,
    integration_id: &str,
    ids: &[String],
) -> Result<Vec<(String, MemberType)>> {
    let found = store::scim::resolve_members(conn, integration_id, ids).await?;
    if let Some(missing) = ids.iter().find(|id| !found.iter().any(|(f, _)| f == *id)) {
        return Err(ScimError::new(
            400,
            Some(ScimType::InvalidValue),
            format!("member '{missing}' is not a user or group of this integration"),
        )
        .into());
    }
    Ok(found)
}

fn user_sort_key(p: &AttrPath) -> Option<SortKey> {
    match () {
        _ if p.is("userName") => Some(SortKey::UserName),
        _ if p.is("externalId") => Some(SortKey::ExternalId),
        _ if p.is("displayName") => Some(SortKey::DisplayName),
        _ if p.is("id") => Some(SortKey::Id),
        _ if p.is("meta.created") => Some(SortKey::Created),
        _ if p.is("meta.lastModified") => Some(SortKey::LastModified),
        _ => None,
    }
}

fn group_sort_key(p: &AttrPath) -> Option<SortKey> {
    if p.is("userName") {
        None
    } else {
        user_sort_key(p)
    }
}

/// A list request, validated: filter, sort, page and projection.
struct Plan {
    filter: Option<Filter>,
    sort: Option<(AttrPath, SortOrder)>,
    start_index: u64,
    offset: u64,
    count: u64,
    projection: Projection,
}

impl Plan {
    fn new(rt: &ResourceType, req: &SearchRequest, max_results: u64) -> Result<Self> {
        let filter = match &req.filter {
            Some(f) => {
                let parsed = parse_filter(f)?;
                validate_filter(&parsed, rt)?;
                Some(parsed)
            }
            None => None,
        };
        let sort = match &req.sort_by {
            Some(s) => Some((
                parse_attr_path(s).map_err(|_| {
                    ScimError::invalid_value(format!("sortBy '{s}' is not an attribute path"))
                })?,
                req.sort_order,
            )),
            None => None,
        };
        Ok(Self {
            filter,
            sort,
            start_index: req.start_index.max(1),
            offset: req.start_index.max(1) - 1,
            // Absurd counts are clamped, not rejected (RFC 7644 §3.4.2.4).
            count: req.count.unwrap_or(DEFAULT_PAGE_SIZE).min(max_results),
            projection: Projection::parse(
                req.attributes.as_deref(),
                req.excluded_attributes.as_deref(),
                rt,
            )?,
        })
    }

    /// `Some(condition)` when SQL can apply the whole filter (`Some(None)`: no filter).
    fn pushdown(
        &self,
        to_sql: fn(&Filter) -> Option<sea_orm::Condition>,
    ) -> Option<Option<sea_orm::Condition>> {
        match &self.filter {
            None => Some(None),
            Some(f) => to_sql(f).map(Some),
        }
    }

    /// `Ok(sort)` when SQL can order the result (no sort, or an indexed column).
    /// The SQL query for this plan's page, its filter and sort pushed down as `condition`
    /// and `sort`.
    fn page_query(
        &self,
        condition: Option<sea_orm::Condition>,
        sort: Option<(SortKey, bool)>,
    ) -> ListQuery {
        ListQuery {
            condition,
            sort,
            offset: self.offset,
            limit: self.count,
            ..Default::default()
        }
    }

    fn sql_sort(
        &self,
        key: fn(&AttrPath) -> Option<SortKey>,
    ) -> std::result::Result<Option<(SortKey, bool)>, ()> {
        match &self.sort {
            None => Ok(None),
            Some((p, order)) => key(p)
                .map(|k| Some((k, *order == SortOrder::Descending)))
                .ok_or(()),
        }
    }

    fn page_in_memory(
        &self,
        rt: &ResourceType,
        mut items: Vec<Map<String, Value>>,
    ) -> ListResponse<Map<String, Value>> {
        if let Some((p, order)) = &self.sort {
            sort_resources(&mut items, rt, p, *order);
        }
        let total = items.len() as u64;
        let page = items
            .into_iter()
            .skip(self.offset as usize)
            .take(self.count as usize)
            .map(|r| self.projection.apply(rt, r))
            .collect();
        ListResponse::new(page, total, self.start_index)
    }
}
