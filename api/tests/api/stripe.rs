//! The Stripe adapter against a local server speaking Stripe's protocol: Checkout Sessions
//! (with idempotency keys), charges, and webhooks signed as Stripe signs them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use api::db::{ClaimRequest, EventResult};
use api::domain::{DonationId, DonationStatus, Outcome};
use api::gateway::stripe::StripeGateway;
use api::gateway::{GatewayError, PaymentGateway, PendingPayment};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use url::Url;

use crate::helpers::{TestApp, config_path, location, test_settings};

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
    the_session_asks_for_minor_units_in_a_language_checkout_speaks,
    a_return_naming_another_donations_session_is_refused,
    a_donor_who_cancels_at_stripe_sees_the_failed_page,
    a_delayed_payment_shows_thanks_then_counts_when_stripe_confirms,
    an_expired_session_or_a_failed_bank_debit_counts_nothing,
    forged_stale_and_replayed_webhooks_change_nothing,
    a_webhook_for_another_amount_is_kept_for_review,
    a_partial_then_a_full_refund_takes_the_gift_back,
    a_lost_dispute_takes_the_gift_back_and_a_won_one_keeps_it,
    a_double_click_opens_one_stripe_session,
    the_reconciler_learns_the_verdict_by_retrieving_the_session,
);

fn use_stripe(settings: &mut api::Settings, fake: &FakeStripe) {
    settings.stripe_secret_key = Some(SECRET_KEY.to_string().into());
    settings.stripe_webhook_secret = Some(WEBHOOK_SECRET.to_string().into());
    settings.stripe_api_base = fake.url.clone();
    settings.gateway_routes = Some("*=stripe".into());
}

/// The languages Stripe's Checkout accepts as `locale` ("Create a Checkout Session").
const CHECKOUT_LOCALES: &[&str] = &[
    "auto", "bg", "cs", "da", "de", "el", "en", "en-GB", "es", "es-419", "et", "fi", "fil", "fr", "fr-CA", "hr", "hu",
    "id", "it", "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk", "sl", "sv",
    "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
];

/// One `POST /v1/checkout/sessions` the fake received.
#[derive(Debug, Clone)]
struct Create {
    idempotency_key: Option<String>,
    fields: HashMap<String, String>,
}

/// What the fake Stripe holds.
#[derive(Default)]
struct Stripe {
    sessions: HashMap<String, Value>,
    /// Per idempotency key, the session it made and the parameters it was first used with.
    by_key: HashMap<String, (String, HashMap<String, String>)>,
    creates: Vec<Create>,
    /// Each session's payment intent metadata, which Stripe copies onto the charge.
    intent_metadata: HashMap<String, Value>,
    charges: HashMap<String, Value>,
    charge_reads: usize,
}

#[derive(Clone)]
pub struct FakeStripe {
    url: Url,
    state: Arc<Mutex<Stripe>>,
}

type Shared = web::Data<(Arc<Mutex<Stripe>>, Url)>;

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
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { url, state }
    }

    fn stripe(&self) -> std::sync::MutexGuard<'_, Stripe> {
        self.state.lock().unwrap()
    }

    /// The session a hosted-page URL belongs to, as Stripe holds it now.
    fn session_of(&self, hosted_page: &Url) -> Value {
        let id = hosted_page.path().rsplit('/').next().unwrap();
        self.session(id)
    }

    fn session(&self, id: &str) -> Value {
        self.stripe().sessions[id].clone()
    }

    fn update_session(&self, id: &str, change: impl FnOnce(&mut Value)) {
        change(self.stripe().sessions.get_mut(id).unwrap());
    }

    /// The donor pays: the session completes, and its payment intent's charge carries the
    /// intent's metadata. Returns the charge id.
    fn pay(&self, session: &Value) -> String {
        let id = session["id"].as_str().unwrap();
        let suffix = &id["cs_test_".len()..];
        let (intent, charge_id) = (format!("pi_test_{suffix}"), format!("ch_test_{suffix}"));
        self.update_session(id, |s| {
            s["status"] = json!("complete");
            s["payment_status"] = json!("paid");
            s["payment_intent"] = json!(intent);
        });
        let mut stripe = self.stripe();
        let charge = json!({
            "id": charge_id, "object": "charge", "amount": session["amount_total"], "amount_refunded": 0,
            "currency": session["currency"], "payment_intent": intent, "refunded": false,
            "metadata": stripe.intent_metadata[id],
        });
        stripe.charges.insert(charge_id.clone(), charge);
        charge_id
    }

    fn expire(&self, id: &str) {
        self.update_session(id, |s| s["status"] = json!("expired"));
    }

    fn charge(&self, id: &str) -> Value {
        self.stripe().charges[id].clone()
    }
}

