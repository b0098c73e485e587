//! The N-Genius adapter against a local server speaking its protocol: access tokens, orders,
//! the hosted page's return, and unsigned notifications that only prompt a question.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use api::domain::{DonationId, DonationStatus};
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use crate::helpers::{TestApp, location};

const API_KEY: &str = "bmdlbml1cy10ZXN0LWtleQ==";
const OUTLET: &str = "5edab6d7-5946-43f4-b8c7-06b29c272bdd";

macro_rules! with_ngenius {
    ($settings:ident; $($name:ident),+ $(,)?) => {$(
        mod $name {
            use crate::helpers::{Backend, spawn_app_with};

            #[tokio::test]
            async fn sqlite() {
                let fake = super::FakeNgenius::start();
                let app = spawn_app_with(Backend::Sqlite, |s| super::$settings(s, &fake)).await.unwrap();
                super::$name(app, fake).await;
            }

            #[tokio::test]
            async fn postgres() {
                let fake = super::FakeNgenius::start();
                if let Some(app) = spawn_app_with(Backend::Postgres, |s| super::$settings(s, &fake)).await {
                    super::$name(app, fake).await;
                }
            }
        }
    )+};
}

with_ngenius!(
    use_ngenius;
    paying_through_ngenius_moves_the_total_once,
    a_forged_notification_is_only_a_prompt_and_changes_nothing,
    a_notification_for_an_unknown_order_is_refused,
    a_failed_payment_leads_to_the_failed_page,
    an_order_for_another_amount_is_kept_for_review,
    an_expired_token_is_replaced_once,
);
with_ngenius!(use_ngenius_and_reconcile; the_reconciler_asks_ngenius_about_a_payment_nobody_reported);

fn use_ngenius(settings: &mut api::Settings, fake: &FakeNgenius) {
    settings.ngenius_api_key = Some(API_KEY.to_string().into());
    settings.ngenius_outlet_ref = Some(OUTLET.into());
    settings.ngenius_api_base = fake.url.clone();
    settings.gateway_routes = Some("*=ngenius".into());
}

fn use_ngenius_and_reconcile(settings: &mut api::Settings, fake: &FakeNgenius) {
    use_ngenius(settings, fake);
    settings.reconcile_interval_seconds = 1;
    settings.reconcile_after_seconds = 0;
}

#[derive(Default)]
struct Ngenius {
    orders: HashMap<String, Value>,
    tokens_issued: usize,
    /// Tokens the server still accepts.
    valid_tokens: Vec<String>,
}

#[derive(Clone)]
pub struct FakeNgenius {
    url: Url,
    state: Arc<Mutex<Ngenius>>,
}

type Shared = web::Data<(Arc<Mutex<Ngenius>>, Url)>;

impl FakeNgenius {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(Ngenius::default()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let data = web::Data::new((state.clone(), url.clone()));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/identity/auth/access-token", web::post().to(issue_token))
                .route("/transactions/outlets/{outlet}/orders", web::post().to(create_order))
                .route("/transactions/outlets/{outlet}/orders/{reference}", web::get().to(get_order))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { url, state }
    }

    fn order_of(&self, pay_page: &Url) -> Value {
        let reference = pay_page.query_pairs().find(|(k, _)| k == "code").unwrap().1.to_string();
        self.state.lock().unwrap().orders[&reference].clone()
    }

    fn set_state(&self, order: &Value, state: &str) {
        let reference = order["reference"].as_str().unwrap();
        self.state.lock().unwrap().orders.get_mut(reference).unwrap()["_embedded"]["payment"][0]["state"] =
            json!(state);
    }

    fn revoke_tokens(&self) {
        self.state.lock().unwrap().valid_tokens.clear();
    }
}

fn bearer_ok(request: &HttpRequest, state: &Ngenius) -> bool {
    let presented = request.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    presented.strip_prefix("Bearer ").is_some_and(|t| state.valid_tokens.iter().any(|v| v == t))
}

async fn issue_token(request: HttpRequest, data: Shared) -> HttpResponse {
    let basic = request.headers().get("authorization").and_then(|v| v.to_str().ok());
    let media = request.headers().get("content-type").and_then(|v| v.to_str().ok());
    if basic != Some(&format!("Basic {API_KEY}")) || media != Some("application/vnd.ni-identity.v1+json") {
        return HttpResponse::Unauthorized().finish();
    }
    let mut state = data.0.lock().unwrap();
    state.tokens_issued += 1;
    let token = format!("token-{}", state.tokens_issued);
    state.valid_tokens.push(token.clone());
    HttpResponse::Ok().json(json!({ "access_token": token, "expires_in": 300, "token_type": "bearer" }))
}

async fn create_order(request: HttpRequest, outlet: web::Path<String>, body: web::Bytes, data: Shared) -> HttpResponse {
    let mut state = data.0.lock().unwrap();
    if !bearer_ok(&request, &state) {
        return HttpResponse::Unauthorized().finish();
    }
    let media = request.headers().get("content-type").and_then(|v| v.to_str().ok());
    if outlet.as_str() != OUTLET || media != Some("application/vnd.ni-payment.v2+json") {
        return HttpResponse::BadRequest().finish();
    }
    let asked: Value = serde_json::from_slice(&body).unwrap();
    let reference = uuid::Uuid::new_v4().to_string();
    let pay = data.1.join(&format!("pay?code={reference}")).unwrap();
    let order = json!({
        "reference": reference, "action": asked["action"], "amount": asked["amount"],
        "merchantOrderReference": asked["merchantOrderReference"],
        "merchantAttributes": asked["merchantAttributes"],
        "_links": { "payment": { "href": pay.as_str() } },
        "_embedded": { "payment": [{ "state": "STARTED" }] },
    });
    state.orders.insert(reference, order.clone());
    HttpResponse::Created().json(order)
}

