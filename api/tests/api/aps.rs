//! The Amazon Payment Services adapter against a local server speaking its redirection
//! protocol: the signed form post to the hosted page, signed returns (form post or query) and
//! feedback (form or JSON), and `CHECK_STATUS`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use api::domain::{DonationId, DonationStatus, Outcome};
use api::gateway::aps::{ApsGateway, ShaType, Signer};
use api::gateway::{GatewayError, PaymentGateway, PendingPayment};
use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

use crate::helpers::{TestApp, config_path, location, test_settings};

const MERCHANT: &str = "pledgeMerchant";
const ACCESS_CODE: &str = "pledgeAccess";
const REQUEST_PHRASE: &str = "reqPhrase$1";
const RESPONSE_PHRASE: &str = "resPhrase$2";

/// Declares `name::sqlite` and `name::postgres`, each with a fresh fake APS and the app
/// configured by `settings` to pay through it.
macro_rules! with_aps {
    ($settings:ident; $($name:ident),+ $(,)?) => {$(
        mod $name {
            use crate::helpers::{Backend, spawn_app_with};

            #[tokio::test]
            async fn sqlite() {
                let fake = super::FakeAps::start(super::$settings);
                let app = spawn_app_with(Backend::Sqlite, |s| super::$settings(s, &fake)).await.unwrap();
                super::$name(app, fake).await;
            }

            #[tokio::test]
            async fn postgres() {
                let fake = super::FakeAps::start(super::$settings);
                if let Some(app) = spawn_app_with(Backend::Postgres, |s| super::$settings(s, &fake)).await {
                    super::$name(app, fake).await;
                }
            }
        }
    )+};
}

with_aps!(
    use_aps;
    paying_through_aps_moves_the_total_once,
    a_declined_payment_leads_to_the_failed_page,
    a_pending_payment_thanks_the_donor_and_moves_nothing,
    a_tampered_return_is_refused_and_changes_nothing,
    forged_and_replayed_feedback_change_nothing,
    signed_feedback_for_another_amount_is_kept_for_review,
    a_refund_is_read_from_check_status,
    fetch_status_asks_aps_with_check_status,
);
with_aps!(
    use_aps_with_sha256;
    a_return_by_query_string_is_verified_too,
    json_feedback_is_verified_like_a_form,
);
with_aps!(use_aps_and_reconcile; the_reconciler_asks_aps_with_check_status);

fn use_aps(settings: &mut api::Settings, fake: &FakeAps) {
    settings.aps_merchant_identifier = Some(MERCHANT.into());
    settings.aps_access_code = Some(ACCESS_CODE.to_string().into());
    settings.aps_request_phrase = Some(REQUEST_PHRASE.to_string().into());
    settings.aps_response_phrase = Some(RESPONSE_PHRASE.to_string().into());
    settings.aps_sha_type = "sha512".into();
    settings.aps_page_url = fake.url.join("FortAPI/paymentPage").unwrap();
    settings.aps_api_url = fake.url.join("FortAPI/paymentApi").unwrap();
    settings.gateway_routes = Some("*=aps".into());
}

fn use_aps_with_sha256(settings: &mut api::Settings, fake: &FakeAps) {
    use_aps(settings, fake);
    settings.aps_sha_type = "sha256".into();
}

fn use_aps_and_reconcile(settings: &mut api::Settings, fake: &FakeAps) {
    use_aps(settings, fake);
    settings.reconcile_interval_seconds = 1;
    settings.reconcile_after_seconds = 0;
}

/// A transaction as APS holds it.
#[derive(Clone)]
struct Transaction {
    fort_id: String,
    amount: String,
    currency: String,
    status: String,
    refunded: i64,
}

#[derive(Default)]
struct Aps {
    /// By merchant reference (our donation id).
    transactions: HashMap<String, Transaction>,
    /// Purchase forms the hosted page accepted.
    purchases: Vec<HashMap<String, String>>,
    /// `CHECK_STATUS` requests, whether or not their signature held.
    status_queries: Vec<HashMap<String, String>>,
}