fn authorized(request: &HttpRequest) -> bool {
    request.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {SECRET_KEY}"))
}

fn stripe_error(status: u16, kind: &str, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .json(json!({ "error": { "message": message, "type": kind } }))
}

fn unauthorized() -> HttpResponse {
    stripe_error(401, "invalid_request_error", "Invalid API Key provided")
}

/// "Create a Checkout Session", with Stripe's checks on what we send and its idempotency: a
/// key seen before returns the session it made, if the parameters are the same.
async fn create_session(request: HttpRequest, form: web::Bytes, data: Shared) -> HttpResponse {
    if !authorized(&request) {
        return unauthorized();
    }
    let fields: HashMap<String, String> = url::form_urlencoded::parse(&form).into_owned().collect();
    for required in ["mode", "success_url", "line_items[0][price_data][currency]", "line_items[0][quantity]"] {
        if !fields.contains_key(required) {
            return stripe_error(400, "invalid_request_error", &format!("Missing required param: {required}."));
        }
    }
    let Some(amount) = fields.get("line_items[0][price_data][unit_amount]").and_then(|a| a.parse::<i64>().ok()) else {
        return stripe_error(400, "invalid_request_error", "Invalid integer: unit_amount");
    };
    let currency = &fields["line_items[0][price_data][currency]"];
    if currency.len() != 3 || currency.chars().any(|c| !c.is_ascii_lowercase()) {
        return stripe_error(400, "invalid_request_error", "Invalid currency");
    }
    if let Some(locale) = fields.get("locale").filter(|l| !CHECKOUT_LOCALES.contains(&l.as_str())) {
        return stripe_error(400, "invalid_request_error", &format!("Invalid locale: {locale}"));
    }
    let key = request.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string);
    let (state, base) = data.get_ref();
    let mut stripe = state.lock().unwrap();
    stripe.creates.push(Create { idempotency_key: key.clone(), fields: fields.clone() });
    if let Some((id, first)) = key.as_ref().and_then(|k| stripe.by_key.get(k)) {
        if *first != fields {
            return stripe_error(
                400,
                "idempotency_error",
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
            );
        }
        return HttpResponse::Ok().json(&stripe.sessions[id]);
    }
    let id = format!("cs_test_{}", stripe.sessions.len() + 1);
    let session = json!({
        "id": id, "object": "checkout.session", "mode": fields["mode"],
        "url": base.join(&format!("c/pay/{id}")).unwrap().as_str(),
        "client_reference_id": fields.get("client_reference_id"),
        "status": "open", "payment_status": "unpaid", "payment_intent": null,
        "amount_total": amount, "currency": currency, "locale": fields.get("locale"),
        "metadata": { "donation_id": fields.get("metadata[donation_id]") },
        "success_url": fields["success_url"], "cancel_url": fields.get("cancel_url"),
    });
    let intent_metadata = json!({ "donation_id": fields.get("payment_intent_data[metadata][donation_id]") });
    stripe.intent_metadata.insert(id.clone(), intent_metadata);
    stripe.sessions.insert(id.clone(), session.clone());
    if let Some(key) = key {
        stripe.by_key.insert(key, (id, fields));
    }
    HttpResponse::Ok().json(session)
}

