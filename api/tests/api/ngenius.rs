//! The N-Genius adapter against a local server speaking its protocol: access tokens, orders,
//! the hosted page's return, and unsigned notifications that only prompt a question.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use api::domain::{AmountMinor, Currency, DonationId, DonationStatus, Outcome};
use api::gateway::ngenius::NgeniusGateway;
use api::gateway::{CheckoutRequest, PaymentGateway, PendingPayment};
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use crate::helpers::{TestApp, config_path, location, test_settings};

const API_KEY: &str = "bmdlbml1cy10ZXN0LWtleQ==";
const OUTLET: &str = "5edab6d7-5946-43f4-b8c7-06b29c272bdd";
const PAYMENT_MEDIA_TYPE: &str = "application/vnd.ni-payment.v2+json";
const IDENTITY_MEDIA_TYPE: &str = "application/vnd.ni-identity.v1+json";

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
    a_replayed_notification_changes_nothing,
    a_forged_notification_is_only_a_prompt_and_changes_nothing,
    a_notification_for_an_unknown_order_is_refused,
    a_failed_payment_leads_to_the_failed_page,
    a_cancelled_payment_changes_nothing,
    an_order_for_another_amount_is_kept_for_review,
    amounts_reach_ngenius_in_minor_units,
    an_expired_token_is_replaced_once,
    a_token_is_used_until_shortly_before_it_expires,
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

/// What the fake N-Genius holds: its orders as it would answer them, and its access tokens.
struct Ngenius {
    orders: HashMap<String, Value>,
    /// The `expires_in` of the tokens it issues; a token is refused once it has expired.
    token_lifetime: Duration,
    /// Tokens the server still accepts, with when they expire.
    tokens: HashMap<String, Instant>,
    tokens_issued: usize,
    /// Order calls answered 401 (no token, an expired one, or a revoked one).
    unauthorized: usize,
}

#[derive(Clone)]
pub struct FakeNgenius {
    url: Url,
    state: Arc<Mutex<Ngenius>>,
}

type Shared = web::Data<(Arc<Mutex<Ngenius>>, Url)>;

impl FakeNgenius {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(Ngenius {
            orders: HashMap::new(),
            token_lifetime: Duration::from_secs(300),
            tokens: HashMap::new(),
            tokens_issued: 0,
            unauthorized: 0,
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let data = web::Data::new((state.clone(), url.clone()));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/identity/auth/access-token", web::post().to(issue_token))
                .route("/transactions/outlets/{outlet}/orders", web::post().to(create_order))
                .route("/transactions/outlets/{outlet}/orders/{reference}", web::get().to(get_order))
                .route("/pay", web::get().to(pay_page))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { url, state }
    }

    fn ngenius(&self) -> std::sync::MutexGuard<'_, Ngenius> {
        self.state.lock().unwrap()
    }

    fn order_of(&self, pay_page: &Url) -> Value {
        let reference = pay_page.query_pairs().find(|(k, _)| k == "code").unwrap().1.to_string();
        self.ngenius().orders[&reference].clone()
    }

    /// Changes an order as N-Genius would when the donor pays, fails, or a refund is made.
    fn change(&self, order: &Value, change: impl FnOnce(&mut Value)) {
        let reference = order["reference"].as_str().unwrap();
        change(self.ngenius().orders.get_mut(reference).unwrap());
    }

    fn set_state(&self, order: &Value, state: &str) {
        self.change(order, |order| order["_embedded"]["payment"][0]["state"] = json!(state));
    }

    fn revoke_tokens(&self) {
        self.ngenius().tokens.clear();
    }
}

fn header<'a>(request: &'a HttpRequest, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Whether an order call carries a live Bearer token; counts the 401 it answers otherwise.
fn authorised(request: &HttpRequest, state: &mut Ngenius) -> bool {
    let presented = header(request, "authorization").and_then(|v| v.strip_prefix("Bearer ")).unwrap_or_default();
    let live = state.tokens.get(presented).is_some_and(|expires| Instant::now() < *expires);
    if !live {
        state.unauthorized += 1;
    }
    live
}

