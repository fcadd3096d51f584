//! `/Users` and `/Groups`: thin handlers that authenticate, read the input, make one call into
//! the directory and render the result.

use super::respond::{Reply, begin, finish, read_json};
use crate::app::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use provisioning::{DirectoryError, Resource};
use scim_core::messages::SearchRequest;
use scim_core::projection::Projection;
use serde_json::Value;

/// Which resource type a route serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::User => "/Users",
            Kind::Group => "/Groups",
        }
    }
    fn subject(self) -> store::SubjectKind {
        match self {
            Kind::User => store::SubjectKind::User,
            Kind::Group => store::SubjectKind::Group,
        }
    }
}

fn resource_reply(status: StatusCode, r: Resource, with_location: bool) -> Reply {
    Reply::Json {
        status,
        body: Value::Object(r.body),
        etag: Some(r.etag),
        location: with_location.then_some(r.location),
    }
}

fn if_match(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::IF_MATCH)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
}

fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default()
}

/// `GET /Users` or `/Groups` (query parameters) and `POST …/.search` (body).
pub async fn list(
    kind: Kind,
    req: HttpRequest,
    state: web::Data<AppState>,
    integration: String,
    body: Option<web::Payload>,
) -> HttpResponse {
    let op = if body.is_some() {
        format!("POST {}/.search", kind.path())
    } else {
        format!("GET {}", kind.path())
    };
    let (mut call, scope) = match begin(
        &req,
        &state,
        &integration,
        &op,
        Some((kind.subject(), None)),
    )
    .await
    {
        Ok(x) => x,
        Err(response) => return response,
    };
    let result = async {
        let search = match body {
            Some(payload) => {
                let v = read_json(&req, payload).await?;
                call.body(&v);
                SearchRequest::from_value(&v)?
            }
            None => {
                let pairs = query_pairs(&req);
                SearchRequest::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?
            }
        };
        if let Some(f) = &search.filter {
            call.subject_name = Some(format!("filter: {f}"));
        }
        let list = match kind {
            Kind::User => state.directory.search_users(&scope, &search).await?,
            Kind::Group => state.directory.search_groups(&scope, &search).await?,
        };
        Ok::<_, DirectoryError>(Reply::Serialized(
            serde_json::to_vec(&list).unwrap_or_default(),
        ))
    }
    .await;
    finish(&state, Some(&scope), call, result).await
}

/// `POST /Users` or `/Groups`.
pub async fn create(
    kind: Kind,
    req: HttpRequest,
    state: web::Data<AppState>,
    integration: String,
    payload: web::Payload,
) -> HttpResponse {
    let (mut call, scope) = match begin(
        &req,
        &state,
        &integration,
        &format!("POST {}", kind.path()),
        Some((kind.subject(), None)),
    )
    .await
    {
        Ok(x) => x,
        Err(response) => return response,
    };
    let result = async {
        let body = read_json(&req, payload).await?;
        call.body(&body);
        let r = match kind {
            Kind::User => {
                state
                    .directory
                    .create_user(&scope, &body, &call.correlation_id)
                    .await?
            }
            Kind::Group => {
                state
                    .directory
                    .create_group(&scope, &body, &call.correlation_id)
                    .await?
            }
        };
        call.subject_id = r.body.get("id").and_then(Value::as_str).map(str::to_string);
        call.subject_name = Some(r.name.clone());
        Ok::<_, DirectoryError>(resource_reply(StatusCode::CREATED, r, true))
    }
    .await;
    finish(&state, Some(&scope), call, result).await
}

