//! The route table's handlers. HTTP concerns only: parse the request into domain types, call
//! storage or a gateway, shape the response.

mod admin;
mod campaigns;
mod client_errors;
mod dashboard;
pub(crate) mod donations;
pub(crate) mod form;
mod health;
mod payments;
mod referrals;

use actix_web::web;

/// A donation or share-link form is a few hundred bytes; more is not a donor (413). Gateway
/// notifications keep actix's 256 KiB default.
pub const FORM_BODY_LIMIT: usize = 16 * 1024;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics))
        .route("/api/v1/openapi.json", web::get().to(health::openapi))
        .service(
            web::resource("/api/v1/client-errors")
                .app_data(web::PayloadConfig::new(client_errors::BODY_LIMIT))
                .route(web::post().to(client_errors::report_client_error)),
        )
        .route("/api/v1/campaigns", web::get().to(campaigns::list_campaigns))
        .route("/api/v1/campaigns/{slug}/totals", web::get().to(campaigns::get_totals))
        .route("/api/v1/campaigns/{slug}/leaderboard", web::get().to(campaigns::get_leaderboard))
        .service(
            web::resource("/api/v1/donations")
                .app_data(web::PayloadConfig::new(FORM_BODY_LIMIT))
                .route(web::post().to(donations::create_donation)),
        )
        .route("/api/v1/payments/forward.js", web::get().to(payments::forward_script))
        .route("/api/v1/payments/{gateway}/return", web::get().to(payments::payment_return))
        .route("/api/v1/payments/{gateway}/return", web::post().to(payments::payment_return))
        .route("/api/v1/payments/{gateway}/forward/{donation}", web::get().to(payments::payment_forward))
        .route("/api/v1/payments/{gateway}/webhook", web::post().to(payments::payment_webhook))
        .service(
            web::resource("/api/v1/referrals")
                .app_data(web::PayloadConfig::new(FORM_BODY_LIMIT))
                .route(web::post().to(referrals::create_referral)),
        )
        .route("/api/v1/referrals/{code}", web::get().to(referrals::get_referral))
        .route("/r/{code}", web::get().to(referrals::follow_referral))
        .route("/api/v1/admin/donations", web::post().to(admin::record_offline_gift))
        .route("/api/v1/admin/donations.csv", web::get().to(admin::export_donations))
        .route("/api/v1/admin/payments", web::get().to(admin::payments_health))
        .route("/api/v1/admin/dashboard.json", web::get().to(dashboard::json))
        .route("/api/v1/admin/dashboard/{section}.csv", web::get().to(dashboard::csv))
        .route("/admin", web::get().to(dashboard::redirect))
        .route("/admin/", web::get().to(dashboard::page))
        .route("/admin/dashboard.css", web::get().to(dashboard::stylesheet));
}
