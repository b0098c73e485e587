//! Group commit. Every durable commit waits for the disk (SQLite with `synchronous=FULL`,
//! PostgreSQL with `synchronous_commit=on`), so one transaction per write caps donation
//! creation at the disk's flush rate. Donation writes (new pending donations and their
//! checkout records) are therefore queued to one task that commits everything waiting in a
//! single transaction: each caller still gets its answer only after the commit that holds its
//! row, so an acknowledged donation is as durable as before, and under load one flush carries
//! many donations. Each backend says how to write a batch (`WriteBatch`).

use std::sync::Arc;

use async_trait::async_trait;

use tokio::sync::{Mutex, mpsc, oneshot};

use super::{DbError, Inserted, NewDonation};
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

pub(super) enum Write {
    Insert(Box<NewDonation>, oneshot::Sender<Result<Inserted, DbError>>),
    Checkout(DonationId, Checkout, oneshot::Sender<Result<(), DbError>>),
}

/// What one write did, before its caller hears of it.
pub(super) enum Done {
    Inserted(Inserted),
    CheckoutSet,
}

/// A backend's way of committing a batch of writes in one transaction, in order.
#[async_trait]
pub(super) trait WriteBatch: Send + Sync + 'static {
    async fn write_batch(&self, batch: &[Write]) -> Result<Vec<Done>, DbError>;
}

#[derive(Clone)]
pub(super) struct GroupCommit {
    queue: mpsc::Sender<Write>,
}

impl GroupCommit {
    /// Starts `writers` writer tasks on the current runtime. One is right for SQLite (it has
    /// one writer anyway); PostgreSQL commits several transactions at once, so while one batch
    /// waits for its flush the next can be written.
    pub fn start(writer: impl WriteBatch, writers: usize) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        let writer = Arc::new(writer);
        let waiting = Arc::new(Mutex::new(waiting));
        for _ in 0..writers.max(1) {
            tokio::spawn(run(writer.clone(), waiting.clone()));
        }
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

async fn run(writer: Arc<impl WriteBatch>, waiting: Arc<Mutex<mpsc::Receiver<Write>>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // The lock is held only while taking a batch, never while committing it.
    while waiting.lock().await.recv_many(&mut batch, MAX_BATCH).await > 0 {
        commit(writer.as_ref(), std::mem::take(&mut batch)).await;
    }
}

/// Commits a batch in one transaction and answers each caller. If the batch fails, each write
/// is tried again alone, so one bad write fails only its own caller.
async fn commit(writer: &impl WriteBatch, batch: Vec<Write>) {
    if batch.len() > 1 {
        match writer.write_batch(&batch).await {
            Ok(done) => return answer(batch, done.into_iter().map(Ok)),
            Err(error) => tracing::warn!(%error, writes = batch.len(), "group commit failed; writing one by one"),
        }
    }
    for write in batch {
        let result = writer.write_batch(std::slice::from_ref(&write)).await.map(|mut done| done.remove(0));
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