/// A local APS: the hosted payment page and the payment API, signing with the same phrases
/// and SHA type as the merchant account the app is configured with.
#[derive(Clone)]
pub struct FakeAps {
    url: Url,
    sha: ShaType,
    state: Arc<Mutex<Aps>>,
}

struct Shared {
    sha: ShaType,
    state: Arc<Mutex<Aps>>,
}

impl FakeAps {
    /// Starts the fake with the SHA type `settings` gives the app.
    fn start(settings: fn(&mut api::Settings, &FakeAps)) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let mut fake = Self { url, sha: ShaType::Sha256, state: Arc::default() };
        let mut probe = test_settings("sqlite://unused.db", &config_path("site_config.toml"));
        settings(&mut probe, &fake);
        fake.sha = ShaType::parse(&probe.aps_sha_type).unwrap();
        let shared = web::Data::new(Shared { sha: fake.sha, state: fake.state.clone() });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .route("/FortAPI/paymentPage", web::post().to(payment_page))
                .route("/FortAPI/paymentApi", web::post().to(payment_api))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        fake
    }

    fn signer(&self) -> Signer {
        signer(self.sha)
    }
}

fn signer(sha: ShaType) -> Signer {
    Signer {
        sha,
        request_phrase: REQUEST_PHRASE.to_string().into(),
        response_phrase: RESPONSE_PHRASE.to_string().into(),
    }
}

fn pairs(map: &HashMap<String, String>) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The hosted page: accepts a complete, correctly signed purchase form and opens a
/// transaction; the test then plays the donor paying or declining (`respond`).
async fn payment_page(form: web::Form<HashMap<String, String>>, shared: web::Data<Shared>) -> HttpResponse {
    let fields = form.into_inner();
    let required = [
        "command",
        "access_code",
        "merchant_identifier",
        "merchant_reference",
        "amount",
        "currency",
        "language",
        "customer_email",
        "signature",
    ];
    if let Some(missing) = required.iter().find(|name| !fields.contains_key(**name)) {
        return HttpResponse::BadRequest().body(format!("Missing parameter {missing}"));
    }
    let given = fields.get("signature").cloned().unwrap_or_default();
    if given != signer(shared.sha).sign_request(&pairs(&fields))
        || fields["access_code"] != ACCESS_CODE
        || fields["merchant_identifier"] != MERCHANT
        || fields["command"] != "PURCHASE"
    {
        return HttpResponse::BadRequest().body("Signature mismatch");
    }
    let mut aps = shared.state.lock().unwrap();
    let fort_id = format!("1690{:08}", aps.transactions.len() + 1);
    aps.transactions.insert(
        fields["merchant_reference"].clone(),
        Transaction {
            fort_id,
            amount: fields["amount"].clone(),
            currency: fields["currency"].clone(),
            status: "20".into(),
            refunded: 0,
        },
    );
    aps.purchases.push(fields);
    HttpResponse::Ok().content_type("text/html").body("<html>card form</html>")
}

