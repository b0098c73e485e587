//! The load of the crash-safety test: donors posting the donate form (and posting it again
//! when no answer came), and the gateway's notifications (payments, refunds, retries), each
//! outcome written to a `Ledger` the checks compare the database with.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api::gateway::sandbox::{NotificationBody, PaymentStatus, protocol};
use futures_util::future::join_all;
use rand::Rng;
use rand::rngs::StdRng;
use reqwest::StatusCode;
use url::Url;

use crate::{CAMPAIGNS, SECRET};

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // Longer than the five seconds a repeated donation waits for its first attempt's
        // checkout (which a kill may have stopped), as a browser waits longer still.
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A donation the API answered with its 303 to the hosted page.
#[derive(Debug, Clone)]
pub(crate) struct Acknowledged {
    pub(crate) id: String,
    pub(crate) campaign: &'static str,
    pub(crate) amount_minor: i64,
    pub(crate) currency: String,
    /// The redirect's URL, which the donation's stored checkout must be.
    pub(crate) hosted_page: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Paid,
    /// The refunds' running total, as gateways report it.
    Refunded(i64),
}

/// A notification as the gateway sent it, and whether it was ever answered 2xx.
#[derive(Debug)]
pub(crate) struct Sent {
    pub(crate) event_id: String,
    pub(crate) donation: String,
    pub(crate) effect: Effect,
    pub(crate) body: Vec<u8>,
    pub(crate) answered: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Ledger {
    pub(crate) acknowledged: Vec<Acknowledged>,
    /// Of those, how many were acknowledged only when the donor posted again (same key).
    pub(crate) acknowledged_on_retry: usize,
    pub(crate) donation_posts: usize,
    pub(crate) sent: Vec<Sent>,
    pub(crate) notification_posts: usize,
    /// Notifications delivered twice at once and answered both times.
    pub(crate) raced: usize,
    /// Donations whose payment and refund notifications were sent at once.
    pub(crate) raced_effects: usize,
    /// The longest a donation post took to get its 303.
    pub(crate) slowest_acknowledgement: Duration,
    /// Requests that got no answer within the client's ten seconds (the API was up, or
    /// came up, but did not answer).
    pub(crate) timeouts: usize,
    /// Answers that neither a working API nor a killed one gives (a 500, a 4xx): any fails the test.
    pub(crate) unexpected: Vec<String>,
}

#[derive(Debug)]
pub(crate) enum Delivery {
    /// 2xx, with the webhook's `result` when the body arrived whole.
    Answered(Option<String>),
    /// No answer: refused, reset or cut off by a kill; or (true) none within ten seconds.
    Lost {
        timed_out: bool,
    },
    Unexpected(String),
}

pub(crate) async fn deliver(http: &reqwest::Client, api: &Url, body: &[u8]) -> Delivery {
    // Signed at each delivery, as gateways sign each attempt.
    let signature = protocol::sign_notification(SECRET.as_bytes(), protocol::unix_now(), body);
    let answer = http
        .post(api.join("api/v1/payments/sandbox/webhook").unwrap())
        .header("content-type", "application/json")
        .header(protocol::SIGNATURE_HEADER, signature)
        .body(body.to_vec())
        .send()
        .await;
    match answer {
        Err(error) => Delivery::Lost { timed_out: error.is_timeout() },
        Ok(response) if response.status().is_success() => {
            let body: Option<serde_json::Value> = response.json().await.ok();
            Delivery::Answered(body.and_then(|b| b["result"].as_str().map(str::to_string)))
        }
        Ok(response) => {
            let status = response.status();
            Delivery::Unexpected(format!(
                "notification answered {status}: {}",
                response.text().await.unwrap_or_default()
            ))
        }
    }
}

/// One client of the load: donors starting gifts, and the gateway telling the API about them.
pub(crate) struct Load {
    pub(crate) api: Url,
    pub(crate) http: reqwest::Client,
    pub(crate) rng: StdRng,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) in_flight: Arc<AtomicUsize>,
    pub(crate) ledger: Arc<Mutex<Ledger>>,
    /// Indexes into `ledger.sent` of this client's notifications, for retries.
    pub(crate) mine: Vec<usize>,
}