async fn issue_token(request: HttpRequest, data: Shared) -> HttpResponse {
    let basic = header(&request, "authorization");
    if basic != Some(&format!("Basic {API_KEY}")) {
        return HttpResponse::Unauthorized().json(json!({ "message": "Unauthorized", "code": 401 }));
    }
    if header(&request, "content-type") != Some(IDENTITY_MEDIA_TYPE)
        || header(&request, "accept") != Some(IDENTITY_MEDIA_TYPE)
    {
        return HttpResponse::UnsupportedMediaType().finish();
    }
    let mut state = data.0.lock().unwrap();
    state.tokens_issued += 1;
    let token = format!("token-{}", state.tokens_issued);
    let lifetime = state.token_lifetime;
    state.tokens.insert(token.clone(), Instant::now() + lifetime);
    HttpResponse::Ok().json(json!({
        "access_token": token, "expires_in": lifetime.as_secs(), "refresh_expires_in": 1800, "token_type": "bearer",
    }))
}

async fn create_order(request: HttpRequest, outlet: web::Path<String>, body: web::Bytes, data: Shared) -> HttpResponse {
    let mut state = data.0.lock().unwrap();
    if !authorised(&request, &mut state) {
        return HttpResponse::Unauthorized().finish();
    }
    if header(&request, "content-type") != Some(PAYMENT_MEDIA_TYPE)
        || header(&request, "accept") != Some(PAYMENT_MEDIA_TYPE)
    {
        return HttpResponse::UnsupportedMediaType().finish();
    }
    if outlet.as_str() != OUTLET {
        return HttpResponse::NotFound().json(json!({ "message": "Outlet not found", "code": 404 }));
    }
    let asked: Value = serde_json::from_slice(&body).unwrap_or_default();
    let valid = asked["action"] == "PURCHASE"
        && asked["amount"]["value"].as_i64().is_some_and(|v| v > 0)
        && asked["amount"]["currencyCode"].as_str().is_some_and(|c| c.len() == 3)
        && asked["merchantAttributes"]["redirectUrl"].is_string();
    if !valid {
        return HttpResponse::BadRequest().json(json!({ "message": "Bad Request", "code": 400, "asked": asked }));
    }
    let reference = uuid::Uuid::new_v4().to_string();
    let pay = data.1.join(&format!("pay?code={reference}")).unwrap();
    let order = json!({
        "_id": format!("urn:order:{reference}"),
        "_links": { "payment": { "href": pay.as_str() } },
        "action": asked["action"],
        "amount": asked["amount"],
        "language": asked["language"],
        "merchantAttributes": asked["merchantAttributes"],
        "reference": reference,
        "outletId": OUTLET,
        "merchantOrderReference": asked["merchantOrderReference"],
        "_embedded": { "payment": [{ "_id": format!("urn:payment:{}", uuid::Uuid::new_v4()), "state": "STARTED" }] },
    });
    state.orders.insert(reference, order.clone());
    HttpResponse::Created().content_type(PAYMENT_MEDIA_TYPE).body(order.to_string())
}

async fn get_order(request: HttpRequest, path: web::Path<(String, String)>, data: Shared) -> HttpResponse {
    let mut state = data.0.lock().unwrap();
    if !authorised(&request, &mut state) {
        return HttpResponse::Unauthorized().finish();
    }
    if header(&request, "accept") != Some(PAYMENT_MEDIA_TYPE) {
        return HttpResponse::NotAcceptable().finish();
    }
    match state.orders.get(&path.1).filter(|_| path.0 == OUTLET) {
        Some(order) => HttpResponse::Ok().content_type(PAYMENT_MEDIA_TYPE).body(order.to_string()),
        None => HttpResponse::NotFound().json(json!({ "message": "Not found", "code": 404 })),
    }
}

async fn pay_page(query: web::Query<HashMap<String, String>>, data: Shared) -> HttpResponse {
    let known = query.get("code").is_some_and(|code| data.0.lock().unwrap().orders.contains_key(code));
    if known { HttpResponse::Ok().body("N-Genius payment page") } else { HttpResponse::NotFound().finish() }
}

/// Gives through the donation form and checks it lands on the fake's payment page; returns the
/// order N-Genius holds for it.
async fn give_to(app: &TestApp, fake: &FakeNgenius, campaign: &str, amount: &str) -> Value {
    let pay_page = app.start_donation(&[("campaign", campaign), ("amount", amount)]).await;
    assert_eq!(pay_page.path(), "/pay", "sent to {pay_page}");
    assert_eq!(app.client.get(pay_page.clone()).send().await.unwrap().status(), StatusCode::OK);
    fake.order_of(&pay_page)
}

async fn give(app: &TestApp, fake: &FakeNgenius) -> Value {
    give_to(app, fake, "water", "25").await
}

