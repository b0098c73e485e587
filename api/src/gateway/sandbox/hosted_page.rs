//! The sandbox gateway's own side: the hosted payment page where a visitor chooses to pay or
//! decline, the signed redirect back to the merchant, and the signed notification it posts to
//! the merchant's webhook. Mounted by `pledge serve` and by tests; never in production.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::protocol;
use super::{NotificationBody, PaymentStatus};

/// How long the "notify late" choice holds its notification back.
const LATE_NOTIFICATION: Duration = Duration::from_secs(3);

/// What the hosted page needs: the shared secret, a client to post notifications with, and
/// the payments it has seen, which answer status queries.
#[derive(Clone)]
pub struct HostedPage {
    secret: SecretString,
    client: reqwest::Client,
    payments: Arc<Mutex<HashMap<String, NotificationBody>>>,
}

impl HostedPage {
    pub fn new(secret: SecretString, client: reqwest::Client) -> Self {
        Self { secret, client, payments: Arc::default() }
    }

    fn remember(&self, payment: &NotificationBody) {
        self.payments
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(payment.merchant_reference.clone(), payment.clone());
    }

    fn recall(&self, merchant_reference: &str) -> Option<NotificationBody> {
        self.payments.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(merchant_reference).cloned()
    }
}

pub fn routes(config: &mut web::ServiceConfig, page: HostedPage) {
    let page = web::Data::new(page);
    config
        .service(
            web::resource("/sandbox/pay")
                .app_data(page.clone())
                .route(web::get().to(show_payment_page))
                .route(web::post().to(complete_payment)),
        )
        .service(web::resource("/sandbox/status").app_data(page).route(web::get().to(payment_status)));
}

/// What the donor chose on the hosted page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    Pay,
    /// Pay, with the notification held back (the return arrives first).
    PayNotifyLate,
    /// Pay, with the notification sent twice (gateways deliver at least once).
    PayNotifyTwice,
    Decline,
    /// Leave without paying: back to the merchant with no verdict, and no notification.
    Abandon,
}

impl Choice {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "paid" => Self::Pay,
            "paid_late" => Self::PayNotifyLate,
            "paid_twice" => Self::PayNotifyTwice,
            "declined" => Self::Decline,
            "cancelled" => Self::Abandon,
            _ => return None,
        })
    }

    fn status(self) -> PaymentStatus {
        match self {
            Self::Pay | Self::PayNotifyLate | Self::PayNotifyTwice => PaymentStatus::Paid,
            Self::Decline => PaymentStatus::Declined,
            Self::Abandon => PaymentStatus::Cancelled,
        }
    }
}

fn refuse(message: &str) -> HttpResponse {
    HttpResponse::BadRequest().content_type(ContentType::plaintext()).body(format!("Sandbox gateway: {message}\n"))
}

/// Verifies the merchant's signed request, as a real gateway would before showing its page.
fn verified(page: &HostedPage, query: &str) -> Result<Vec<(String, String)>, Box<HttpResponse>> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    protocol::verify(page.secret.expose_secret().as_bytes(), pairs.clone())
        .map_err(|e| Box::new(refuse(&format!("the merchant request was refused: {e}"))))?;
    Ok(pairs)
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

