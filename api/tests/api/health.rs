use crate::helpers::TestApp;
use crate::on_both_databases;

on_both_databases!(health_and_readiness_answer, the_openapi_document_is_published);

async fn health_and_readiness_answer(app: TestApp) {
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
}

async fn the_openapi_document_is_published(app: TestApp) {
    let document: serde_json::Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    for path in [
        "/api/v1/campaigns/{slug}/totals",
        "/api/v1/donations",
        "/api/v1/payments/{gateway}/webhook",
        "/metrics",
        "/api/v1/client-errors",
    ] {
        assert!(document["paths"].get(path).is_some(), "{path} is documented");
    }
}