async fn get_session(request: HttpRequest, id: web::Path<String>, data: Shared) -> HttpResponse {
    if !authorized(&request) {
        return unauthorized();
    }
    match data.0.lock().unwrap().sessions.get(id.as_str()) {
        Some(session) => HttpResponse::Ok().json(session),
        None => stripe_error(404, "invalid_request_error", &format!("No such checkout.session: '{id}'")),
    }
}

async fn get_charge(request: HttpRequest, id: web::Path<String>, data: Shared) -> HttpResponse {
    if !authorized(&request) {
        return unauthorized();
    }
    let mut stripe = data.0.lock().unwrap();
    stripe.charge_reads += 1;
    match stripe.charges.get(id.as_str()) {
        Some(charge) => HttpResponse::Ok().json(charge),
        None => stripe_error(404, "invalid_request_error", &format!("No such charge: '{id}'")),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// The `Stripe-Signature` header Stripe would send: HMAC-SHA256 over `{t}.{body}` (computed
/// here, not with the adapter's own code).
fn stripe_signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn event(id: &str, kind: &str, object: Value) -> Value {
    json!({ "id": id, "object": "event", "type": kind, "created": now(), "livemode": false,
            "data": { "object": object } })
}

/// Posts an event to our webhook as Stripe would, signed at `timestamp` with `secret`.
async fn send_event(app: &TestApp, event: &Value, timestamp: u64, secret: &str) -> (StatusCode, Value) {
    let body = serde_json::to_vec(event).unwrap();
    let response = app
        .client
        .post(app.at("/api/v1/payments/stripe/webhook"))
        .header("content-type", "application/json; charset=utf-8")
        .header("stripe-signature", stripe_signature(secret, timestamp, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap_or_default())
}

/// Delivers a correctly signed event and returns what our API made of it.
async fn deliver(app: &TestApp, id: &str, kind: &str, object: Value) -> String {
    let (status, answer) = send_event(app, &event(id, kind, object), now(), WEBHOOK_SECRET).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["result"].as_str().unwrap().to_string()
}

async fn give(app: &TestApp, amount: &str) -> Url {
    let hosted_page = app.start_donation(&[("campaign", "water"), ("amount", amount)]).await;
    assert!(hosted_page.path().starts_with("/c/pay/cs_test_"), "sent to {hosted_page}");
    hosted_page
}

fn donation_id(session: &Value) -> DonationId {
    DonationId::parse(session["client_reference_id"].as_str().unwrap()).unwrap()
}

async fn status(app: &TestApp, session: &Value) -> DonationStatus {
    app.store.donation(&donation_id(session)).await.unwrap().unwrap().status
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
    let id = donation_id(&session);
    let create = fake.stripe().creates[0].clone();
    assert_eq!(create.idempotency_key, Some(format!("pledge-{}", id.as_str())));
    let field = |name: &str| create.fields.get(name).map(String::as_str);
    assert_eq!(field("mode"), Some("payment"));
    assert_eq!(field("line_items[0][price_data][unit_amount]"), Some("2500"));
    assert_eq!(field("line_items[0][price_data][currency]"), Some("usd"));
    assert_eq!(field("line_items[0][quantity]"), Some("1"));
    assert_eq!(field("payment_intent_data[metadata][donation_id]"), Some(id.as_str()));
    let success_url = field("success_url").unwrap();
    assert!(success_url.ends_with(&format!("?donation={}&session_id={{CHECKOUT_SESSION_ID}}", id.as_str())));
    assert!(field("cancel_url").unwrap().ends_with("&cancelled=1"));

    fake.pay(&session);
    let paid = fake.session_of(&hosted_page);
    assert_eq!(deliver(&app, "evt_completed", "checkout.session.completed", paid.clone()).await, "applied");
    assert_eq!(come_back(&app, &paid).await, "https://site.test/thank-you/");

    let donation = app.store.donation(&id).await.unwrap().unwrap();
    assert_eq!((donation.status, donation.gateway.as_str()), (DonationStatus::Succeeded, "stripe"));
    assert_eq!(donation.checkout_url.as_deref(), Some(hosted_page.as_str()));
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (2500, 1));
    app.wait_for_raised("water", 2500).await;
    let events = app.events(&donation).await;
    let seen: Vec<_> = events.iter().map(|e| (e.event_id.as_str(), e.result.as_str())).collect();
    assert_eq!(
        seen,
        [("evt_completed", "succeeded"), (&*format!("{}:succeeded", paid["id"].as_str().unwrap()), "unchanged")]
    );
}

async fn the_session_asks_for_minor_units_in_a_language_checkout_speaks(app: TestApp, fake: FakeStripe) {
    // Stripe's Checkout does not speak Arabic: asking for it would be refused.
    let arabic = app.start_donation(&[("campaign", "water"), ("amount", "25"), ("lang", "ar")]).await;
    assert_eq!(fake.session_of(&arabic)["locale"], "auto");
    let english = app.start_donation(&[("campaign", "water"), ("amount", "25"), ("lang", "en")]).await;
    assert_eq!(fake.session_of(&english)["locale"], "en");

    // Yen have no minor unit; dinars have three decimals. Both go as ISO 4217 minor units.
    let yen = fake.session_of(&app.start_donation(&[("campaign", "schools"), ("amount", "1000")]).await);
    assert_eq!((yen["amount_total"].as_i64(), yen["currency"].as_str()), (Some(1000), Some("jpy")));
    let dinars = fake.session_of(&app.start_donation(&[("campaign", "wells"), ("amount", "1.25")]).await);
    assert_eq!((dinars["amount_total"].as_i64(), dinars["currency"].as_str()), (Some(1250), Some("kwd")));
}

async fn a_return_naming_another_donations_session_is_refused(app: TestApp, fake: FakeStripe) {
    let mine = fake.session_of(&give(&app, "25").await);
    let theirs = fake.session_of(&give(&app, "30").await);
    fake.pay(&theirs);
    let forged = mine["success_url"].as_str().unwrap().replace("{CHECKOUT_SESSION_ID}", theirs["id"].as_str().unwrap());

    let response = app.client.get(forged).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(status(&app, &mine).await, DonationStatus::Pending);
    assert_eq!(status(&app, &theirs).await, DonationStatus::Pending, "the other donation waits for its own news");
    assert_eq!(app.stored_totals("water").await.raised_minor, 0);
}

async fn a_donor_who_cancels_at_stripe_sees_the_failed_page(app: TestApp, fake: FakeStripe) {
    let session = fake.session_of(&give(&app, "25").await);

    let response = app.client.get(session["cancel_url"].as_str().unwrap()).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response).as_str(), "https://site.test/failed/");
    assert_eq!(status(&app, &session).await, DonationStatus::Pending, "the session stays open until it expires");
    assert!(app.store.payment_events(&donation_id(&session)).await.unwrap().is_empty());
}

