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
/// is tried again alone, so one bad write fails only its own caller; but not when the database
/// is unavailable: alone, each write would wait as long again to fail the same way, and the
/// last caller of a large batch would wait through all of them.
async fn commit(writer: &impl WriteBatch, batch: Vec<Write>) {
    if batch.len() > 1 {
        match writer.write_batch(&batch).await {
            Ok(done) => return answer(batch, done.into_iter().map(Ok)),
            Err(error) if error.is_unavailable() => return fail_unavailable(batch, &error),
            Err(error) => tracing::warn!(%error, writes = batch.len(), "group commit failed; writing one by one"),
        }
    }
    let mut writes = batch.into_iter();
    while let Some(write) = writes.next() {
        let result = writer.write_batch(std::slice::from_ref(&write)).await.map(|mut done| done.remove(0));
        let unavailable = result.as_ref().err().filter(|e| e.is_unavailable()).map(DbError::to_string);
        answer(vec![write], std::iter::once(result));
        if let Some(error) = unavailable {
            return fail_unavailable(writes.collect(), &DbError::Unavailable(error));
        }
    }
}

/// Answers every write with the database's unavailability, each caller with an error of its own.
fn fail_unavailable(batch: Vec<Write>, error: &DbError) {
    if batch.is_empty() {
        return;
    }
    tracing::warn!(%error, writes = batch.len(), "database unavailable; writes refused");
    let message = match error {
        DbError::Unavailable(message) => message.clone(),
        other => other.to_string(),
    };
    answer(batch, std::iter::repeat_with(|| Err(DbError::Unavailable(message.clone()))));
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A backend whose every batch fails with `error`, counting its attempts.
    struct Failing {
        error: fn() -> DbError,
        attempts: AtomicUsize,
    }

    #[async_trait]
    impl WriteBatch for Failing {
        async fn write_batch(&self, _batch: &[Write]) -> Result<Vec<Done>, DbError> {
            self.attempts.fetch_add(1, Ordering::Relaxed);
            Err((self.error)())
        }
    }

    fn checkouts(count: usize) -> (Vec<Write>, Vec<oneshot::Receiver<Result<(), DbError>>>) {
        (0..count)
            .map(|_| {
                let (reply, answer) = oneshot::channel();
                let checkout =
                    Checkout { gateway: "sandbox".into(), gateway_reference: "r".into(), checkout_url: "u".into() };
                (Write::Checkout(DonationId::generate(), checkout, reply), answer)
            })
            .unzip()
    }

    async fn attempts_and_answers(error: fn() -> DbError) -> (usize, Vec<Result<(), DbError>>) {
        let writer = Failing { error, attempts: AtomicUsize::new(0) };
        let (batch, answers) = checkouts(3);
        commit(&writer, batch).await;
        let mut results = Vec::new();
        for answer in answers {
            results.push(answer.await.expect("every caller is answered"));
        }
        (writer.attempts.load(Ordering::Relaxed), results)
    }

    #[tokio::test]
    async fn an_unreachable_database_fails_the_whole_batch_at_once() {
        let (attempts, results) = attempts_and_answers(|| DbError::Sqlx(sqlx::Error::PoolTimedOut)).await;
        assert_eq!(attempts, 1);
        assert!(results.iter().all(|r| r.as_ref().is_err_and(DbError::is_unavailable)), "{results:?}");
    }

    #[tokio::test]
    async fn another_failure_tries_each_write_alone() {
        let (attempts, results) = attempts_and_answers(|| DbError::Corrupt("a bad row".into())).await;
        assert_eq!(attempts, 4);
        assert!(results.iter().all(|r| r.as_ref().is_err_and(|e| !e.is_unavailable())), "{results:?}");
    }
}
