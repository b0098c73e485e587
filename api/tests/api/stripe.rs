//! The Stripe adapter against a local server speaking Stripe's protocol: Checkout Sessions
//! (with idempotency keys), charges, and webhooks signed as Stripe signs them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use api::domain::{DonationId, DonationStatus};
use api::gateway::stripe;
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use crate::helpers::{TestApp, location};

const SECRET_KEY: &str = "sk_test_pledge";
const WEBHOOK_SECRET: &str = "whsec_pledge";

/// Runs each test on both databases with Stripe as the only route, against a fresh fake.
macro_rules! with_stripe {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            use crate::helpers::{Backend, spawn_app_with};

            #[tokio::test]
            async fn sqlite() {
                let fake = super::FakeStripe::start();
                let app = spawn_app_with(Backend::Sqlite, |s| super::use_stripe(s, &fake)).await.unwrap();
                super::$name(app, fake).await;
            }

            #[tokio::test]
            async fn postgres() {
                let fake = super::FakeStripe::start();
                if let Some(app) = spawn_app_with(Backend::Postgres, |s| super::use_stripe(s, &fake)).await {
                    super::$name(app, fake).await;
                }
            }
        }
    )+};
}

with_stripe!(
    paying_through_stripe_moves_the_total_once,
    a_return_naming_another_donations_session_is_refused,
    a_donor_who_cancels_at_stripe_sees_the_failed_page,
    a_delayed_payment_shows_thanks_then_counts_when_stripe_confirms,
    forged_stale_and_replayed_webhooks_change_nothing,
    a_webhook_for_another_amount_is_kept_for_review,
    partial_and_full_refunds_and_a_lost_dispute_take_money_back,
    a_double_click_opens_one_stripe_session,
);

fn use_stripe(settings: &mut api::Settings, fake: &FakeStripe) {
    settings.stripe_secret_key = Some(SECRET_KEY.to_string().into());
    settings.stripe_webhook_secret = Some(WEBHOOK_SECRET.to_string().into());
    settings.stripe_api_base = fake.url.clone();
    settings.gateway_routes = Some("*=stripe".into());
}

/// What the fake Stripe holds.
#[derive(Default)]
struct Stripe {
    sessions: HashMap<String, Value>,
    /// Session id by idempotency key.
    by_key: HashMap<String, String>,
    /// The idempotency key of every create request received.
    creates: Vec<String>,
    charges: HashMap<String, Value>,
}

#[derive(Clone)]
pub struct FakeStripe {
    url: Url,
    state: Arc<Mutex<Stripe>>,
}

impl FakeStripe {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(Stripe::default()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let data = web::Data::new((state.clone(), url.clone()));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/v1/checkout/sessions", web::post().to(create_session))
                .route("/v1/checkout/sessions/{id}", web::get().to(get_session))
                .route("/v1/charges/{id}", web::get().to(get_charge))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { url, state }
    }

    fn session_of(&self, hosted_page: &Url) -> Value {
        let id = hosted_page.path().rsplit('/').next().unwrap().to_string();
        self.state.lock().unwrap().sessions[&id].clone()
    }

    fn update_session(&self, id: &str, change: impl FnOnce(&mut Value)) {
        change(self.state.lock().unwrap().sessions.get_mut(id).unwrap());
    }

    /// The donor pays: the session completes, and a charge exists carrying the intent's metadata.
    fn pay(&self, session: &Value) -> String {
        let id = session["id"].as_str().unwrap();
        self.update_session(id, |s| {
            s["status"] = json!("complete");
            s["payment_status"] = json!("paid");
        });
        let charge_id = format!("ch_{}", &id[3..]);
        let charge = json!({
            "id": charge_id, "object": "charge", "amount": session["amount_total"], "amount_refunded": 0,
            "currency": session["currency"], "metadata": session["payment_intent_data_metadata"],
        });
        self.state.lock().unwrap().charges.insert(charge_id.clone(), charge);
        charge_id
    }

    fn charge(&self, id: &str) -> Value {
        self.state.lock().unwrap().charges[id].clone()
    }
}