async fn a_delayed_payment_shows_thanks_then_counts_when_stripe_confirms(app: TestApp, fake: FakeStripe) {
    let hosted_page = give(&app, "25").await;
    let id = fake.session_of(&hosted_page)["id"].as_str().unwrap().to_string();
    fake.update_session(&id, |s| s["status"] = json!("complete"));
    let processing = fake.session_of(&hosted_page);

    assert_eq!(deliver(&app, "evt_done_unpaid", "checkout.session.completed", processing.clone()).await, "ignored");
    assert_eq!(come_back(&app, &processing).await, "https://site.test/thank-you/", "processing: thanks already");
    assert_eq!(app.stored_totals("water").await.raised_minor, 0, "but nothing counted yet");

    fake.pay(&processing);
    let paid = fake.session_of(&hosted_page);
    assert_eq!(deliver(&app, "evt_async_ok", "checkout.session.async_payment_succeeded", paid).await, "applied");
    assert_eq!(status(&app, &processing).await, DonationStatus::Succeeded);
    assert_eq!(app.stored_totals("water").await.raised_minor, 2500);
}

async fn an_expired_session_or_a_failed_bank_debit_counts_nothing(app: TestApp, fake: FakeStripe) {
    let abandoned = fake.session_of(&give(&app, "25").await);
    let debit = fake.session_of(&give(&app, "30").await);
    fake.expire(abandoned["id"].as_str().unwrap());
    fake.update_session(debit["id"].as_str().unwrap(), |s| s["status"] = json!("complete"));

    let expired = fake.session(abandoned["id"].as_str().unwrap());
    assert_eq!(deliver(&app, "evt_expired", "checkout.session.expired", expired).await, "applied");
    let unpaid = fake.session(debit["id"].as_str().unwrap());
    assert_eq!(deliver(&app, "evt_debit_failed", "checkout.session.async_payment_failed", unpaid).await, "applied");

    assert_eq!(status(&app, &abandoned).await, DonationStatus::Expired);
    assert_eq!(status(&app, &debit).await, DonationStatus::Failed);
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (0, 0));
}

