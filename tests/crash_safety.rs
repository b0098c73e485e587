//! Crash safety: `pledge api` is killed with SIGKILL at random moments while clients start
//! donations and a gateway sends notifications, and started again on the same database each
//! time. Nothing acknowledged may be lost and nothing counted twice: every donation answered
//! with its 303 is stored, every notification answered 2xx is applied exactly once, and each
//! campaign's total is the sum of what its donations count. Replaying every notification
//! afterwards changes nothing already applied and applies the rest. On SQLite and PostgreSQL.
//!
//! The kill schedule and the load's choices come from a seed, printed with the figures;
//! `PLEDGE_CRASH_SEED=<seed>` repeats them (the interleaving of requests still varies).

#[path = "crash_safety/harness.rs"]
mod harness;
#[path = "crash_safety/load.rs"]
mod load;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use api::db::{Donation, Store};
use api::domain::{DonationId, DonationStatus};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;

use harness::{Launcher, PostgresDatabase, Raw};
use load::{Delivery, Effect, Ledger, Load, Sent, client, deliver};

const SECRET: &str = "crash-safety-sandbox-secret";
/// Kills under load, after the one during the first start.
const KILLS: usize = 24;
const CLIENTS: u64 = 4;
/// Two campaigns in currencies of different exponents, so totals cannot be right by accident.
const CAMPAIGNS: [(&str, &str); 2] = [("water", "USD"), ("schools", "JPY")];
const SITE_CONFIG: &str = r#"base_url = "https://site.test"
default_language = "en"

[[campaigns]]
slug = "water"
currency = "USD"
goal = 100000
min_amount = 1
max_amount = 10000

[[campaigns]]
slug = "schools"
currency = "JPY"
goal = 10000000
min_amount = 100
max_amount = 1000000
"#;
/// Where the status counts toward the total, as `Payment::counted` decides.
const COUNTED: &str = "status IN ('succeeded', 'refunded', 'disputed')";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_loses_nothing_acknowledged_when_the_api_is_killed_again_and_again() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("pledge.db").display());
    survive_kills("SQLite", &url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_loses_nothing_acknowledged_when_the_api_is_killed_again_and_again() {
    let Some(database) = PostgresDatabase::create().await else { return };
    let dir = tempfile::tempdir().unwrap();
    survive_kills("PostgreSQL", &database.url, dir.path()).await;
}

async fn survive_kills(backend: &str, database_url: &str, dir: &Path) {
    let seed = std::env::var("PLEDGE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64));
    eprintln!("crash safety on {backend}: seed {seed}");
    let started = Instant::now();
    let site_config = dir.join("config.toml");
    std::fs::write(&site_config, SITE_CONFIG).unwrap();
    let launcher = Launcher::new(database_url, &site_config);
    let http = client();
    let mut schedule = StdRng::seed_from_u64(seed);
    // The first start creates the tables: a kill then must not leave a database that cannot
    // start (depending on the moment, it lands before, during or after the migrations).
    let mut api = launcher.spawn();
    tokio::time::sleep(Duration::from_millis(schedule.random_range(0..200))).await;
    api.kill(&launcher);
    let mut api = launcher.spawn();
    api.wait_until_healthy(&launcher, &http).await;

    let stop = Arc::new(AtomicBool::new(false));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let load = Load {
                api: launcher.url.clone(),
                http: client(),
                rng: StdRng::seed_from_u64(seed.wrapping_add(1 + n)),
                stop: stop.clone(),
                in_flight: in_flight.clone(),
                ledger: ledger.clone(),
                mine: Vec::new(),
            };
            tokio::spawn(load.run())
        })
        .collect();

    // The first start's kill was one while starting.
    let (mut while_starting, mut mid_request) = (1, 0);
    for kill in 1..=KILLS {
        // Most kills land while it serves; every fifth while it still opens the database.
        if kill % 5 == 0 {
            tokio::time::sleep(Duration::from_millis(schedule.random_range(0..120))).await;
            while_starting += 1;
        } else {
            api.wait_until_healthy(&launcher, &http).await;
            tokio::time::sleep(Duration::from_millis(schedule.random_range(100..900))).await;
        }
        if in_flight.load(Ordering::SeqCst) > 0 {
            mid_request += 1;
        }
        api.kill(&launcher);
        api = launcher.spawn();
    }
    api.wait_until_healthy(&launcher, &http).await;
    // A little load on the survivor, then stop: every client finishes its request in flight.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.expect("a load client panicked");
    }
    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    assert!(
        ledger.unexpected.is_empty(),
        "answers neither a healthy nor a dead API gives:\n{}",
        ledger.unexpected.join("\n")
    );
    assert!(ledger.acknowledged.len() >= 50, "too little load to judge: {} donations", ledger.acknowledged.len());

    let store = api::db::connect(database_url).await.expect("the database opens");
    let raw = Raw::connect(database_url).await;

    // After the kills: what was acknowledged is there, what was answered is applied once.
    let donations = acknowledged_donations(store.as_ref(), &ledger).await;
    check_events(store.as_ref(), &ledger, &donations, false, &launcher).await;
    check_totals(store.as_ref(), &raw, &http, &launcher, &donations).await;
    let stored = raw.count("SELECT COUNT(*) FROM donations").await;
    // Stored but never sent to a gateway: killed between storing the donation and its checkout.
    let without_checkout = raw.count("SELECT COUNT(*) FROM donations WHERE checkout_url IS NULL").await;
    let answered = ledger.sent.iter().filter(|s| s.answered).count();

    // A gateway retries what it sent until it gets an answer: replay everything, twice.
    let mut replayed = BTreeMap::<String, usize>::new();
    let mut lost_answers = 0;
    for sent in &ledger.sent {
        let result = match deliver(&http, &launcher.url, &sent.body).await {
            Delivery::Answered(Some(result)) => result,
            other => panic!("replaying {} to a running API: {other:?}\n{}", sent.event_id, launcher.logs()),
        };
        if sent.answered {
            assert_eq!(
                result, "duplicate",
                "{} was answered before, so applied: a replay must change nothing",
                sent.event_id
            );
        } else if result == "duplicate" {
            // Applied before the kill, which took its answer.
            lost_answers += 1;
        }
        *replayed.entry(result).or_default() += 1;
    }
    for sent in &ledger.sent {
        match deliver(&http, &launcher.url, &sent.body).await {
            Delivery::Answered(Some(result)) if result == "duplicate" => {}
            other => panic!("a second replay of {} must be a duplicate: {other:?}", sent.event_id),
        }
    }
    let donations = acknowledged_donations(store.as_ref(), &ledger).await;
    check_events(store.as_ref(), &ledger, &donations, true, &launcher).await;
    let totals = check_totals(store.as_ref(), &raw, &http, &launcher, &donations).await;
    let expected = expected_totals(&ledger);
    assert_eq!(totals, expected, "the totals are what every notification sent adds up to");
    drop(api);

    eprintln!(
        "crash safety on {backend} (seed {seed}, {:.1} s):\n  \
         kills survived: {} ({while_starting} while starting, {mid_request} with requests in flight)\n  \
         donations acknowledged: {} of {} posts ({} only when posted again); {stored} stored, {} of them \
         committed but never answered ({without_checkout} without a checkout); slowest 303 {:?}\n  \
         notifications answered: {answered} of {} sent ({} posts; {} raced by their own retry, {} payments \
         raced by their refund); {} requests timed out\n  \
         events replayed: {} twice; first pass {replayed:?}, {lost_answers} of them applied before their answer \
         was lost\n  \
         totals (minor units): {totals:?}",
        started.elapsed().as_secs_f64(),
        KILLS + 1,
        ledger.acknowledged.len(),
        ledger.donation_posts,
        ledger.acknowledged_on_retry,
        stored - ledger.acknowledged.len() as i64,
        ledger.slowest_acknowledgement,
        ledger.sent.len(),
        ledger.notification_posts,
        ledger.raced,
        ledger.raced_effects,
        ledger.timeouts,
        ledger.sent.len(),
    );
}