async fn show_payment_page(request: HttpRequest, page: web::Data<HostedPage>) -> HttpResponse {
    let pairs = match verified(&page, request.query_string()) {
        Ok(pairs) => pairs,
        Err(response) => return *response,
    };
    let hidden: String = pairs
        .iter()
        .map(|(k, v)| format!(r#"<input type="hidden" name="{}" value="{}">"#, escape(k), escape(v)))
        .collect();
    let currency = param(&pairs, "currency");
    let amount = match (campaigns::Currency::parse(currency), param(&pairs, "amount_minor").parse::<i64>()) {
        (Ok(currency), Ok(minor)) => format!("{} {}", currency.format_major(minor), currency.code()),
        _ => return refuse("amount_minor and currency must describe an amount"),
    };
    let html = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Sandbox payment</title><style>body{{font:1.1rem/1.5 system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem}}
button{{font:inherit;padding:.6rem 1.2rem;margin:.3rem .5rem 0 0;border-radius:.4rem;border:1px solid #555;cursor:pointer}}
.pay{{background:#136f3a;color:#fff;border-color:#136f3a}}</style></head><body><main>
<h1>Sandbox payment</h1><p>A test payment of <strong>{amount}</strong>. No money moves.</p>
<form method="post" action="/sandbox/pay">{hidden}
<button class="pay" name="choice" value="paid">Pay</button><button name="choice" value="declined">Decline</button>
<button name="choice" value="cancelled">Cancel and go back</button>
<details><summary>Test delivery</summary>
<button name="choice" value="paid_late">Pay, notify 3 s late</button>
<button name="choice" value="paid_twice">Pay, notify twice</button></details>
</form></main></body></html>"#
    );
    HttpResponse::Ok().content_type(ContentType::html()).body(html)
}

async fn complete_payment(page: web::Data<HostedPage>, form: web::Bytes) -> HttpResponse {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(&form).into_owned().collect();
    let Some(choice) = pairs.iter().find(|(k, _)| k == "choice").and_then(|(_, v)| Choice::parse(v)) else {
        return refuse("choose pay, decline or cancel");
    };
    let status = choice.status();
    pairs.retain(|(k, _)| k != "choice");
    let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
    let pairs = match verified(&page, &query) {
        Ok(pairs) => pairs,
        Err(response) => return *response,
    };
    let (Ok(mut return_url), Ok(notify_url)) =
        (Url::parse(param(&pairs, "return_url")), Url::parse(param(&pairs, "notify_url")))
    else {
        return refuse("return_url and notify_url must be absolute URLs");
    };
    let Ok(amount_minor) = param(&pairs, "amount_minor").parse::<i64>() else {
        return refuse("amount_minor must be an integer");
    };
    let payment_id = format!("pay_{}", uuid::Uuid::new_v4().simple());
    let notification = NotificationBody {
        event_id: format!("evt_{}", uuid::Uuid::new_v4().simple()),
        payment_id: payment_id.clone(),
        merchant_reference: param(&pairs, "merchant_reference").to_string(),
        status,
        amount_minor,
        currency: param(&pairs, "currency").to_string(),
        refunded_minor: None,
    };
    if choice != Choice::Abandon {
        page.remember(&notification);
    }
    let (delay, copies) = match choice {
        Choice::Abandon => (Duration::ZERO, 0),
        Choice::PayNotifyLate => (LATE_NOTIFICATION, 1),
        Choice::PayNotifyTwice => (Duration::ZERO, 2),
        Choice::Pay | Choice::Decline => (Duration::ZERO, 1),
    };
    for _ in 0..copies {
        let page = page.get_ref().clone();
        let (notify_url, notification) = (notify_url.clone(), notification.clone());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            send_notification(page, notify_url, notification).await;
        });
    }

    let secret = page.secret.expose_secret().as_bytes();
    let back = protocol::sign(
        secret,
        vec![
            ("merchant_reference".into(), param(&pairs, "merchant_reference").into()),
            ("payment_id".into(), payment_id),
            ("status".into(), status.as_str().into()),
            ("amount_minor".into(), amount_minor.to_string()),
            ("currency".into(), param(&pairs, "currency").into()),
        ],
    );
    return_url.query_pairs_mut().extend_pairs(back);
    HttpResponse::SeeOther().insert_header((header::LOCATION, return_url.to_string())).finish()
}

/// Answers a merchant's signed status query with the payment as the gateway knows it, signed
/// like a notification; 404 when the donor never finished on the hosted page.
async fn payment_status(request: HttpRequest, page: web::Data<HostedPage>) -> HttpResponse {
    let pairs = match verified(&page, request.query_string()) {
        Ok(pairs) => pairs,
        Err(response) => return *response,
    };
    let Some(payment) = page.recall(param(&pairs, "merchant_reference")) else {
        return HttpResponse::NotFound()
            .content_type(ContentType::plaintext())
            .body("Sandbox gateway: no such payment\n");
    };
    let body = serde_json::to_vec(&payment).unwrap_or_default();
    let signature = protocol::sign_notification(page.secret.expose_secret().as_bytes(), protocol::unix_now(), &body);
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .insert_header((protocol::SIGNATURE_HEADER, signature))
        .body(body)
}

/// Posts the signed notification, retrying a few times as gateways do when a merchant is down.
async fn send_notification(page: HostedPage, notify_url: Url, notification: NotificationBody) {
    let body = serde_json::to_vec(&notification).unwrap_or_default();
    for attempt in 0..5u32 {
        let signature =
            protocol::sign_notification(page.secret.expose_secret().as_bytes(), protocol::unix_now(), &body);
        let sent = page
            .client
            .post(notify_url.clone())
            .header("content-type", "application/json")
            .header(protocol::SIGNATURE_HEADER, signature)
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => tracing::warn!(status = %response.status(), attempt, "sandbox notification refused"),
            Err(error) => tracing::warn!(%error, attempt, "sandbox notification failed"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200 * 2u64.pow(attempt))).await;
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