async fn forged_stale_and_replayed_webhooks_change_nothing(app: TestApp, fake: FakeStripe) {
    let hosted_page = give(&app, "25").await;
    fake.pay(&fake.session_of(&hosted_page));
    let session = fake.session_of(&hosted_page);
    let event = event("evt_once", "checkout.session.completed", session.clone());

    let (forged, _) = send_event(&app, &event, now(), "whsec_not_ours").await;
    let (stale, _) = send_event(&app, &event, now() - 600, WEBHOOK_SECRET).await;
    let (early, _) = send_event(&app, &event, now() + 600, WEBHOOK_SECRET).await;
    let unsigned = app
        .client
        .post(app.at("/api/v1/payments/stripe/webhook"))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&event).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!([forged, stale, early, unsigned.status()], [StatusCode::UNAUTHORIZED; 4]);
    assert_eq!(app.stored_totals("water").await.raised_minor, 0);
    assert!(app.store.payment_events(&donation_id(&session)).await.unwrap().is_empty(), "nothing recorded");

    let (_, first) = send_event(&app, &event, now(), WEBHOOK_SECRET).await;
    let (_, replay) = send_event(&app, &event, now(), WEBHOOK_SECRET).await;
    assert_eq!((first["result"].as_str(), replay["result"].as_str()), (Some("applied"), Some("duplicate")));
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (2500, 1));
    assert_eq!(app.store.payment_events(&donation_id(&session)).await.unwrap().len(), 1);
}

async fn a_webhook_for_another_amount_is_kept_for_review(app: TestApp, fake: FakeStripe) {
    let hosted_page = give(&app, "25").await;
    fake.pay(&fake.session_of(&hosted_page));
    let mut tampered = fake.session_of(&hosted_page);
    tampered["amount_total"] = json!(100);

    assert_eq!(deliver(&app, "evt_cheap", "checkout.session.completed", tampered.clone()).await, "stored for review");

    assert_eq!(status(&app, &tampered).await, DonationStatus::Pending);
    assert_eq!(app.stored_totals("water").await.raised_minor, 0);
    let review = app.store.events_for_review(10).await.unwrap();
    assert_eq!((review[0].event_id.as_str(), review[0].amount_minor), ("evt_cheap", Some(100)));
}

async fn a_partial_then_a_full_refund_takes_the_gift_back(app: TestApp, fake: FakeStripe) {
    let session = fake.session_of(&give(&app, "25").await);
    let charge_id = fake.pay(&session);
    let paid = fake.session(session["id"].as_str().unwrap());
    assert_eq!(deliver(&app, "evt_paid", "checkout.session.completed", paid).await, "applied");
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (2500, 1));

    // Stripe reports the refunded running total on the charge.
    let mut charge = fake.charge(&charge_id);
    charge["amount_refunded"] = json!(1000);
    assert_eq!(deliver(&app, "evt_refund_1", "charge.refunded", charge.clone()).await, "applied");
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (1500, 1));
    assert_eq!(status(&app, &session).await, DonationStatus::Succeeded);

    charge["amount_refunded"] = json!(2500);
    charge["refunded"] = json!(true);
    assert_eq!(deliver(&app, "evt_refund_2", "charge.refunded", charge).await, "applied");
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (0, 0));
    let donation = app.store.donation(&donation_id(&session)).await.unwrap().unwrap();
    assert_eq!((donation.status, donation.refunded), (DonationStatus::Refunded, 2500));
}

