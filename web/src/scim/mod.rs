//! The SCIM 2.0 API under `/scim/v2/{integration_id}/`.

pub mod auth;
mod discovery;
mod resources;
pub mod respond;

use actix_web::{HttpRequest, HttpResponse, web};
use resources::Kind;
use scim_core::ScimError;

use crate::app::AppState;

type Path1 = web::Path<String>;
type Path2 = web::Path<(String, String)>;

/// Registers the SCIM routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/scim/v2/{integration_id}")
            .wrap(actix_web::middleware::from_fn(
                crate::ops::count_scim_requests,
            ))
            .service(
                web::resource("/Users")
                    .route(
                        web::get().to(|r: HttpRequest, s: web::Data<AppState>, p: Path1| {
                            resources::list(Kind::User, r, s, p.into_inner(), None)
                        }),
                    )
                    .route(web::post().to(
                        |r: HttpRequest, s: web::Data<AppState>, p: Path1, b: web::Payload| {
                            resources::create(Kind::User, r, s, p.into_inner(), b)
                        },
                    ))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Users/.search")
                    .route(web::post().to(
                        |r: HttpRequest, s: web::Data<AppState>, p: Path1, b: web::Payload| {
                            resources::list(Kind::User, r, s, p.into_inner(), Some(b))
                        },
                    ))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Users/{id}")
                    .route(
                        web::get().to(|r: HttpRequest, s: web::Data<AppState>, p: Path2| {
                            let (i, id) = p.into_inner();
                            resources::get(Kind::User, r, s, i, id)
                        }),
                    )
                    .route(web::put().to(
                        |r: HttpRequest, s: web::Data<AppState>, p: Path2, b: web::Payload| {
                            let (i, id) = p.into_inner();
                            resources::update(Kind::User, resources::Update::Put, r, s, i, id, b)
                        },
                    ))
                    .route(web::patch().to(
                        |r: HttpRequest, s: web::Data<AppState>, p: Path2, b: web::Payload| {
                            let (i, id) = p.into_inner();
                            resources::update(Kind::User, resources::Update::Patch, r, s, i, id, b)
                        },
                    ))
                    .route(
                        web::delete().to(|r: HttpRequest, s: web::Data<AppState>, p: Path2| {
                            let (i, id) = p.into_inner();
                            resources::delete(Kind::User, r, s, i, id)
                        }),
                    )
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Groups")
                    .route(
                        web::get().to(|r: HttpRequest, s: web::Data<AppState>, p: Path1| {
                            resources::list(Kind::Group, r, s, p.into_inner(), None)
                        }),
                    )
                    .route(web::post().to(
                        |r: HttpRequest, s: web::Data<AppState>, p: Path1, b: web::Payload| {
                            resources::create(Kind::Group, r, s, p.into_inner(), b)
                        },
                    ))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Groups/.search")
                    .route(web::post().to(
                        |r: HttpRequest, s: web::Data<AppState>, p: Path1, b: web::Payload| {
                            resources::list(Kind::Group, r, s, p.into_inner(), Some(b))
                        },
                    ))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Groups/{id}")
                    .route(
                        web::get().to(|r: HttpRequest, s: web::Data<AppState>, p: Path2| {
                            let (i, id) = p.into_inner();
                            resources::get(Kind::Group, r, s, i, id)
                        }),
                    )
                    .route(web::put().to(
                        |r: HttpRequest, s: web::Data<AppState>, p: Path2, b: web::Payload| {
                            let (i, id) = p.into_inner();
                            resources::update(Kind::Group, resources::Update::Put, r, s, i, id, b)
                        },
                    ))
                    .route(web::patch().to(
                        |r: HttpRequest, s: web::Data<AppState>, p: Path2, b: web::Payload| {
                            let (i, id) = p.into_inner();
                            resources::update(Kind::Group, resources::Update::Patch, r, s, i, id, b)
                        },
                    ))
                    .route(
                        web::delete().to(|r: HttpRequest, s: web::Data<AppState>, p: Path2| {
                            let (i, id) = p.into_inner();
                            resources::delete(Kind::Group, r, s, i, id)
                        }),
                    )
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/.search")
                    .route(web::post().to(discovery::root_search))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/ServiceProviderConfig")
                    .route(web::get().to(discovery::service_provider_config))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/ResourceTypes")
                    .route(web::get().to(discovery::resource_types))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/ResourceTypes/{id}")
                    .route(web::get().to(discovery::resource_type))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Schemas")
                    .route(web::get().to(discovery::schemas))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(
                web::resource("/Schemas/{id}")
                    .route(web::get().to(discovery::schema))
                    .default_service(web::to(method_not_allowed)),
            )
            .default_service(web::to(not_found)),
    );
}

async fn method_not_allowed() -> HttpResponse {
    respond::error_response(&ScimError::new(
        405,
        None,
        "this method is not supported on this endpoint",
    ))
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    respond::error_response(&ScimError::not_found(format!(
        "no SCIM endpoint at {}",
        req.path()
    )))
}