/// The browser back from the hosted page, with the `ref` N-Genius appends.
async fn come_back(app: &TestApp, order: &Value) -> Response {
    let mut url = Url::parse(order["merchantAttributes"]["redirectUrl"].as_str().unwrap()).unwrap();
    url.query_pairs_mut().append_pair("ref", order["reference"].as_str().unwrap());
    app.client.get(url).send().await.unwrap()
}

type Response = reqwest::Response;

/// A notification in N-Genius's shape, claiming `claimed_state`; the adapter must not believe it.
async fn prompt(app: &TestApp, reference: &str, claimed_state: &str) -> (StatusCode, Value) {
    let body = json!({
        "eventId": uuid::Uuid::new_v4().to_string(),
        "eventName": claimed_state,
        "order": {
            "reference": reference,
            "merchantOrderReference": "somebody-else",
            "amount": { "currencyCode": "USD", "value": 999_999 },
            "_embedded": { "payment": [{ "state": claimed_state }] },
        },
    });
    post_webhook(app, body.to_string()).await
}

async fn post_webhook(app: &TestApp, body: String) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.at("/api/v1/payments/ngenius/webhook"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap_or_default())
}

fn donation_id(order: &Value) -> DonationId {
    DonationId::parse(order["merchantOrderReference"].as_str().unwrap()).unwrap()
}

async fn status_of(app: &TestApp, order: &Value) -> DonationStatus {
    app.store.donation(&donation_id(order)).await.unwrap().unwrap().status
}

async fn results(app: &TestApp, order: &Value) -> Vec<String> {
    app.store.payment_events(&donation_id(order)).await.unwrap().into_iter().map(|e| e.result).collect()
}

async fn paying_through_ngenius_moves_the_total_once(app: TestApp, fake: FakeNgenius) {
    let order = give(&app, &fake).await;
    assert_eq!(order["amount"], json!({ "currencyCode": "USD", "value": 2500 }));
    assert_eq!((order["action"].as_str(), order["language"].as_str()), (Some("PURCHASE"), Some("en")));
    fake.set_state(&order, "PURCHASED");

    let back = come_back(&app, &order).await;
    assert_eq!(location(&back).as_str(), "https://site.test/thank-you/");
    let (status, answer) = prompt(&app, order["reference"].as_str().unwrap(), "PURCHASED").await;
    assert_eq!((status, answer["result"].as_str()), (StatusCode::OK, Some("duplicate")));

    app.wait_for_raised("water", 2500).await;
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (2500, 1));
    assert_eq!(status_of(&app, &order).await, DonationStatus::Succeeded);
    let events = app.store.payment_events(&donation_id(&order)).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event_id, format!("{}:succeeded", order["reference"].as_str().unwrap()));
    let state = fake.ngenius();
    assert_eq!((state.tokens_issued, state.unauthorized), (1, 0), "one token serves the order and both questions");
}

async fn a_replayed_notification_changes_nothing(app: TestApp, fake: FakeNgenius) {
    let order = give(&app, &fake).await;
    let reference = order["reference"].as_str().unwrap();
    fake.set_state(&order, "PURCHASED");

    let first = prompt(&app, reference, "PURCHASED").await;
    let replayed = prompt(&app, reference, "PURCHASED").await;
    let back = come_back(&app, &order).await;

    assert_eq!(first, (StatusCode::OK, json!({ "received": true, "result": "applied" })));
    assert_eq!(replayed, (StatusCode::OK, json!({ "received": true, "result": "duplicate" })));
    assert_eq!(location(&back).as_str(), "https://site.test/thank-you/");
    assert_eq!(results(&app, &order).await.len(), 1);
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (2500, 1));
}

async fn a_forged_notification_is_only_a_prompt_and_changes_nothing(app: TestApp, fake: FakeNgenius) {
    let order = give(&app, &fake).await;
    let (status, answer) = prompt(&app, order["reference"].as_str().unwrap(), "PURCHASED").await;

    assert_eq!((status, answer["result"].as_str()), (StatusCode::OK, Some("ignored")), "N-Genius says STARTED");
    assert_eq!(status_of(&app, &order).await, DonationStatus::Pending);
    assert!(results(&app, &order).await.is_empty());
    assert_eq!(app.stored_totals("water").await.raised_minor, 0);
}

