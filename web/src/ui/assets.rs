//! Static assets, compiled into the binary so that a single file runs the product and pages
//! make no external requests.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

/// (path under /static/, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "pico.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/vendor/pico.min.css"),
    ),
    (
        "htmx.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/vendor/htmx.min.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/app.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../static/favicon.svg"),
    ),
];

/// Registers `/static/{name}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/{name}", web::get().to(asset));
}

async fn asset(name: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|(n, _, _)| *n == name.as_str()) {
        // Links carry `?v=<version>`, so a day of caching never serves a stale file after an
        // upgrade.
        Some((_, ctype, body)) => HttpResponse::Ok()
            .content_type(*ctype)
            .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .body(*body),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("not found"),
    }
}