async fn a_lost_dispute_takes_the_gift_back_and_a_won_one_keeps_it(app: TestApp, fake: FakeStripe) {
    let lost = fake.session_of(&give(&app, "40").await);
    let won = fake.session_of(&give(&app, "25").await);
    let (lost_charge, won_charge) = (fake.pay(&lost), fake.pay(&won));
    for (event_id, session) in [("evt_paid_1", &lost), ("evt_paid_2", &won)] {
        let paid = fake.session(session["id"].as_str().unwrap());
        assert_eq!(deliver(&app, event_id, "checkout.session.completed", paid).await, "applied");
    }
    assert_eq!(app.stored_totals("water").await.raised_minor, 6500);

    // Stripe's Dispute names its charge, not our donation: the adapter asks for the charge.
    let dispute = |id: &str, charge: &str, status: &str| json!({ "id": id, "object": "dispute", "charge": charge, "amount": 4000, "status": status });
    assert_eq!(
        deliver(&app, "evt_dp1_open", "charge.dispute.created", dispute("dp_1", &lost_charge, "needs_response")).await,
        "applied"
    );
    assert_eq!(
        deliver(&app, "evt_dp2_open", "charge.dispute.created", dispute("dp_2", &won_charge, "needs_response")).await,
        "applied"
    );
    assert_eq!(
        (status(&app, &lost).await, status(&app, &won).await),
        (DonationStatus::Disputed, DonationStatus::Disputed)
    );
    assert_eq!(app.stored_totals("water").await.raised_minor, 6500, "held until a dispute is lost");

    assert_eq!(
        deliver(&app, "evt_dp1_lost", "charge.dispute.closed", dispute("dp_1", &lost_charge, "lost")).await,
        "applied"
    );
    assert_eq!(
        deliver(&app, "evt_dp2_won", "charge.dispute.closed", dispute("dp_2", &won_charge, "won")).await,
        "applied"
    );

    assert_eq!(status(&app, &lost).await, DonationStatus::ChargedBack);
    assert_eq!(status(&app, &won).await, DonationStatus::Succeeded);
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (2500, 1));
    assert_eq!(fake.stripe().charge_reads, 4);
}

async fn a_double_click_opens_one_stripe_session(app: TestApp, fake: FakeStripe) {
    let fields = [("campaign", "water"), ("amount", "25")];
    let post =
        || app.client.post(app.at("/api/v1/donations")).header("Idempotency-Key", "stripe-double").form(&fields).send();

    let (first, second) = tokio::join!(post(), post());

    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!((first.status(), second.status()), (StatusCode::SEE_OTHER, StatusCode::SEE_OTHER));
    assert_eq!(location(&first), location(&second));
    let donations = app.store.donations_after(None, 10).await.unwrap();
    assert_eq!(donations.len(), 1, "one donation");
    let stripe = fake.stripe();
    assert_eq!(stripe.sessions.len(), 1, "one session");
    let expected = Some(format!("pledge-{}", donations[0].id));
    assert!(!stripe.creates.is_empty());
    assert!(
        stripe.creates.iter().all(|create| create.idempotency_key == expected),
        "every create carried {expected:?}: {:?}",
        stripe.creates.iter().map(|c| &c.idempotency_key).collect::<Vec<_>>()
    );
    assert_eq!(location(&first).as_str(), stripe.sessions["cs_test_1"]["url"]);
}

/// The adapter on its own, as the reconciler uses it.
fn adapter(fake: &FakeStripe, secret_key: &str) -> StripeGateway {
    let mut settings = test_settings("sqlite::memory:", &config_path("site_config.toml"));
    use_stripe(&mut settings, fake);
    settings.stripe_secret_key = Some(secret_key.to_string().into());
    StripeGateway::from_settings(&settings).unwrap().expect("configured")
}