/// Invariant 1: every donation that got its 303 is stored, as it was asked for.
async fn acknowledged_donations(store: &dyn Store, ledger: &Ledger) -> HashMap<String, Donation> {
    let mut donations = HashMap::new();
    for acknowledged in &ledger.acknowledged {
        let id = DonationId::parse(&acknowledged.id).expect("a donation id in the redirect");
        let donation = store
            .donation(&id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("donation {} got its 303 but is not in the database", acknowledged.id));
        assert_eq!(
            (donation.campaign.as_str(), donation.amount.get(), donation.currency.code()),
            (acknowledged.campaign, acknowledged.amount_minor, acknowledged.currency.as_str()),
            "donation {} is stored as it was acknowledged",
            acknowledged.id
        );
        assert_eq!(
            donation.checkout_url.as_deref(),
            Some(acknowledged.hosted_page.as_str()),
            "donation {} was sent to its stored checkout",
            acknowledged.id
        );
        donations.insert(acknowledged.id.clone(), donation);
    }
    donations
}

/// What a donation is after `effects`, whatever their order (refunds are running totals).
fn settled(amount: i64, effects: impl IntoIterator<Item = Effect>) -> (DonationStatus, i64) {
    let (mut heard, mut refunded) = (false, 0);
    for effect in effects {
        heard = true;
        if let Effect::Refunded(total) = effect {
            refunded = refunded.max(total);
        }
    }
    match (heard, refunded == amount) {
        (false, _) => (DonationStatus::Pending, 0),
        (true, true) => (DonationStatus::Refunded, refunded),
        (true, false) => (DonationStatus::Succeeded, refunded),
    }
}

fn counted(status: DonationStatus, amount: i64, refunded: i64) -> i64 {
    match status {
        DonationStatus::Succeeded | DonationStatus::Refunded | DonationStatus::Disputed => amount - refunded,
        _ => 0,
    }
}