/// `CHECK_STATUS`: a signed JSON answer, status 12 when the query was understood (with
/// response code 12036 when no such order exists), 00 with 00008 on a signature mismatch.
async fn payment_api(body: web::Json<HashMap<String, String>>, shared: web::Data<Shared>) -> HttpResponse {
    let request = body.into_inner();
    let signer = signer(shared.sha);
    let mut aps = shared.state.lock().unwrap();
    aps.status_queries.push(request.clone());
    let echo = |name: &str| (name.to_string(), request.get(name).cloned().unwrap_or_default());
    let mut answer: Vec<(String, String)> = vec![
        echo("query_command"),
        echo("access_code"),
        echo("merchant_identifier"),
        echo("merchant_reference"),
        echo("language"),
    ];
    let signed = request.get("signature").cloned().unwrap_or_default() == signer.sign_request(&pairs(&request));
    match aps.transactions.get(&request["merchant_reference"]) {
        _ if !signed => answer.extend([
            ("status".into(), "00".into()),
            ("response_code".into(), "00008".into()),
            ("response_message".into(), "Signature mismatch".into()),
        ]),
        None => answer.extend([
            ("status".into(), "12".into()),
            ("response_code".into(), "12036".into()),
            ("response_message".into(), "Order not found".into()),
        ]),
        // No `currency` in the answer: the adapter must not depend on it.
        Some(t) => answer.extend([
            ("status".into(), "12".into()),
            ("response_code".into(), "12000".into()),
            ("response_message".into(), "Success".into()),
            ("fort_id".into(), t.fort_id.clone()),
            ("transaction_status".into(), t.status.clone()),
            ("authorized_amount".into(), t.amount.clone()),
            ("captured_amount".into(), t.amount.clone()),
            ("refunded_amount".into(), t.refunded.to_string()),
        ]),
    }
    answer.push(("signature".into(), signer.sign_response(&answer)));
    HttpResponse::Ok().json(answer.into_iter().collect::<HashMap<_, _>>())
}

