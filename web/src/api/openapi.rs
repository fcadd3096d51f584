//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` attributes and
//! the request/response types' `ToSchema` derives. Every operation but the document itself
//! needs the bearer token and may answer with the problem responses below.

use super::Problem;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

/// The document's frame: info, the problem schema, the bearer scheme and the error responses.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "scimbridge admin API",
        version = "1",
        description = "Tenants, staff, integrations, SCIM tokens, jobs and logs. Authenticate with an API token: `Authorization: Bearer sbapi_…`. Errors are RFC 9457 problem details (`application/problem+json`)."
    ),
    components(schemas(Problem)),
    modifiers(&Frame)
)]
pub struct ApiDoc;

/// The error statuses every authenticated operation may answer with.
pub const PROBLEM_STATUSES: &[(&str, &str)] = &[
    ("400", "Malformed request (JSON body, query or path)"),
    ("401", "No valid API token"),
    (
        "403",
        "The token's role may not do this (read-only roles on writes)",
    ),
    ("404", "Not found, or not in the token's scope"),
    ("409", "The object's state does not allow this"),
    (
        "422",
        "Input that breaks a rule (settings, roles, policies)",
    ),
    ("429", "Over the token's rate: see Retry-After"),
    ("500", "Server error"),
];

struct Frame;

impl Modify for Frame {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sbapi_…")
                    .build(),
            ),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            if path.ends_with("/openapi.json") {
                continue;
            }
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in ops.into_iter().flatten() {
                op.security = Some(vec![SecurityRequirement::new(
                    "bearer",
                    Vec::<String>::new(),
                )]);
                for (status, description) in PROBLEM_STATUSES {
                    let problem = ResponseBuilder::new()
                        .description(*description)
                        .content(
                            super::PROBLEM_JSON,
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("Problem")))
                                .build(),
                        )
                        .build();
                    op.responses
                        .responses
                        .entry((*status).to_string())
                        .or_insert(RefOr::T(problem));
                }
            }
        }
    }
}

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = super::handlers::Operations::openapi();
    doc.merge(super::settings::Operations::openapi());
    doc.merge(super::reconcile::Operations::openapi());
    doc.merge(super::notifications::Operations::openapi());
    let frame = ApiDoc::openapi();
    doc.info = frame.info.clone();
    doc.merge(frame);
    Frame.modify(&mut doc);
    doc
}