async fn get_order(request: HttpRequest, path: web::Path<(String, String)>, data: Shared) -> HttpResponse {
    let state = data.0.lock().unwrap();
    if !bearer_ok(&request, &state) {
        return HttpResponse::Unauthorized().finish();
    }
    match state.orders.get(&path.1) {
        Some(order) => HttpResponse::Ok().json(order),
        None => HttpResponse::NotFound().json(json!({ "message": "Not found", "code": 404 })),
    }
}

async fn give(app: &TestApp, fake: &FakeNgenius) -> Value {
    let pay_page = app.start_donation(&[("campaign", "water"), ("amount", "25")]).await;
    assert_eq!(pay_page.path(), "/pay", "sent to {pay_page}");
    fake.order_of(&pay_page)
}

/// The browser back from the hosted page, with the `ref` N-Genius appends.
async fn come_back(app: &TestApp, order: &Value) -> Response {
    let mut url = Url::parse(order["merchantAttributes"]["redirectUrl"].as_str().unwrap()).unwrap();
    url.query_pairs_mut().append_pair("ref", order["reference"].as_str().unwrap());
    app.client.get(url).send().await.unwrap()
}

type Response = reqwest::Response;

async fn prompt(app: &TestApp, reference: &str, claimed_state: &str) -> (StatusCode, Value) {
    let body = json!({ "eventId": "e1", "eventName": claimed_state, "order": { "reference": reference } });
    let response = app.client.post(app.at("/api/v1/payments/ngenius/webhook")).json(&body).send().await.unwrap();
    (response.status(), response.json().await.unwrap_or_default())
}

fn donation_id(order: &Value) -> DonationId {
    DonationId::parse(order["merchantOrderReference"].as_str().unwrap()).unwrap()
}

async fn paying_through_ngenius_moves_the_total_once(app: TestApp, fake: FakeNgenius) {
    let order = give(&app, &fake).await;
    assert_eq!(order["amount"], json!({ "currencyCode": "USD", "value": 2500 }));
    fake.set_state(&order, "PURCHASED");

    let back = come_back(&app, &order).await;
    assert_eq!(location(&back).as_str(), "https://site.test/thank-you/");
    let (status, answer) = prompt(&app, order["reference"].as_str().unwrap(), "PURCHASED").await;
    assert_eq!((status, answer["result"].as_str()), (StatusCode::OK, Some("duplicate")));

    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (2500, 1));
    assert_eq!(app.store.donation(&donation_id(&order)).await.unwrap().unwrap().status, DonationStatus::Succeeded);
}

async fn a_forged_notification_is_only_a_prompt_and_changes_nothing(app: TestApp, fake: FakeNgenius) {
    let order = give(&app, &fake).await;
    let (status, answer) = prompt(&app, order["reference"].as_str().unwrap(), "PURCHASED").await;

    assert_eq!((status, answer["result"].as_str()), (StatusCode::OK, Some("ignored")), "N-Genius says STARTED");
    assert_eq!(app.store.donation(&donation_id(&order)).await.unwrap().unwrap().status, DonationStatus::Pending);
    assert_eq!(app.stored_totals("water").await.raised_minor, 0);
}

async fn a_notification_for_an_unknown_order_is_refused(app: TestApp, _fake: FakeNgenius) {
    let (status, _) = prompt(&app, "0b7a5c3e-0000-4000-8000-000000000000", "PURCHASED").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = prompt(&app, "../../admin", "PURCHASED").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn a_failed_payment_leads_to_the_failed_page(app: TestApp, fake: FakeNgenius) {
    let order = give(&app, &fake).await;
    fake.set_state(&order, "FAILED");

    let back = come_back(&app, &order).await;

    assert_eq!(location(&back).as_str(), "https://site.test/failed/");
    assert_eq!(app.store.donation(&donation_id(&order)).await.unwrap().unwrap().status, DonationStatus::Failed);
}

async fn an_order_for_another_amount_is_kept_for_review(app: TestApp, fake: FakeNgenius) {
    let order = give(&app, &fake).await;
    let reference = order["reference"].as_str().unwrap();
    {
        let mut state = fake.state.lock().unwrap();
        let stored = state.orders.get_mut(reference).unwrap();
        stored["amount"]["value"] = json!(100);
        stored["_embedded"]["payment"][0]["state"] = json!("PURCHASED");
    }

    let (_, answer) = prompt(&app, reference, "PURCHASED").await;

    assert_eq!(answer["result"], "stored for review");
    assert_eq!(app.stored_totals("water").await.raised_minor, 0);
}

async fn an_expired_token_is_replaced_once(app: TestApp, fake: FakeNgenius) {
    let first = give(&app, &fake).await;
    fake.revoke_tokens();
    let second = give(&app, &fake).await;

    assert_ne!(first["reference"], second["reference"]);
    assert_eq!(fake.state.lock().unwrap().tokens_issued, 2, "one token, then one more after the 401");
}

async fn the_reconciler_asks_ngenius_about_a_payment_nobody_reported(app: TestApp, fake: FakeNgenius) {
    let order = give(&app, &fake).await;
    fake.set_state(&order, "PURCHASED");

    let donation = app.store.donation(&donation_id(&order)).await.unwrap().unwrap();
    let events = app.wait_for_events(&donation, 1).await;

    assert_eq!(events[0].result, "succeeded");
    assert_eq!(app.stored_totals("water").await.raised_minor, 2500);
}