/// Posts the donation, opens our forward page, and posts its form to the hosted page, as the
/// donor's browser does. Returns the donation id.
async fn give(app: &TestApp, fake: &FakeAps) -> String {
    let forward = app.start_donation(&[("campaign", "water"), ("amount", "25")]).await;
    assert!(forward.path().starts_with("/api/v1/payments/aps/forward/"), "sent to {forward}");
    let page = app.client.get(forward).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    let action = between(&html, r#"action=""#, "\"");
    assert_eq!(action, fake.url.join("FortAPI/paymentPage").unwrap().as_str());
    let fields: Vec<(String, String)> = html
        .split(r#"<input type="hidden" name=""#)
        .skip(1)
        .map(|piece| {
            (piece[..piece.find('"').unwrap()].to_string(), between(piece, r#"value=""#, "\"").replace("&amp;", "&"))
        })
        .collect();
    let accepted = app.client.post(action).form(&fields).send().await.unwrap();
    assert_eq!(
        accepted.status(),
        StatusCode::OK,
        "the hosted page refused our form: {}",
        accepted.text().await.unwrap()
    );
    fields.iter().find(|(k, _)| k == "merchant_reference").unwrap().1.clone()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap() + start.len();
    &text[from..from + text[from..].find(end).unwrap()]
}

/// The donor finishes on the hosted page with `status`: APS records it and returns the
/// response parameters it sends back (and as feedback), signed; `amount` overrides what APS
/// reports as charged.
fn respond(fake: &FakeAps, donation: &str, status: &str, amount: Option<&str>) -> Vec<(String, String)> {
    let mut aps = fake.state.lock().unwrap();
    let transaction = aps.transactions.get_mut(donation).unwrap();
    transaction.status = status.into();
    let mut params: Vec<(String, String)> = vec![
        ("command".into(), "PURCHASE".into()),
        ("merchant_identifier".into(), MERCHANT.into()),
        ("access_code".into(), ACCESS_CODE.into()),
        ("merchant_reference".into(), donation.into()),
        ("fort_id".into(), transaction.fort_id.clone()),
        ("amount".into(), amount.unwrap_or(&transaction.amount).into()),
        ("currency".into(), transaction.currency.clone()),
        ("language".into(), "en".into()),
        ("customer_email".into(), "no-reply@example.org".into()),
        ("payment_option".into(), "VISA".into()),
        ("card_number".into(), "400555******0001".into()),
        ("status".into(), status.into()),
        ("response_code".into(), format!("{status}000")),
        ("response_message".into(), if status == "14" { "Success" } else { "Transaction declined" }.into()),
    ];
    params.push(("signature".into(), fake.signer().sign_response(&params)));
    params
}

fn replace(params: &mut [(String, String)], name: &str, value: &str) {
    params.iter_mut().find(|(k, _)| k == name).unwrap().1 = value.into();
}

async fn return_with(app: &TestApp, params: &[(String, String)]) -> reqwest::Response {
    app.client.post(app.at("/api/v1/payments/aps/return")).form(params).send().await.unwrap()
}

async fn feedback(app: &TestApp, params: &[(String, String)]) -> (StatusCode, Value) {
    let response = app.client.post(app.at("/api/v1/payments/aps/webhook")).form(params).send().await.unwrap();
    (response.status(), response.json().await.unwrap_or_default())
}

async fn status_of(app: &TestApp, donation: &str) -> DonationStatus {
    app.store.donation(&DonationId::parse(donation).unwrap()).await.unwrap().unwrap().status
}

async fn event_results(app: &TestApp, donation: &str) -> Vec<(String, String)> {
    let events = app.store.payment_events(&DonationId::parse(donation).unwrap()).await.unwrap();
    events.into_iter().map(|e| (e.event_id, e.result)).collect()
}

/// The adapter as the app builds it from the same settings, to ask it directly.
fn gateway(fake: &FakeAps, change: fn(&mut api::Settings, &FakeAps)) -> ApsGateway {
    let mut settings = test_settings("sqlite://unused.db", &config_path("site_config.toml"));
    change(&mut settings, fake);
    ApsGateway::from_settings(&settings).unwrap().expect("APS is configured")
}

fn pending(donation: &str) -> PendingPayment {
    PendingPayment {
        donation_id: DonationId::parse(donation).unwrap(),
        amount: api::domain::AmountMinor::parse(2500).unwrap(),
        currency: api::domain::Currency::parse("USD").unwrap(),
        gateway_reference: Some(donation.into()),
    }
}

async fn paying_through_aps_moves_the_total_once(app: TestApp, fake: FakeAps) {
    let donation = give(&app, &fake).await;
    let purchase = fake.state.lock().unwrap().purchases[0].clone();
    assert_eq!((purchase["amount"].as_str(), purchase["currency"].as_str()), ("2500", "USD"));
    assert_eq!((purchase["language"].as_str(), purchase["merchant_reference"].as_str()), ("en", donation.as_str()));
    assert_eq!(purchase["return_url"], app.at("/api/v1/payments/aps/return").as_str());
    let paid = respond(&fake, &donation, "14", None);

    let back = return_with(&app, &paid).await;
    assert_eq!(location(&back).as_str(), "https://site.test/thank-you/");
    let (status, answer) = feedback(&app, &paid).await;
    assert_eq!((status, answer["result"].as_str()), (StatusCode::OK, Some("unchanged")));

    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (2500, 1));
    assert_eq!(app.wait_for_raised("water", 2500).await["raised_minor"], 2500);
    assert_eq!(status_of(&app, &donation).await, DonationStatus::Succeeded);
    let fort_id = paid.iter().find(|(k, _)| k == "fort_id").unwrap().1.clone();
    let mut events = event_results(&app, &donation).await;
    events.sort();
    assert_eq!(
        events,
        [
            (format!("feedback:{fort_id}:succeeded"), "unchanged".to_string()),
            (format!("return:{fort_id}:succeeded"), "succeeded".to_string()),
        ]
    );
}

async fn a_declined_payment_leads_to_the_failed_page(app: TestApp, fake: FakeAps) {
    let donation = give(&app, &fake).await;
    let back = return_with(&app, &respond(&fake, &donation, "13", None)).await;
    assert_eq!(location(&back).as_str(), "https://site.test/failed/");
    assert_eq!(status_of(&app, &donation).await, DonationStatus::Failed);
    assert_eq!(app.stored_totals("water").await.raised_minor, 0);
}

async fn a_pending_payment_thanks_the_donor_and_moves_nothing(app: TestApp, fake: FakeAps) {
    let donation = give(&app, &fake).await;

    let back = return_with(&app, &respond(&fake, &donation, "19", None)).await;

    assert_eq!(location(&back).as_str(), "https://site.test/thank-you/");
    assert_eq!(status_of(&app, &donation).await, DonationStatus::Pending);
    assert!(event_results(&app, &donation).await.is_empty());
}

async fn a_tampered_return_is_refused_and_changes_nothing(app: TestApp, fake: FakeAps) {
    let donation = give(&app, &fake).await;
    let declined = respond(&fake, &donation, "13", None);
    let paid = respond(&fake, &donation, "14", None);
    let mut cheaper = paid.clone();
    replace(&mut cheaper, "amount", "100");
    let mut upgraded = declined;
    replace(&mut upgraded, "status", "14");
    let mut unsigned = paid;
    unsigned.retain(|(k, _)| k != "signature");

    for tampered in [cheaper, upgraded, unsigned] {
        let back = return_with(&app, &tampered).await;
        assert_eq!(back.status(), StatusCode::UNAUTHORIZED);
    }

    assert_eq!(status_of(&app, &donation).await, DonationStatus::Pending);
    assert!(event_results(&app, &donation).await.is_empty());
}

async fn a_return_by_query_string_is_verified_too(app: TestApp, fake: FakeAps) {
    let donation = give(&app, &fake).await;
    let paid = respond(&fake, &donation, "14", None);
    let mut url = app.at("/api/v1/payments/aps/return");
    url.query_pairs_mut().extend_pairs(&paid);
    let mut forged = url.clone();
    forged.set_query(Some(&url.query().unwrap().replace("amount=2500", "amount=1")));

    let refused = app.client.get(forged).send().await.unwrap();
    let back = app.client.get(url).send().await.unwrap();

    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(location(&back).as_str(), "https://site.test/thank-you/");
    assert_eq!(status_of(&app, &donation).await, DonationStatus::Succeeded);
}

async fn forged_and_replayed_feedback_change_nothing(app: TestApp, fake: FakeAps) {
    let donation = give(&app, &fake).await;
    let mut forged = respond(&fake, &donation, "14", None);
    forged.pop();
    let guessed = Signer { response_phrase: "guessed".to_string().into(), ..fake.signer() };
    forged.push(("signature".into(), guessed.sign_response(&forged)));
    assert_eq!(feedback(&app, &forged).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.stored_totals("water").await.raised_minor, 0);

    let paid = respond(&fake, &donation, "14", None);
    assert_eq!(feedback(&app, &paid).await.1["result"], "applied");
    assert_eq!(feedback(&app, &paid).await.1["result"], "duplicate");
    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (2500, 1));
}

async fn json_feedback_is_verified_like_a_form(app: TestApp, fake: FakeAps) {
    let donation = give(&app, &fake).await;
    let paid: serde_json::Map<String, Value> =
        respond(&fake, &donation, "14", None).into_iter().map(|(k, v)| (k, v.into())).collect();
    let mut forged = paid.clone();
    forged.insert("amount".into(), "1".into());
    let send = |body: serde_json::Map<String, Value>| {
        app.client.post(app.at("/api/v1/payments/aps/webhook")).json(&body).send()
    };

    assert_eq!(send(forged).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let answer: Value = send(paid).await.unwrap().json().await.unwrap();

    assert_eq!(answer["result"], "applied");
    assert_eq!(app.stored_totals("water").await.raised_minor, 2500);
}

async fn signed_feedback_for_another_amount_is_kept_for_review(app: TestApp, fake: FakeAps) {
    let donation = give(&app, &fake).await;
    let cheap = respond(&fake, &donation, "14", Some("100"));

    assert_eq!(feedback(&app, &cheap).await.1["result"], "stored for review");

    assert_eq!(app.stored_totals("water").await.raised_minor, 0);
    assert_eq!(status_of(&app, &donation).await, DonationStatus::Pending);
}

async fn a_refund_is_read_from_check_status(app: TestApp, fake: FakeAps) {
    let donation = give(&app, &fake).await;
    feedback(&app, &respond(&fake, &donation, "14", None)).await;
    {
        // After a refund, the transaction's latest action is the refund (06).
        let mut aps = fake.state.lock().unwrap();
        let transaction = aps.transactions.get_mut(&donation).unwrap();
        (transaction.refunded, transaction.status) = (1000, "06".into());
    }
    let mut refund: Vec<(String, String)> = vec![
        ("command".into(), "REFUND".into()),
        ("merchant_identifier".into(), MERCHANT.into()),
        ("access_code".into(), ACCESS_CODE.into()),
        ("merchant_reference".into(), donation.clone()),
        ("amount".into(), "1000".into()),
        ("currency".into(), "USD".into()),
        ("status".into(), "06".into()),
        ("response_code".into(), "06000".into()),
    ];
    refund.push(("signature".into(), fake.signer().sign_response(&refund)));

    assert_eq!(feedback(&app, &refund).await.1["result"], "applied");
    assert_eq!(feedback(&app, &refund).await.1["result"], "duplicate");

    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (1500, 1));
    let stored = app.store.donation(&DonationId::parse(&donation).unwrap()).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.refunded), (DonationStatus::Succeeded, 1000), "a partial refund");
}