/// `GET /Users/{id}` or `/Groups/{id}`.
pub async fn get(
    kind: Kind,
    req: HttpRequest,
    state: web::Data<AppState>,
    integration: String,
    id: String,
) -> HttpResponse {
    let (mut call, scope) = match begin(
        &req,
        &state,
        &integration,
        &format!("GET {}/{{id}}", kind.path()),
        Some((kind.subject(), Some(&id))),
    )
    .await
    {
        Ok(x) => x,
        Err(response) => return response,
    };
    let result = async {
        let pairs = query_pairs(&req);
        let search =
            SearchRequest::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        let rt = match kind {
            Kind::User => &*scope.user_type,
            Kind::Group => state.directory.group_type(),
        };
        let projection = Projection::parse(
            search.attributes.as_deref(),
            search.excluded_attributes.as_deref(),
            rt,
        )?;
        let r = match kind {
            Kind::User => state.directory.get_user(&scope, &id, &projection).await?,
            Kind::Group => state.directory.get_group(&scope, &id, &projection).await?,
        };
        call.subject_name = Some(r.name.clone());
        Ok::<_, DirectoryError>(resource_reply(StatusCode::OK, r, false))
    }
    .await;
    finish(&state, Some(&scope), call, result).await
}

/// How an update replaces the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// `PUT`: the body is the whole resource.
    Put,
    /// `PATCH`: the body is a PatchOp.
    Patch,
}

/// `PUT` or `PATCH /Users/{id}` or `/Groups/{id}`: 200 with the resource.
pub async fn update(
    kind: Kind,
    how: Update,
    req: HttpRequest,
    state: web::Data<AppState>,
    integration: String,
    id: String,
    payload: web::Payload,
) -> HttpResponse {
    let method = if how == Update::Put { "PUT" } else { "PATCH" };
    let (mut call, scope) = match begin(
        &req,
        &state,
        &integration,
        &format!("{method} {}/{{id}}", kind.path()),
        Some((kind.subject(), Some(&id))),
    )
    .await
    {
        Ok(x) => x,
        Err(response) => return response,
    };
    let result = async {
        let body = read_json(&req, payload).await?;
        call.body(&body);
        let im = if_match(&req);
        let (dir, im, corr) = (
            &state.directory,
            im.as_deref(),
            call.correlation_id.as_str(),
        );
        let (r, notes) = match (kind, how) {
            (Kind::User, Update::Patch) => dir.patch_user(&scope, &id, &body, im, corr).await?,
            (Kind::Group, Update::Patch) => dir.patch_group(&scope, &id, &body, im, corr).await?,
            (Kind::User, Update::Put) => (
                dir.replace_user(&scope, &id, &body, im, corr).await?,
                Default::default(),
            ),
            (Kind::Group, Update::Put) => (
                dir.replace_group(&scope, &id, &body, im, corr).await?,
                Default::default(),
            ),
        };
        call.quirks.extend(notes.quirks);
        call.subject_name = Some(r.name.clone());
        Ok::<_, DirectoryError>(resource_reply(StatusCode::OK, r, false))
    }
    .await;
    finish(&state, Some(&scope), call, result).await
}

/// `DELETE /Users/{id}` or `/Groups/{id}`: 204.
pub async fn delete(
    kind: Kind,
    req: HttpRequest,
    state: web::Data<AppState>,
    integration: String,
    id: String,
) -> HttpResponse {
    let (mut call, scope) = match begin(
        &req,
        &state,
        &integration,
        &format!("DELETE {}/{{id}}", kind.path()),
        Some((kind.subject(), Some(&id))),
    )
    .await
    {
        Ok(x) => x,
        Err(response) => return response,
    };
    let result = async {
        let im = if_match(&req);
        let name = match kind {
            Kind::User => {
                state
                    .directory
                    .delete_user(&scope, &id, im.as_deref(), &call.correlation_id)
                    .await?
            }
            Kind::Group => {
                state
                    .directory
                    .delete_group(&scope, &id, im.as_deref(), &call.correlation_id)
                    .await?
            }
        };
        call.subject_name = Some(name);
        Ok::<_, DirectoryError>(Reply::NoContent)
    }
    .await;
    finish(&state, Some(&scope), call, result).await
}