/// Invariant 2: each stored event is one we sent, stored once, never refused; every answered
/// one (every one, once all were replayed) is among them; and the donation is in the state
/// its stored events make it.
async fn check_events(
    store: &dyn Store,
    ledger: &Ledger,
    donations: &HashMap<String, Donation>,
    all_delivered: bool,
    launcher: &Launcher,
) {
    let mut sent_by_donation: HashMap<&str, Vec<&Sent>> = HashMap::new();
    for sent in &ledger.sent {
        sent_by_donation.entry(&sent.donation).or_default().push(sent);
    }
    for (id, donation) in donations {
        let stored = store.payment_events(&donation.id).await.unwrap();
        let sent = sent_by_donation.get(id.as_str()).map(Vec::as_slice).unwrap_or_default();
        let mut seen = HashSet::new();
        let mut effects = Vec::new();
        for event in &stored {
            assert!(seen.insert(event.event_id.as_str()), "event {} is stored twice", event.event_id);
            assert!(
                ["succeeded", "refunded", "unchanged"].contains(&event.result.as_str()),
                "event {} was not applied: {event:?}\n{}",
                event.event_id,
                launcher.logs()
            );
            let ours = sent.iter().find(|s| s.event_id == event.event_id);
            effects.push(ours.unwrap_or_else(|| panic!("event {} was never sent", event.event_id)).effect);
        }
        for sent in sent.iter().filter(|s| s.answered || all_delivered) {
            assert!(seen.contains(sent.event_id.as_str()), "event {} was answered but is not stored", sent.event_id);
        }
        let (status, refunded) = settled(donation.amount.get(), effects);
        assert_eq!(
            (donation.status, donation.refunded),
            (status, refunded),
            "donation {id} reflects its events: {stored:?}"
        );
    }
}

/// What every notification sent makes each campaign's total, from the test's own records.
fn expected_totals(ledger: &Ledger) -> BTreeMap<String, i64> {
    let mut totals: BTreeMap<String, i64> = CAMPAIGNS.iter().map(|(slug, _)| (slug.to_string(), 0)).collect();
    for donation in &ledger.acknowledged {
        let effects = ledger.sent.iter().filter(|s| s.donation == donation.id).map(|s| s.effect);
        let (status, refunded) = settled(donation.amount_minor, effects);
        *totals.get_mut(donation.campaign).unwrap() += counted(status, donation.amount_minor, refunded);
    }
    totals
}

/// Invariant 3: each campaign's running total (as stored and as the API serves it) is the sum
/// of what its donations count, and so is its donor count. Returns the totals.
async fn check_totals(
    store: &dyn Store,
    raw: &Raw,
    http: &reqwest::Client,
    launcher: &Launcher,
    donations: &HashMap<String, Donation>,
) -> BTreeMap<String, i64> {
    let summed = raw
        .by_campaign(&format!(
            "SELECT campaign, CAST(SUM(amount_minor - refunded_minor) AS BIGINT) FROM donations WHERE {COUNTED} \
             GROUP BY campaign"
        ))
        .await;
    let donors = raw
        .by_campaign(&format!(
            "SELECT campaign, COUNT(*) FROM donations WHERE {COUNTED} AND amount_minor > refunded_minor \
             GROUP BY campaign"
        ))
        .await;
    let mut acknowledged: BTreeMap<&str, i64> = BTreeMap::new();
    for donation in donations.values() {
        *acknowledged.entry(donation.campaign.as_str()).or_default() +=
            counted(donation.status, donation.amount.get(), donation.refunded);
    }
    let mut totals = BTreeMap::new();
    for stored in store.campaign_totals().await.unwrap() {
        let slug = stored.slug.as_str();
        let sum = summed.get(slug).copied().unwrap_or(0);
        assert_eq!(stored.raised_minor, sum, "{slug}'s stored total is the sum of its counted donations");
        assert_eq!(stored.donors, donors.get(slug).copied().unwrap_or(0), "{slug}'s donors are its counted donations");
        // Donations stored but never acknowledged got no notification: they must count nothing.
        assert_eq!(sum, acknowledged.get(slug).copied().unwrap_or(0), "{slug}: only acknowledged donations count");
        let served = served_totals(http, launcher, slug, stored.raised_minor).await;
        assert_eq!((served["raised_minor"].as_i64(), served["donors"].as_i64()), (Some(sum), Some(stored.donors)));
        totals.insert(stored.slug.clone(), sum);
    }
    totals
}

/// The API's totals for `slug` once it serves `raised` (it refreshes from the database every
/// 100 ms); after five seconds, whatever it serves then.
async fn served_totals(http: &reqwest::Client, launcher: &Launcher, slug: &str, raised: i64) -> serde_json::Value {
    let url = launcher.url.join(&format!("api/v1/campaigns/{slug}/totals")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = http.get(url.clone()).send().await.expect("the API answers");
        assert_eq!(response.status(), StatusCode::OK);
        let served: serde_json::Value = response.json().await.unwrap();
        if served["raised_minor"].as_i64() == Some(raised) || Instant::now() > deadline {
            return served;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