fn authorized(request: &HttpRequest) -> bool {
    request.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {SECRET_KEY}"))
}

fn stripe_error(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status.as_u16()).unwrap())
        .json(json!({ "error": { "message": message, "type": "invalid_request_error" } }))
}

async fn create_session(
    request: HttpRequest,
    form: web::Bytes,
    data: web::Data<(Arc<Mutex<Stripe>>, Url)>,
) -> HttpResponse {
    if !authorized(&request) {
        return stripe_error(StatusCode::UNAUTHORIZED, "Invalid API Key provided");
    }
    let fields: HashMap<String, String> = url::form_urlencoded::parse(&form).into_owned().collect();
    for required in ["mode", "success_url", "cancel_url", "line_items[0][price_data][unit_amount]"] {
        if !fields.contains_key(required) {
            return stripe_error(StatusCode::BAD_REQUEST, &format!("Missing required param: {required}."));
        }
    }
    let key = request.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let (state, base) = data.get_ref();
    let mut stripe = state.lock().unwrap();
    stripe.creates.push(key.clone());
    if let Some(id) = stripe.by_key.get(&key).filter(|_| !key.is_empty()) {
        return HttpResponse::Ok().json(&stripe.sessions[id]);
    }
    let id = format!("cs_test_{}", stripe.sessions.len() + 1);
    let session = json!({
        "id": id, "object": "checkout.session",
        "url": base.join(&format!("pay/{id}")).unwrap().as_str(),
        "client_reference_id": fields.get("client_reference_id"),
        "status": "open", "payment_status": "unpaid",
        "amount_total": fields["line_items[0][price_data][unit_amount]"].parse::<i64>().unwrap(),
        "currency": fields["line_items[0][price_data][currency]"],
        "metadata": { "donation_id": fields.get("metadata[donation_id]") },
        "success_url": fields["success_url"], "cancel_url": fields["cancel_url"],
        "payment_intent_data_metadata": { "donation_id": fields.get("payment_intent_data[metadata][donation_id]") },
    });
    stripe.sessions.insert(id.clone(), session.clone());
    stripe.by_key.insert(key, id);
    HttpResponse::Ok().json(session)
}

async fn get_session(
    request: HttpRequest,
    id: web::Path<String>,
    data: web::Data<(Arc<Mutex<Stripe>>, Url)>,
) -> HttpResponse {
    if !authorized(&request) {
        return stripe_error(StatusCode::UNAUTHORIZED, "Invalid API Key provided");
    }
    match data.0.lock().unwrap().sessions.get(id.as_str()) {
        Some(session) => HttpResponse::Ok().json(session),
        None => stripe_error(StatusCode::NOT_FOUND, "No such checkout.session"),
    }
}