impl Load {
    pub(crate) async fn run(mut self) {
        while !self.stop.load(Ordering::SeqCst) {
            let Some((donation, key)) = self.start_donation().await else { continue };
            if self.rng.random_bool(0.15) {
                self.repeat_donation(&donation, &key).await;
            }
            let mut effects = Vec::new();
            if self.rng.random_bool(0.7) {
                effects.push(Effect::Paid);
            }
            if self.rng.random_bool(0.3) {
                let refunded = if self.rng.random_bool(0.5) {
                    donation.amount_minor
                } else {
                    self.rng.random_range(1..=donation.amount_minor)
                };
                effects.push(Effect::Refunded(refunded));
            }
            // Gateways do not wait for one answer before sending the next: now and then the
            // payment and its refund race each other on the same donation.
            if effects.len() == 2 && self.rng.random_bool(0.2) {
                self.notify(&donation, &effects).await;
            } else {
                for effect in effects {
                    self.notify(&donation, &[effect]).await;
                }
            }
            if !self.mine.is_empty() && self.rng.random_bool(0.2) {
                let index = self.mine[self.rng.random_range(0..self.mine.len())];
                self.retry(index).await;
            }
        }
    }

    /// Posts the donate form as a browser does, submitting again (same idempotency key) while
    /// the API does not answer, as a donor would.
    async fn start_donation(&mut self) -> Option<(Acknowledged, String)> {
        let (campaign, currency) = CAMPAIGNS[self.rng.random_range(0..CAMPAIGNS.len())];
        let amount = match currency {
            "JPY" => self.rng.random_range(100..5000).to_string(),
            _ => format!("{}.{:02}", self.rng.random_range(1..300), self.rng.random_range(0..100)),
        };
        let key = format!("crash-{:032x}", self.rng.random::<u128>());
        for attempt in 0..10 {
            let fields = [("campaign", campaign), ("amount", &amount), ("lang", "en"), ("idempotency_key", &key)];
            let posted = Instant::now();
            let answer = self.send(self.http.post(self.api.join("api/v1/donations").unwrap()).form(&fields)).await;
            self.ledger.lock().unwrap().donation_posts += 1;
            match answer {
                Ok(response) if response.status() == StatusCode::SEE_OTHER => {
                    let hosted_page = hosted_page(&response);
                    let donation = Acknowledged {
                        id: param(&hosted_page, "merchant_reference"),
                        campaign,
                        amount_minor: param(&hosted_page, "amount_minor").parse().expect("a whole amount"),
                        currency: param(&hosted_page, "currency"),
                        hosted_page: hosted_page.to_string(),
                    };
                    let mut ledger = self.ledger.lock().unwrap();
                    ledger.acknowledged.push(donation.clone());
                    ledger.acknowledged_on_retry += usize::from(attempt > 0);
                    ledger.slowest_acknowledgement = ledger.slowest_acknowledgement.max(posted.elapsed());
                    return Some((donation, key));
                }
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    self.ledger.lock().unwrap().unexpected.push(format!("donation answered {status}: {text}"));
                    return None;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
            if self.stop.load(Ordering::SeqCst) {
                return None;
            }
        }
        None
    }

    /// The donor's browser posts the same form again (back button, double click), perhaps to
    /// a process started since: it must lead to the same donation.
    async fn repeat_donation(&mut self, donation: &Acknowledged, key: &str) {
        let amount = if donation.currency == "JPY" {
            donation.amount_minor.to_string()
        } else {
            format!("{}.{:02}", donation.amount_minor / 100, donation.amount_minor % 100)
        };
        let fields = [("campaign", donation.campaign), ("amount", &amount), ("lang", "en"), ("idempotency_key", key)];
        let answer = self.send(self.http.post(self.api.join("api/v1/donations").unwrap()).form(&fields)).await;
        let mut ledger = self.ledger.lock().unwrap();
        ledger.donation_posts += 1;
        match answer {
            Ok(response) if response.status() == StatusCode::SEE_OTHER => {
                let id = param(&hosted_page(&response), "merchant_reference");
                if id != donation.id {
                    ledger.unexpected.push(format!("idempotency key {key} led to {id}, first to {}", donation.id));
                }
            }
            Ok(response) => ledger.unexpected.push(format!("repeated donation answered {}", response.status())),
            Err(_) => {}
        }
    }

    /// Sends a notification for each of `effects` at once, each now and then twice at once.
    async fn notify(&mut self, donation: &Acknowledged, effects: &[Effect]) {
        let mut prepared = Vec::new();
        for &effect in effects {
            let event_id = format!("evt_{:032x}", self.rng.random::<u128>());
            let body = NotificationBody {
                event_id: event_id.clone(),
                payment_id: format!("pay_{}", donation.id),
                merchant_reference: donation.id.clone(),
                status: match effect {
                    Effect::Paid => PaymentStatus::Paid,
                    Effect::Refunded(_) => PaymentStatus::Refunded,
                },
                amount_minor: donation.amount_minor,
                currency: donation.currency.clone(),
                refunded_minor: match effect {
                    Effect::Paid => None,
                    Effect::Refunded(total) => Some(total),
                },
            };
            // The gateway's retry racing its first delivery.
            let twice = self.rng.random_bool(0.1);
            prepared.push((event_id, effect, serde_json::to_vec(&body).unwrap(), twice));
        }
        let this = &*self;
        let deliveries = join_all(prepared.iter().map(|(_, _, body, twice)| async move {
            if *twice {
                let (first, second) = tokio::join!(this.deliver(body), this.deliver(body));
                vec![first, second]
            } else {
                vec![this.deliver(body).await]
            }
        }))
        .await;
        let mut ledger = self.ledger.lock().unwrap();
        ledger.raced_effects += usize::from(prepared.len() > 1);
        for ((event_id, effect, body, _), deliveries) in prepared.into_iter().zip(deliveries) {
            let mut answered = false;
            let mut results = Vec::new();
            for delivery in deliveries {
                match delivery {
                    Delivery::Answered(result) => {
                        answered = true;
                        results.push(result);
                    }
                    Delivery::Lost { .. } => {}
                    Delivery::Unexpected(what) => ledger.unexpected.push(format!("{event_id}: {what}")),
                }
            }
            // A new event answered twice at once: one delivery applied it, the other saw a duplicate.
            if let [Some(first), Some(second)] = results.as_slice()
                && (first == "duplicate") == (second == "duplicate")
            {
                ledger.unexpected.push(format!("{event_id} delivered twice at once: {first} and {second}"));
            }
            ledger.raced += usize::from(results.len() == 2);
            ledger.sent.push(Sent { event_id, donation: donation.id.clone(), effect, body, answered });
            self.mine.push(ledger.sent.len() - 1);
        }
    }

    /// The gateway sends a notification again: unanswered ones until they are answered, and
    /// now and then one that was answered (gateways do).
    async fn retry(&mut self, index: usize) {
        let (body, was_answered) = {
            let ledger = self.ledger.lock().unwrap();
            (ledger.sent[index].body.clone(), ledger.sent[index].answered)
        };
        let delivery = self.deliver(&body).await;
        let mut ledger = self.ledger.lock().unwrap();
        let sent_event = ledger.sent[index].event_id.clone();
        match delivery {
            Delivery::Answered(Some(result)) if was_answered && result != "duplicate" => {
                ledger.unexpected.push(format!("{sent_event} was answered, then applied again: {result}"));
            }
            Delivery::Answered(_) => ledger.sent[index].answered = true,
            Delivery::Lost { .. } => {}
            Delivery::Unexpected(what) => ledger.unexpected.push(format!("{sent_event} retried: {what}")),
        }
    }

    async fn deliver(&self, body: &[u8]) -> Delivery {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let delivery = deliver(&self.http, &self.api, body).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let mut ledger = self.ledger.lock().unwrap();
        ledger.notification_posts += 1;
        ledger.timeouts += usize::from(matches!(delivery, Delivery::Lost { timed_out: true }));
        drop(ledger);
        delivery
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Result<reqwest::Response> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let answer = request.send().await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if answer.as_ref().is_err_and(reqwest::Error::is_timeout) {
            self.ledger.lock().unwrap().timeouts += 1;
        }
        answer
    }
}

fn hosted_page(response: &reqwest::Response) -> Url {
    let location = response.headers()["location"].to_str().unwrap();
    let url = Url::parse(location).expect("an absolute Location");
    assert!(url.path().ends_with("/sandbox/pay"), "the redirect goes to the sandbox's hosted page: {url}");
    url
}

fn param(url: &Url, name: &str) -> String {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()).unwrap_or_default()
}
