//! Discovery endpoints and the root `/.search`, authenticated like every SCIM call.

use super::respond::{Reply, begin, finish, read_json};
use crate::app::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use provisioning::{DirectoryError, IntegrationScope};
use scim_core::ScimError;
use scim_core::discovery::{
    all_schemas, resource_type_doc, schema_doc, service_provider_config as spc,
};
use scim_core::messages::{ListResponse, SearchRequest};
use serde_json::Value;

async fn discovery(
    req: HttpRequest,
    state: web::Data<AppState>,
    integration: String,
    op: &str,
    make: impl FnOnce(&AppState, &IntegrationScope) -> Result<Value, ScimError>,
) -> HttpResponse {
    let (call, scope) = match begin(&req, &state, &integration, op, None).await {
        Ok(x) => x,
        Err(response) => return response,
    };
    let result = make(&state, &scope)
        .map(Reply::ok)
        .map_err(DirectoryError::from);
    finish(&state, Some(&scope), call, result).await
}

/// The integration's resource types: its own User type (with its extension schemas) and Group.
fn types(state: &AppState, scope: &IntegrationScope) -> Vec<scim_core::schema::ResourceType> {
    vec![
        (*scope.user_type).clone(),
        state.directory.group_type().clone(),
    ]
}

pub async fn service_provider_config(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: web::Path<String>,
) -> HttpResponse {
    discovery(
        req,
        state,
        p.into_inner(),
        "GET /ServiceProviderConfig",
        |s, scope| Ok(spc(s.directory.capabilities(), &scope.base_url)),
    )
    .await
}

pub async fn resource_types(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: web::Path<String>,
) -> HttpResponse {
    discovery(
        req,
        state,
        p.into_inner(),
        "GET /ResourceTypes",
        |s, scope| {
            let docs: Vec<Value> = types(s, scope)
                .iter()
                .map(|rt| resource_type_doc(rt, &scope.base_url))
                .collect();
            let n = docs.len() as u64;
            Ok(serde_json::to_value(ListResponse::new(docs, n, 1)).unwrap_or_default())
        },
    )
    .await
}

pub async fn resource_type(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: web::Path<(String, String)>,
) -> HttpResponse {
    let (integration, id) = p.into_inner();
    discovery(
        req,
        state,
        integration,
        "GET /ResourceTypes/{id}",
        move |s, scope| {
            types(s, scope)
                .iter()
                .find(|rt| rt.id.eq_ignore_ascii_case(&id))
                .map(|rt| resource_type_doc(rt, &scope.base_url))
                .ok_or_else(|| ScimError::not_found(format!("no resource type '{id}'")))
        },
    )
    .await
}

pub async fn schemas(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: web::Path<String>,
) -> HttpResponse {
    discovery(req, state, p.into_inner(), "GET /Schemas", |s, scope| {
        let rts = types(s, scope);
        let docs: Vec<Value> = all_schemas(&rts)
            .into_iter()
            .map(|sc| schema_doc(sc, &scope.base_url))
            .collect();
        let n = docs.len() as u64;
        Ok(serde_json::to_value(ListResponse::new(docs, n, 1)).unwrap_or_default())
    })
    .await
}

pub async fn schema(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: web::Path<(String, String)>,
) -> HttpResponse {
    let (integration, id) = p.into_inner();
    discovery(
        req,
        state,
        integration,
        "GET /Schemas/{id}",
        move |s, scope| {
            let rts = types(s, scope);
            all_schemas(&rts)
                .into_iter()
                .find(|sc| sc.id.eq_ignore_ascii_case(&id))
                .map(|sc| schema_doc(sc, &scope.base_url))
                .ok_or_else(|| ScimError::not_found(format!("no schema '{id}'")))
        },
    )
    .await
}

/// `POST /.search` at the root: Users then Groups. A filter that names attributes of only one
/// type searches that type; one that fits neither is `invalidFilter`.
pub async fn root_search(
    req: HttpRequest,
    state: web::Data<AppState>,
    p: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let integration = p.into_inner();
    let (mut call, scope) = match begin(&req, &state, &integration, "POST /.search", None).await {
        Ok(x) => x,
        Err(response) => return response,
    };
    let result = async {
        let body = read_json(&req, payload).await?;
        call.body(&body);
        let search = SearchRequest::from_value(&body)?;
        let page_end = search.start_index - 1
            + search
                .count
                .unwrap_or(provisioning::directory::DEFAULT_PAGE_SIZE)
                .min(state.directory.capabilities().max_results);
        // Fetch enough of each type to cover the requested window, then cut it.
        let window = SearchRequest {
            start_index: 1,
            count: Some(page_end),
            ..search.clone()
        };
        let users = state.directory.search_users(&scope, &window).await;
        let groups = state.directory.search_groups(&scope, &window).await;
        let (users, groups) = match (users, groups) {
            (Err(e), Err(_)) => return Err(e),
            (u, g) => (u.ok(), g.ok()),
        };
        let total = users.as_ref().map_or(0, |l| l.total_results)
            + groups.as_ref().map_or(0, |l| l.total_results);
        let all: Vec<_> = users
            .into_iter()
            .flat_map(|l| l.resources)
            .chain(groups.into_iter().flat_map(|l| l.resources))
            .collect();
        let page: Vec<_> = all
            .into_iter()
            .skip((search.start_index - 1) as usize)
            .take((page_end + 1 - search.start_index) as usize)
            .collect();
        Ok::<_, DirectoryError>(Reply::ok(
            serde_json::to_value(ListResponse::new(page, total, search.start_index))
                .unwrap_or_default(),
        ))
    }
    .await;
    finish(&state, Some(&scope), call, result).await
}