async fn get_charge(
    request: HttpRequest,
    id: web::Path<String>,
    data: web::Data<(Arc<Mutex<Stripe>>, Url)>,
) -> HttpResponse {
    if !authorized(&request) {
        return stripe_error(StatusCode::UNAUTHORIZED, "Invalid API Key provided");
    }
    match data.0.lock().unwrap().charges.get(id.as_str()) {
        Some(charge) => HttpResponse::Ok().json(charge),
        None => stripe_error(StatusCode::NOT_FOUND, "No such charge"),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Posts an event to our webhook as Stripe would, signed at `timestamp` with `secret`.
async fn send_event(app: &TestApp, event: &Value, timestamp: u64, secret: &str) -> (StatusCode, Value) {
    let body = serde_json::to_vec(event).unwrap();
    let signature = format!("t={timestamp},v1={}", stripe::sign(secret.as_bytes(), timestamp, &body));
    let response = app
        .client
        .post(app.at("/api/v1/payments/stripe/webhook"))
        .header("content-type", "application/json")
        .header("stripe-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap_or_default())
}

async fn deliver(app: &TestApp, id: &str, kind: &str, object: Value) -> String {
    let (status, answer) =
        send_event(app, &json!({ "id": id, "type": kind, "data": { "object": object } }), now(), WEBHOOK_SECRET).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["result"].as_str().unwrap().to_string()
}

async fn give(app: &TestApp, amount: &str) -> Url {
    let hosted_page = app.start_donation(&[("campaign", "water"), ("amount", amount)]).await;
    assert!(hosted_page.path().starts_with("/pay/cs_test_"), "sent to {hosted_page}");
    hosted_page
}

fn donation_id(session: &Value) -> DonationId {
    DonationId::parse(session["client_reference_id"].as_str().unwrap()).unwrap()
}

/// The browser coming back on the success URL, with Stripe's placeholder filled in.
async fn come_back(app: &TestApp, session: &Value) -> String {
    let url =
        session["success_url"].as_str().unwrap().replace("{CHECKOUT_SESSION_ID}", session["id"].as_str().unwrap());
    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{}", response.text().await.unwrap());
    location(&response).to_string()
}

async fn paying_through_stripe_moves_the_total_once(app: TestApp, fake: FakeStripe) {
    let hosted_page = give(&app, "25").await;
    let session = fake.session_of(&hosted_page);
    assert_eq!((session["amount_total"].as_i64(), session["currency"].as_str()), (Some(2500), Some("usd")));
    fake.pay(&session);
    let paid = fake.session_of(&hosted_page);

    assert_eq!(deliver(&app, "evt_completed", "checkout.session.completed", paid.clone()).await, "applied");
    assert_eq!(come_back(&app, &paid).await, "https://site.test/thank-you/");

    let donation = app.store.donation(&donation_id(&paid)).await.unwrap().unwrap();
    assert_eq!((donation.status, donation.gateway.as_str()), (DonationStatus::Succeeded, "stripe"));
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (2500, 1));
    let events = app.events(&donation).await;
    assert_eq!(events.iter().map(|e| e.result.as_str()).collect::<Vec<_>>(), ["succeeded", "unchanged"]);
}

async fn a_return_naming_another_donations_session_is_refused(app: TestApp, fake: FakeStripe) {
    let mine = fake.session_of(&give(&app, "25").await);
    let theirs = fake.session_of(&give(&app, "30").await);
    fake.pay(&theirs);
    let forged = mine["success_url"].as_str().unwrap().replace("{CHECKOUT_SESSION_ID}", theirs["id"].as_str().unwrap());

    let response = app.client.get(forged).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.store.donation(&donation_id(&mine)).await.unwrap().unwrap().status, DonationStatus::Pending);
    assert_eq!(app.stored_totals("water").await.raised_minor, 0);
}

async fn a_donor_who_cancels_at_stripe_sees_the_failed_page(app: TestApp, fake: FakeStripe) {
    let session = fake.session_of(&give(&app, "25").await);
    let response = app.client.get(session["cancel_url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(location(&response).as_str(), "https://site.test/failed/");
    assert_eq!(app.store.donation(&donation_id(&session)).await.unwrap().unwrap().status, DonationStatus::Pending);
}

async fn a_delayed_payment_shows_thanks_then_counts_when_stripe_confirms(app: TestApp, fake: FakeStripe) {
    let hosted_page = give(&app, "25").await;
    let id = fake.session_of(&hosted_page)["id"].as_str().unwrap().to_string();
    fake.update_session(&id, |s| s["status"] = json!("complete"));
    let processing = fake.session_of(&hosted_page);

    assert_eq!(deliver(&app, "evt_done_unpaid", "checkout.session.completed", processing.clone()).await, "ignored");
    assert_eq!(come_back(&app, &processing).await, "https://site.test/thank-you/", "processing: thanks already");
    assert_eq!(app.stored_totals("water").await.raised_minor, 0, "but nothing counted yet");

    assert_eq!(deliver(&app, "evt_async_ok", "checkout.session.async_payment_succeeded", processing).await, "applied");
    assert_eq!(app.stored_totals("water").await.raised_minor, 2500);
}

async fn forged_stale_and_replayed_webhooks_change_nothing(app: TestApp, fake: FakeStripe) {
    let hosted_page = give(&app, "25").await;
    fake.pay(&fake.session_of(&hosted_page));
    let event = json!({ "id": "evt_once", "type": "checkout.session.completed", "data": { "object": fake.session_of(&hosted_page) } });

    let (forged, _) = send_event(&app, &event, now(), "whsec_not_ours").await;
    let (stale, _) = send_event(&app, &event, now() - 600, WEBHOOK_SECRET).await;
    assert_eq!((forged, stale), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
    assert_eq!(app.stored_totals("water").await.raised_minor, 0);

    let (_, first) = send_event(&app, &event, now(), WEBHOOK_SECRET).await;
    let (_, replay) = send_event(&app, &event, now(), WEBHOOK_SECRET).await;
    assert_eq!((first["result"].as_str(), replay["result"].as_str()), (Some("applied"), Some("duplicate")));
    assert_eq!(app.stored_totals("water").await.raised_minor, 2500);
}

async fn a_webhook_for_another_amount_is_kept_for_review(app: TestApp, fake: FakeStripe) {
    let hosted_page = give(&app, "25").await;
    fake.pay(&fake.session_of(&hosted_page));
    let mut tampered = fake.session_of(&hosted_page);
    tampered["amount_total"] = json!(100);

    assert_eq!(deliver(&app, "evt_cheap", "checkout.session.completed", tampered).await, "stored for review");

    assert_eq!(app.stored_totals("water").await.raised_minor, 0);
    let review = app.store.events_for_review(10).await.unwrap();
    assert_eq!((review[0].event_id.as_str(), review[0].amount_minor), ("evt_cheap", Some(100)));
}

async fn partial_and_full_refunds_and_a_lost_dispute_take_money_back(app: TestApp, fake: FakeStripe) {
    let refunded = fake.session_of(&give(&app, "25").await);
    let disputed = fake.session_of(&give(&app, "40").await);
    let refunded_charge = fake.pay(&refunded);
    let disputed_charge = fake.pay(&disputed);
    deliver(
        &app,
        "evt_paid_1",
        "checkout.session.completed",
        fake.session_of(&Url::parse(refunded["url"].as_str().unwrap()).unwrap()),
    )
    .await;
    deliver(
        &app,
        "evt_paid_2",
        "checkout.session.completed",
        fake.session_of(&Url::parse(disputed["url"].as_str().unwrap()).unwrap()),
    )
    .await;
    assert_eq!(app.stored_totals("water").await.raised_minor, 6500);

    let mut charge = fake.charge(&refunded_charge);
    charge["amount_refunded"] = json!(1000);
    assert_eq!(deliver(&app, "evt_refund_1", "charge.refunded", charge.clone()).await, "applied");
    assert_eq!(app.stored_totals("water").await.raised_minor, 5500);
    charge["amount_refunded"] = json!(2500);
    assert_eq!(deliver(&app, "evt_refund_2", "charge.refunded", charge).await, "applied");
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (4000, 1));

    let dispute = json!({ "id": "dp_1", "object": "dispute", "charge": disputed_charge, "status": "needs_response" });
    assert_eq!(deliver(&app, "evt_dispute_open", "charge.dispute.created", dispute.clone()).await, "applied");
    assert_eq!(app.stored_totals("water").await.raised_minor, 4000, "held until the dispute is lost");
    let lost = json!({ "id": "dp_1", "object": "dispute", "charge": disputed_charge, "status": "lost" });
    assert_eq!(deliver(&app, "evt_dispute_lost", "charge.dispute.closed", lost).await, "applied");
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (0, 0));
    let donation = app.store.donation(&donation_id(&disputed)).await.unwrap().unwrap();
    assert_eq!(donation.status, DonationStatus::ChargedBack);
}

async fn a_double_click_opens_one_stripe_session(app: TestApp, fake: FakeStripe) {
    let fields = [("campaign", "water"), ("amount", "25"), ("idempotency_key", "stripe-double")];
    let (first, second) = tokio::join!(app.post_form(&fields), app.post_form(&fields));

    assert_eq!(location(&first), location(&second));
    let stripe = fake.state.lock().unwrap();
    assert_eq!(stripe.sessions.len(), 1, "one session");
    let keys: std::collections::HashSet<&String> = stripe.creates.iter().collect();
    assert_eq!(keys.len(), 1, "every create carried the same idempotency key: {:?}", stripe.creates);
}