async fn the_reconciler_learns_the_verdict_by_retrieving_the_session(app: TestApp, fake: FakeStripe) {
    let paid = fake.session_of(&give(&app, "25").await);
    let abandoned = fake.session_of(&give(&app, "30").await);
    let open = fake.session_of(&give(&app, "35").await);
    let claim = ClaimRequest { min_age: Duration::ZERO, lease: Duration::from_secs(60), limit: 10 };
    let pending: Vec<PendingPayment> = (app.store.claim_pending(claim).await.unwrap().into_iter())
        .map(|c| PendingPayment {
            donation_id: c.id,
            amount: c.amount,
            currency: c.currency,
            gateway_reference: c.gateway_reference,
        })
        .collect();
    let of = |session: &Value| pending.iter().find(|p| p.donation_id == donation_id(session)).unwrap().clone();
    assert_eq!(of(&paid).gateway_reference.as_deref(), paid["id"].as_str(), "start stored the session id");
    fake.pay(&paid);
    fake.expire(abandoned["id"].as_str().unwrap());
    let gateway = adapter(&fake, SECRET_KEY);

    let succeeded = gateway.fetch_status(&of(&paid)).await.unwrap().expect("a verdict");
    let asked_again = gateway.fetch_status(&of(&paid)).await.unwrap().expect("the same verdict");
    let expired = gateway.fetch_status(&of(&abandoned)).await.unwrap().expect("a verdict");

    assert_eq!((succeeded.outcome, succeeded.amount.get()), (Outcome::Succeeded, 2500));
    assert_eq!(succeeded.event_id.as_str(), format!("{}:succeeded", paid["id"].as_str().unwrap()));
    assert_eq!(asked_again.event_id, succeeded.event_id);
    assert_eq!(expired.event_id.as_str(), format!("{}:expired", abandoned["id"].as_str().unwrap()));
    assert!(gateway.fetch_status(&of(&open)).await.unwrap().is_none(), "still open: no verdict");
    let never_started = PendingPayment { gateway_reference: None, ..of(&open) };
    assert!(gateway.fetch_status(&never_started).await.unwrap().is_none());
    let wrong_key = adapter(&fake, "sk_test_revoked").fetch_status(&of(&paid)).await;
    assert!(matches!(wrong_key, Err(GatewayError::Rejected(_))), "{wrong_key:?}");

    assert!(matches!(app.store.apply_event(&succeeded).await.unwrap(), EventResult::Applied(_)));
    assert!(matches!(app.store.apply_event(&asked_again).await.unwrap(), EventResult::Duplicate));
    assert!(matches!(app.store.apply_event(&expired).await.unwrap(), EventResult::Applied(_)));
    assert_eq!(status(&app, &paid).await, DonationStatus::Succeeded);
    assert_eq!(status(&app, &abandoned).await, DonationStatus::Expired);
    assert_eq!(app.stored_totals("water").await.raised_minor, 2500);
}

#[tokio::test]
async fn stripe_is_on_with_its_secret_key_and_needs_its_webhook_secret() {
    let mut settings = test_settings("sqlite::memory:", &config_path("site_config.toml"));
    assert!(StripeGateway::from_settings(&settings).unwrap().is_none());

    settings.stripe_secret_key = Some(SECRET_KEY.to_string().into());
    let missing = StripeGateway::from_settings(&settings).err().expect("a webhook secret is needed");
    assert!(missing.contains("PLEDGE_STRIPE_WEBHOOK_SECRET"), "{missing}");

    settings.stripe_secret_key = None;
    settings.stripe_webhook_secret = Some(WEBHOOK_SECRET.to_string().into());
    let missing = StripeGateway::from_settings(&settings).err().expect("a secret key is needed");
    assert!(missing.contains("PLEDGE_STRIPE_SECRET_KEY"), "{missing}");
}
