//! Group commit for SQLite's one writer. With `synchronous=FULL` every commit waits for the
//! disk, so one transaction per donation caps creation at the disk's flush rate. Donation
//! writes (new pending donations and their checkout records) are therefore queued to one task
//! that commits everything waiting in a single transaction: each caller still gets its answer
//! only after the commit that holds its row, so an acknowledged donation is as durable as
//! before, and under load one flush carries many donations.

use sqlx::SqliteConnection;
use sqlx::sqlite::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::{DONATION_COLUMNS, DbError, DonationRow, Inserted, NewDonation};
use crate::domain::DonationId;

/// Writes waiting at most; the queue applies back-pressure beyond.
const QUEUE: usize = 4096;
/// Writes per transaction at most, so one commit never holds the writer for long.
const MAX_BATCH: usize = 512;

/// A checkout record with owned fields, to cross to the writer task.
#[derive(Debug, Clone)]
pub(super) struct Checkout {
    pub gateway: String,
    pub gateway_reference: String,
    pub checkout_url: String,
}

enum Write {
    Insert(Box<NewDonation>, oneshot::Sender<Result<Inserted, DbError>>),
    Checkout(DonationId, Checkout, oneshot::Sender<Result<(), DbError>>),
}

/// What one write did, before its caller hears of it.
enum Done {
    Inserted(Inserted),
    CheckoutSet,
}

#[derive(Clone)]
pub(super) struct GroupCommit {
    queue: mpsc::Sender<Write>,
}

impl GroupCommit {
    /// Starts the writer task on the current runtime.
    pub fn start(writer: SqlitePool) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(run(writer, waiting));
        Self { queue }
    }

    pub async fn insert(&self, donation: &NewDonation) -> Result<Inserted, DbError> {
        let (reply, answer) = oneshot::channel();
        self.send(Write::Insert(Box::new(donation.clone()), reply)).await?;
        answer.await.map_err(|_| stopped())?
    }

    pub async fn set_checkout(&self, id: &DonationId, checkout: Checkout) -> Result<(), DbError> {
        let (reply, answer) = oneshot::channel();
        self.send(Write::Checkout(id.clone(), checkout, reply)).await?;
        answer.await.map_err(|_| stopped())?
    }

    async fn send(&self, write: Write) -> Result<(), DbError> {
        self.queue.send(write).await.map_err(|_| stopped())
    }
}

fn stopped() -> DbError {
    DbError::Sqlx(sqlx::Error::PoolClosed)
}

async fn run(writer: SqlitePool, mut waiting: mpsc::Receiver<Write>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        commit(&writer, std::mem::take(&mut batch)).await;
    }
}

/// Commits a batch in one transaction and answers each caller. If the batch fails, each write
/// is tried again alone, so one bad write fails only its own caller.
async fn commit(writer: &SqlitePool, batch: Vec<Write>) {
    if batch.len() > 1 {
        match write_batch(writer, &batch).await {
            Ok(done) => return answer(batch, done.into_iter().map(Ok)),
            Err(error) => tracing::warn!(%error, writes = batch.len(), "group commit failed; writing one by one"),
        }
    }
    for write in batch {
        let result = write_batch(writer, std::slice::from_ref(&write)).await.map(|mut done| done.remove(0));
        answer(vec![write], std::iter::once(result));
    }
}

fn answer(batch: Vec<Write>, results: impl Iterator<Item = Result<Done, DbError>>) {
    for (write, result) in batch.into_iter().zip(results) {
        // A caller that went away (its request was cancelled) is no reason to stop.
        match write {
            Write::Insert(_, reply) => {
                let _ = reply.send(result.and_then(|done| match done {
                    Done::Inserted(inserted) => Ok(inserted),
                    Done::CheckoutSet => Err(mixed_up()),
                }));
            }
            Write::Checkout(_, _, reply) => {
                let _ = reply.send(result.and_then(|done| match done {
                    Done::CheckoutSet => Ok(()),
                    Done::Inserted(_) => Err(mixed_up()),
                }));
            }
        }
    }
}

fn mixed_up() -> DbError {
    DbError::Corrupt("group commit answered a write with another's result".into())
}

async fn write_batch(writer: &SqlitePool, batch: &[Write]) -> Result<Vec<Done>, DbError> {
    let mut tx = writer.begin().await?;
    let mut done = Vec::with_capacity(batch.len());
    for write in batch {
        done.push(match write {
            Write::Insert(donation, _) => Done::Inserted(insert(&mut tx, donation).await?),
            Write::Checkout(id, checkout, _) => {
                set_checkout(&mut tx, id, checkout).await?;
                Done::CheckoutSet
            }
        });
    }
    tx.commit().await?;
    Ok(done)
}

async fn insert(tx: &mut SqliteConnection, donation: &NewDonation) -> Result<Inserted, DbError> {
    let result = sqlx::query(
        "INSERT INTO donations (id, campaign, amount_minor, currency, status, lang, gateway, idempotency_key, \
         display_name, anonymous, referral_code) VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?8, ?9, \
         (SELECT code FROM referral_codes WHERE code = ?10 AND campaign = ?2)) \
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(donation.id.as_str())
    .bind(donation.campaign.as_str())
    .bind(donation.amount.get())
    .bind(donation.currency.code())
    .bind(donation.lang.as_str())
    .bind(&donation.gateway)
    .bind(donation.idempotency_key.as_ref().map(|k| k.as_str()))
    .bind(donation.display_name.as_ref().map(|n| n.as_str()))
    .bind(donation.anonymous)
    .bind(donation.referral.as_ref().map(|c| c.as_str()))
    .execute(&mut *tx)
    .await?;
    if result.rows_affected() == 1 {
        return Ok(Inserted::New);
    }
    let row: DonationRow = sqlx::query_as(&format!("SELECT {DONATION_COLUMNS} FROM donations WHERE idempotency_key = ?1"))
        .bind(donation.idempotency_key.as_ref().map(|k| k.as_str()))
        .fetch_one(&mut *tx)
        .await?;
    Ok(Inserted::Existing(row.try_into()?))
}

async fn set_checkout(tx: &mut SqliteConnection, id: &DonationId, checkout: &Checkout) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE donations SET gateway = ?2, gateway_reference = ?3, checkout_url = ?4, \
         updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1",
    )
    .bind(id.as_str())
    .bind(&checkout.gateway)
    .bind(&checkout.gateway_reference)
    .bind(&checkout.checkout_url)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