async fn a_notification_for_an_unknown_order_is_refused(app: TestApp, _fake: FakeNgenius) {
    let (status, _) = prompt(&app, "0b7a5c3e-0000-4000-8000-000000000000", "PURCHASED").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "N-Genius answers 404");

    for body in [
        json!({ "eventName": "PURCHASED", "order": { "reference": "../../admin" } }).to_string(),
        json!({ "eventName": "PURCHASED" }).to_string(),
        "not json".to_string(),
    ] {
        let (status, _) = post_webhook(&app, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    assert_eq!(app.stored_totals("water").await.raised_minor, 0);
}

async fn a_failed_payment_leads_to_the_failed_page(app: TestApp, fake: FakeNgenius) {
    let order = give(&app, &fake).await;
    fake.set_state(&order, "FAILED");

    let back = come_back(&app, &order).await;

    assert_eq!(location(&back).as_str(), "https://site.test/failed/");
    assert_eq!(status_of(&app, &order).await, DonationStatus::Failed);
    assert_eq!(app.stored_totals("water").await.raised_minor, 0);
}

async fn a_cancelled_payment_changes_nothing(app: TestApp, fake: FakeNgenius) {
    let order = give(&app, &fake).await;
    let cancel = Url::parse(order["merchantAttributes"]["cancelUrl"].as_str().unwrap()).unwrap();
    assert_eq!(cancel.path(), "/api/v1/payments/ngenius/return");

    let back = app.client.get(cancel).send().await.unwrap();

    assert_eq!(location(&back).as_str(), "https://site.test/failed/");
    assert_eq!(status_of(&app, &order).await, DonationStatus::Pending, "the donor may still come back and pay");
    assert!(results(&app, &order).await.is_empty());
}

async fn an_order_for_another_amount_is_kept_for_review(app: TestApp, fake: FakeNgenius) {
    let order = give(&app, &fake).await;
    fake.change(&order, |order| {
        order["amount"]["value"] = json!(100);
        order["_embedded"]["payment"][0]["state"] = json!("PURCHASED");
    });

    let back = come_back(&app, &order).await;
    let (_, answer) = prompt(&app, order["reference"].as_str().unwrap(), "PURCHASED").await;

    assert_eq!(location(&back).as_str(), "https://site.test/failed/");
    assert_eq!(results(&app, &order).await, ["refused: amount or currency mismatch"]);
    assert_eq!(answer["result"], "duplicate", "the same fact, already on record");
    assert_eq!(status_of(&app, &order).await, DonationStatus::Pending);
    assert_eq!(app.stored_totals("water").await.raised_minor, 0);
}

async fn amounts_reach_ngenius_in_minor_units(app: TestApp, fake: FakeNgenius) {
    let dinars = give_to(&app, &fake, "wells", "1.250").await;
    let yen = give_to(&app, &fake, "schools", "500").await;
    let dollars = give_to(&app, &fake, "water", "25.50").await;

    assert_eq!(dinars["amount"], json!({ "currencyCode": "KWD", "value": 1250 }));
    assert_eq!(yen["amount"], json!({ "currencyCode": "JPY", "value": 500 }));
    assert_eq!(dollars["amount"], json!({ "currencyCode": "USD", "value": 2550 }));
}

async fn an_expired_token_is_replaced_once(app: TestApp, fake: FakeNgenius) {
    let first = give(&app, &fake).await;
    fake.revoke_tokens();
    let second = give(&app, &fake).await;

    assert_ne!(first["reference"], second["reference"]);
    let state = fake.ngenius();
    assert_eq!((state.tokens_issued, state.unauthorized), (2, 1), "one token, then one more after the 401");
}

async fn a_token_is_used_until_shortly_before_it_expires(app: TestApp, fake: FakeNgenius) {
    // Tokens for four seconds: ours is renewed after two, before N-Genius would refuse it.
    fake.ngenius().token_lifetime = Duration::from_secs(4);
    give(&app, &fake).await;
    give(&app, &fake).await;
    assert_eq!(fake.ngenius().tokens_issued, 1);

    tokio::time::sleep(Duration::from_millis(2200)).await;
    give(&app, &fake).await;

    let state = fake.ngenius();
    assert_eq!((state.tokens_issued, state.unauthorized), (2, 0), "renewed before it expired, not after a 401");
}

async fn the_reconciler_asks_ngenius_about_a_payment_nobody_reported(app: TestApp, fake: FakeNgenius) {
    let order = give(&app, &fake).await;
    fake.set_state(&order, "PURCHASED");

    let donation = app.store.donation(&donation_id(&order)).await.unwrap().unwrap();
    let events = app.wait_for_events(&donation, 1).await;

    assert_eq!(events[0].result, "succeeded");
    assert_eq!(app.stored_totals("water").await.raised_minor, 2500);
}

/// The adapter on its own, as the reconciler uses it: no database involved.
fn adapter(fake: &FakeNgenius) -> NgeniusGateway {
    let mut settings = test_settings("sqlite::memory:", &config_path("site_config.toml"));
    use_ngenius(&mut settings, fake);
    NgeniusGateway::from_settings(&settings).unwrap().expect("configured")
}

#[tokio::test]
async fn fetch_status_reports_what_ngenius_says() {
    let fake = FakeNgenius::start();
    let gateway = adapter(&fake);
    let aed = Currency::parse("AED").unwrap();
    let donation_id = DonationId::generate();
    let url = |path: &str| Url::parse("https://api.test/api/v1/payments/ngenius/").unwrap().join(path).unwrap();
    let checkout = gateway
        .start(&CheckoutRequest {
            donation_id: donation_id.clone(),
            amount: AmountMinor::parse(1000).unwrap(),
            currency: aed,
            return_url: url("return"),
            notify_url: url("webhook"),
            forward_url: url("forward"),
            lang: "ar".into(),
        })
        .await
        .unwrap();
    let order = fake.order_of(&checkout.redirect_url);
    assert_eq!(
        (order["reference"].as_str(), order["language"].as_str()),
        (Some(&*checkout.gateway_reference), Some("ar"))
    );
    let pending = |reference: Option<&str>| PendingPayment {
        donation_id: donation_id.clone(),
        amount: AmountMinor::parse(1000).unwrap(),
        currency: aed,
        gateway_reference: reference.map(str::to_string),
    };
    let started = pending(Some(&checkout.gateway_reference));
    let ask = || gateway.fetch_status(&started);

    assert!(gateway.fetch_status(&pending(None)).await.unwrap().is_none(), "never reached N-Genius");
    assert!(ask().await.unwrap().is_none(), "STARTED: no verdict yet");
    let refunds = |values: &[i64]| {
        values.iter().map(|v| json!({ "amount": { "currencyCode": "AED", "value": v }, "state": "SUCCESS" })).collect()
    };
    let cases: [(&str, Vec<Value>, Outcome); 5] = [
        ("PURCHASED", vec![], Outcome::Succeeded),
        ("CAPTURED", vec![], Outcome::Succeeded),
        ("FAILED", vec![], Outcome::Failed),
        ("PARTIALLY_REFUNDED", refunds(&[300, 200]), Outcome::Refunded { total_refunded: 500 }),
        ("REFUNDED", refunds(&[300, 200, 500]), Outcome::Refunded { total_refunded: 1000 }),
    ];
    for (state, refunds, outcome) in cases {
        fake.change(&order, |order| {
            order["_embedded"]["payment"][0]["state"] = json!(state);
            order["_embedded"]["payment"][0]["_embedded"] = json!({ "cnp:refund": refunds });
        });
        let event = ask().await.unwrap().expect(state);
        assert_eq!(event.outcome, outcome, "{state}");
        assert_eq!((event.donation_id.as_str(), event.amount.get(), event.currency), (donation_id.as_str(), 1000, aed));
        assert_eq!(event.gateway_reference.as_deref(), Some(&*checkout.gateway_reference));
        assert_eq!(ask().await.unwrap().unwrap().event_id, event.event_id, "asking twice, the same event");
    }

    let unknown = gateway.fetch_status(&pending(Some("0b7a5c3e-0000-4000-8000-000000000000"))).await;
    assert!(unknown.is_err(), "N-Genius knows no such order");
    assert_eq!(fake.ngenius().tokens_issued, 1);
}

#[tokio::test]
async fn ngenius_is_on_with_its_api_key_and_needs_its_outlet() {
    let fake = FakeNgenius::start();
    let mut settings = test_settings("sqlite::memory:", &config_path("site_config.toml"));
    assert!(NgeniusGateway::from_settings(&settings).unwrap().is_none());

    settings.ngenius_api_key = Some(API_KEY.to_string().into());
    let missing = NgeniusGateway::from_settings(&settings).err().expect("an outlet is needed");
    assert!(missing.contains("PLEDGE_NGENIUS_OUTLET_REF"), "{missing}");

    settings.ngenius_outlet_ref = Some("../outlets".into());
    assert!(NgeniusGateway::from_settings(&settings).is_err());

    use_ngenius(&mut settings, &fake);
    assert!(NgeniusGateway::from_settings(&settings).unwrap().is_some());
}