async fn fetch_status_asks_aps_with_check_status(app: TestApp, fake: FakeAps) {
    let aps = gateway(&fake, use_aps);
    let never_posted = "00000000000000000000000000000001";
    assert!(aps.fetch_status(&pending(never_posted)).await.unwrap().is_none(), "order not found: no verdict");
    let donation = give(&app, &fake).await;
    assert!(aps.fetch_status(&pending(&donation)).await.unwrap().is_none(), "on hold: no verdict");

    respond(&fake, &donation, "14", None);
    let first = aps.fetch_status(&pending(&donation)).await.unwrap().unwrap();
    let again = aps.fetch_status(&pending(&donation)).await.unwrap().unwrap();

    assert_eq!((first.outcome, first.amount.get(), first.currency.code()), (Outcome::Succeeded, 2500, "USD"));
    assert_eq!(first.donation_id.as_str(), donation);
    assert_eq!(first.event_id, again.event_id, "asking twice names the same event");
    let query = fake.state.lock().unwrap().status_queries.last().unwrap().clone();
    assert_eq!((query["query_command"].as_str(), query["merchant_reference"].as_str()), ("CHECK_STATUS", &*donation));

    let wrong_phrase = gateway(&fake, |s, f| {
        use_aps(s, f);
        s.aps_request_phrase = Some("not the phrase".to_string().into());
    });
    assert!(matches!(wrong_phrase.fetch_status(&pending(&donation)).await, Err(GatewayError::Rejected(_))));
    let wrong_response_phrase = gateway(&fake, |s, f| {
        use_aps(s, f);
        s.aps_response_phrase = Some("not the phrase".to_string().into());
    });
    assert!(matches!(wrong_response_phrase.fetch_status(&pending(&donation)).await, Err(GatewayError::BadSignature)));
    assert_eq!(status_of(&app, &donation).await, DonationStatus::Pending, "asking changes nothing by itself");
}

async fn the_reconciler_asks_aps_with_check_status(app: TestApp, fake: FakeAps) {
    let donation = give(&app, &fake).await;
    fake.state.lock().unwrap().transactions.get_mut(&donation).unwrap().status = "14".into();

    let stored = app.store.donation(&DonationId::parse(&donation).unwrap()).await.unwrap().unwrap();
    let events = app.wait_for_events(&stored, 1).await;

    assert_eq!((events[0].outcome.as_str(), events[0].result.as_str()), ("succeeded", "succeeded"), "{events:?}");
    assert_eq!(app.stored_totals("water").await.raised_minor, 2500);
}
