//! Group commit for pushes. Each push must be durable before Roku gets its 200, and on SQLite
//! with `synchronous = FULL` a commit is an fsync: one commit per push capped ingest at the
//! disk's fsync rate. Pushes that arrive together are written by one writer in one
//! transaction, and each is acknowledged only after that transaction commits — the same
//! guarantee, one fsync for the lot.
//!
//! A batch that fails as a whole (one bad row) is retried push by push, so one push's problem
//! is never another's.

use tokio::sync::{mpsc, oneshot};

use super::{Store, StoreError, pushes::PushRecord};

/// Pushes written in one transaction at most.
const MAX_BATCH: usize = 128;

struct Job {
    record: PushRecord,
    reply: oneshot::Sender<Result<Option<i64>, StoreError>>,
}

#[derive(Clone)]
pub struct PushWriter {
    jobs: mpsc::Sender<Job>,
}

impl PushWriter {
    /// `writers` tasks share the queue: one suits SQLite (one writer at a time anyway), a few
    /// suit PostgreSQL.
    pub fn spawn(store: Store, writers: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>(MAX_BATCH * 8);
        let queue = std::sync::Arc::new(tokio::sync::Mutex::new(queue));
        for _ in 0..writers.max(1) {
            let store = store.clone();
            let queue = queue.clone();
            tokio::spawn(async move {
                loop {
                    let batch = {
                        let mut queue = queue.lock().await;
                        let Some(first) = queue.recv().await else {
                            return;
                        };
                        let mut batch = vec![first];
                        while batch.len() < MAX_BATCH {
                            match queue.try_recv() {
                                Ok(job) => batch.push(job),
                                Err(_) => break,
                            }
                        }
                        batch
                    };
                    write(&store, batch).await;
                }
            });
        }
        Self { jobs }
    }

    /// Stores the push, its deliveries and its subscription change; `None` for a duplicate.
    /// Returns once they are committed.
    pub async fn record(&self, record: PushRecord) -> Result<Option<i64>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job { record, reply };
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the push writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the push writer has stopped".into()))?
    }
}

async fn write(store: &Store, batch: Vec<Job>) {
    metrics::histogram!("roku_bridge_push_batch_size").record(batch.len() as f64);
    if batch.len() == 1 {
        let job = batch.into_iter().next().expect("one job");
        let result = store.record_push(&job.record).await;
        let _ = job.reply.send(result);
        return;
    }
    let (records, replies): (Vec<PushRecord>, Vec<_>) =
        batch.into_iter().map(|j| (j.record, j.reply)).unzip();
    match store.record_pushes(&records).await {
        Ok(ids) => {
            for (reply, id) in replies.into_iter().zip(ids) {
                let _ = reply.send(Ok(id));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, pushes = records.len(), "batched write failed; writing one by one");
            for (record, reply) in records.iter().zip(replies) {
                let _ = reply.send(store.record_push(record).await);
            }
        }
    }
}
