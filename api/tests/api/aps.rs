//! The Amazon Payment Services adapter against a local server speaking its redirection
//! protocol: the signed form post to the hosted page, signed returns and feedback, and
//! `CHECK_STATUS`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use api::domain::{DonationId, DonationStatus};
use api::gateway::aps::{ShaType, Signer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use crate::helpers::{TestApp, location};

const MERCHANT: &str = "pledgeMerchant";
const ACCESS_CODE: &str = "pledgeAccess";
const REQUEST_PHRASE: &str = "reqPhrase$1";
const RESPONSE_PHRASE: &str = "resPhrase$2";

macro_rules! with_aps {
    ($settings:ident; $($name:ident),+ $(,)?) => {$(
        mod $name {
            use crate::helpers::{Backend, spawn_app_with};

            #[tokio::test]
            async fn sqlite() {
                let fake = super::FakeAps::start();
                let app = spawn_app_with(Backend::Sqlite, |s| super::$settings(s, &fake)).await.unwrap();
                super::$name(app, fake).await;
            }

            #[tokio::test]
            async fn postgres() {
                let fake = super::FakeAps::start();
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
    a_tampered_return_is_refused_and_changes_nothing,
    forged_and_replayed_feedback_change_nothing,
    signed_feedback_for_another_amount_is_kept_for_review,
    a_refund_is_read_from_check_status,
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

fn use_aps_and_reconcile(settings: &mut api::Settings, fake: &FakeAps) {
    use_aps(settings, fake);
    settings.reconcile_interval_seconds = 1;
    settings.reconcile_after_seconds = 0;
}

fn signer() -> Signer {
    Signer {
        sha: ShaType::Sha512,
        request_phrase: REQUEST_PHRASE.to_string().into(),
        response_phrase: RESPONSE_PHRASE.to_string().into(),
    }
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
    /// Forms the hosted page accepted.
    purchases: Vec<HashMap<String, String>>,
}

#[derive(Clone)]
pub struct FakeAps {
    url: Url,
    state: Arc<Mutex<Aps>>,
}

impl FakeAps {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(Aps::default()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/FortAPI/paymentPage", web::post().to(payment_page))
                .route("/FortAPI/paymentApi", web::post().to(payment_api))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { url, state }
    }
}

fn pairs(map: &HashMap<String, String>) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The hosted page: accepts a correctly signed purchase form and opens a transaction.
async fn payment_page(form: web::Form<HashMap<String, String>>, state: web::Data<Arc<Mutex<Aps>>>) -> HttpResponse {
    let fields = form.into_inner();
    let given = fields.get("signature").cloned().unwrap_or_default();
    if given != signer().sign_request(&pairs(&fields))
        || fields.get("access_code").map(String::as_str) != Some(ACCESS_CODE)
    {
        return HttpResponse::BadRequest().body("Signature mismatch");
    }
    let mut aps = state.lock().unwrap();
    let fort_id = format!("1690{:08}", aps.transactions.len() + 1);
    aps.transactions.insert(
        fields["merchant_reference"].clone(),
        Transaction {
            fort_id,
            amount: fields["amount"].clone(),
            currency: fields["currency"].clone(),
            status: "19".into(),
            refunded: 0,
        },
    );
    aps.purchases.push(fields);
    HttpResponse::Ok().body("<html>card form</html>")
}

/// `CHECK_STATUS`, answered with a signed JSON document.
async fn payment_api(body: web::Json<HashMap<String, String>>, state: web::Data<Arc<Mutex<Aps>>>) -> HttpResponse {
    let request = body.into_inner();
    if request.get("signature").cloned().unwrap_or_default() != signer().sign_request(&pairs(&request)) {
        return HttpResponse::Ok().json(json!({ "status": "00", "response_message": "Signature mismatch" }));
    }
    let aps = state.lock().unwrap();
    let reference = &request["merchant_reference"];
    let mut answer: Vec<(String, String)> = vec![
        ("query_command".into(), "CHECK_STATUS".into()),
        ("merchant_reference".into(), reference.clone()),
        ("response_code".into(), "12000".into()),
        ("status".into(), "12".into()),
    ];
    match aps.transactions.get(reference) {
        Some(t) => answer.extend([
            ("fort_id".into(), t.fort_id.clone()),
            ("transaction_status".into(), t.status.clone()),
            ("authorized_amount".into(), t.amount.clone()),
            ("currency".into(), t.currency.clone()),
            ("refunded_amount".into(), t.refunded.to_string()),
        ]),
        None => answer.push(("transaction_status".into(), "".into())),
    }
    answer.push(("signature".into(), signer().sign_response(&answer)));
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
    assert_eq!(accepted.status(), StatusCode::OK, "the hosted page refused our form");
    fields.iter().find(|(k, _)| k == "merchant_reference").unwrap().1.clone()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap() + start.len();
    &text[from..from + text[from..].find(end).unwrap()]
}

/// The response parameters APS sends back for a finished purchase, signed.
fn response(fake: &FakeAps, donation: &str, status: &str, amount: Option<&str>) -> Vec<(String, String)> {
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
        ("status".into(), status.into()),
        ("response_code".into(), format!("{status}000")),
        ("response_message".into(), if status == "14" { "Success" } else { "Transaction declined" }.into()),
    ];
    params.push(("signature".into(), signer().sign_response(&params)));
    params
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

async fn paying_through_aps_moves_the_total_once(app: TestApp, fake: FakeAps) {
    let donation = give(&app, &fake).await;
    let purchase = fake.state.lock().unwrap().purchases[0].clone();
    assert_eq!((purchase["amount"].as_str(), purchase["currency"].as_str()), ("2500", "USD"));
    let paid = response(&fake, &donation, "14", None);

    let back = return_with(&app, &paid).await;
    assert_eq!(location(&back).as_str(), "https://site.test/thank-you/");
    let (status, answer) = feedback(&app, &paid).await;
    assert_eq!((status, answer["result"].as_str()), (StatusCode::OK, Some("unchanged")));

    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (2500, 1));
    assert_eq!(status_of(&app, &donation).await, DonationStatus::Succeeded);
}

async fn a_declined_payment_leads_to_the_failed_page(app: TestApp, fake: FakeAps) {
    let donation = give(&app, &fake).await;
    let back = return_with(&app, &response(&fake, &donation, "13", None)).await;
    assert_eq!(location(&back).as_str(), "https://site.test/failed/");
    assert_eq!(status_of(&app, &donation).await, DonationStatus::Failed);
}

async fn a_tampered_return_is_refused_and_changes_nothing(app: TestApp, fake: FakeAps) {
    let donation = give(&app, &fake).await;
    let mut declined = response(&fake, &donation, "13", None);
    for (key, value) in &mut declined {
        if key == "status" {
            *value = "14".into();
        }
    }

    let back = return_with(&app, &declined).await;

    assert_eq!(back.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(status_of(&app, &donation).await, DonationStatus::Pending);
}

async fn forged_and_replayed_feedback_change_nothing(app: TestApp, fake: FakeAps) {
    let donation = give(&app, &fake).await;
    let mut forged = response(&fake, &donation, "14", None);
    forged.pop();
    let forged_signature = Signer { response_phrase: "guessed".to_string().into(), ..signer() }.sign_response(&forged);
    forged.push(("signature".into(), forged_signature));
    assert_eq!(feedback(&app, &forged).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.stored_totals("water").await.raised_minor, 0);

    let paid = response(&fake, &donation, "14", None);
    assert_eq!(feedback(&app, &paid).await.1["result"], "applied");
    assert_eq!(feedback(&app, &paid).await.1["result"], "duplicate");
    assert_eq!(app.stored_totals("water").await.raised_minor, 2500);
}

async fn signed_feedback_for_another_amount_is_kept_for_review(app: TestApp, fake: FakeAps) {
    let donation = give(&app, &fake).await;
    let cheap = response(&fake, &donation, "14", Some("100"));

    assert_eq!(feedback(&app, &cheap).await.1["result"], "stored for review");

    assert_eq!(app.stored_totals("water").await.raised_minor, 0);
    assert_eq!(status_of(&app, &donation).await, DonationStatus::Pending);
}

async fn a_refund_is_read_from_check_status(app: TestApp, fake: FakeAps) {
    let donation = give(&app, &fake).await;
    feedback(&app, &response(&fake, &donation, "14", None)).await;
    fake.state.lock().unwrap().transactions.get_mut(&donation).unwrap().refunded = 1000;
    let mut refund: Vec<(String, String)> = vec![
        ("command".into(), "REFUND".into()),
        ("merchant_reference".into(), donation.clone()),
        ("amount".into(), "1000".into()),
        ("currency".into(), "USD".into()),
        ("status".into(), "06".into()),
    ];
    refund.push(("signature".into(), signer().sign_response(&refund)));

    assert_eq!(feedback(&app, &refund).await.1["result"], "applied");

    let stored = app.stored_totals("water").await;
    assert_eq!((stored.raised_minor, stored.donors), (1500, 1));
}

async fn the_reconciler_asks_aps_with_check_status(app: TestApp, fake: FakeAps) {
    let donation = give(&app, &fake).await;
    fake.state.lock().unwrap().transactions.get_mut(&donation).unwrap().status = "14".into();

    let stored = app.store.donation(&DonationId::parse(&donation).unwrap()).await.unwrap().unwrap();
    let events = app.wait_for_events(&stored, 1).await;

    assert_eq!(events[0].result, "succeeded", "{events:?}");
    assert_eq!(app.stored_totals("water").await.raised_minor, 2500);
}
