//! The index writer: one thread owns every write, so workers never block on RocksDB and
//! read-modify-write (refcounts) needs no locks.
//!
//! A write is a *transaction closure*: it reads through a [`View`] (the index plus the writes
//! earlier in the same group) and returns a [`Batch`]. The thread takes every job waiting,
//! runs their closures in order, writes all their batches as one batch and syncs the WAL once
//! (durability `group`), then answers each waiting worker. `strict` syncs every job on its own;
//! `none` never syncs.
//!
//! In `group` mode the writer also makes the group's *data* durable before its WAL sync: it
//! calls a [`DataSync`] (the blob store's pending-sync, `blobs::BlobStore::sync_pending_blocking`)
//! once per group, so uploads do not each pay an `fdatasync`.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use futures::channel::oneshot;

use super::{Batch, Cf, Error, Index, Op};
use crate::Durability;

/// Most jobs committed in one group.
pub const MAX_GROUP_JOBS: usize = 1024;

/// A transaction: reads through the view, returns the writes to apply.
pub type Txn = Box<dyn FnOnce(&View<'_>) -> Result<Batch, Error> + Send>;

struct Job {
    txn: Txn,
    reply: oneshot::Sender<Result<(), Error>>,
}

/// What a transaction sees: the committed index plus the earlier writes of its group.
pub struct View<'a> {
    index: &'a dyn Index,
    overlay: &'a BTreeMap<(Cf, Vec<u8>), Option<Vec<u8>>>,
}

impl View<'_> {
    /// The current value of `key`.
    pub fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        match self.overlay.get(&(cf, key.to_vec())) {
            Some(v) => Ok(v.clone()),
            None => self.index.get(cf, key),
        }
    }
}

/// The handle workers use to write.
pub struct IndexWriter {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl IndexWriter {
    /// Starts the writer thread over `index`.
    pub fn start(index: Arc<dyn Index>, durability: Durability) -> Self {
        Self::start_with_data_sync(index, durability, None)
    }

    /// As [`IndexWriter::start`], calling `data_sync` before each group's WAL sync in `group`
    /// mode.
    pub fn start_with_data_sync(index: Arc<dyn Index>, durability: Durability, data_sync: Option<DataSync>) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("sluice-index".into())
            .spawn(move || {
                enter_batch_class();
                run(index, durability, data_sync, rx)
            })
            .expect("spawning the index writer thread");
        Self { tx: Mutex::new(Some(tx)), thread: Mutex::new(Some(thread)) }
    }

    /// Runs `txn` in the writer and waits until its batch is committed.
    pub async fn apply<F>(&self, txn: F) -> Result<(), Error>
    where
        F: FnOnce(&View<'_>) -> Result<Batch, Error> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        {
            let tx = self.tx.lock().map_err(|_| Error::Closed)?;
            let tx = tx.as_ref().ok_or(Error::Closed)?;
            tx.send(Job { txn: Box::new(txn), reply }).map_err(|_| Error::Closed)?;
        }
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Applies a plain batch.
    pub async fn write(&self, batch: Batch) -> Result<(), Error> {
        self.apply(move |_| Ok(batch)).await
    }

    /// Stops accepting writes, commits what is queued and joins the thread.
    pub fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

impl Drop for IndexWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// Puts the calling (writer) thread in the `SCHED_BATCH` class, in which a waking thread does
/// not preempt the one running. The writer wakes for every group; in the normal class each
/// wake preempted an I/O worker mid-request. As a batch thread it runs when the worker yields,
/// groups grow, and with 64 KiB uploads the workers' involuntary context switches fell from
/// ~70 k to ~24 k per 10 s and server CPU per GB by 4 % at the same rate (docs/benchmarks.md).
/// Best effort: where the class is refused the writer runs as before.
fn enter_batch_class() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler on the calling thread (pid 0) with a valid, initialised param.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) } != 0 {
        tracing::debug!("index writer: SCHED_BATCH refused: {}", std::io::Error::last_os_error());
    }
}

/// Makes the data a group's records point at durable (blocking, on the writer thread).
pub type DataSync = Box<dyn Fn() -> std::io::Result<()> + Send>;

fn run(index: Arc<dyn Index>, durability: Durability, data_sync: Option<DataSync>, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        if durability != Durability::Strict {
            while group.len() < MAX_GROUP_JOBS {
                match rx.try_recv() {
                    Ok(job) => group.push(job),
                    Err(_) => break,
                }
            }
        }
        commit_group(&*index, durability, data_sync.as_ref(), group);
    }
    if let Err(e) = index.flush() {
        tracing::error!("index flush at shutdown failed: {e}");
    }
}

fn commit_group(index: &dyn Index, durability: Durability, data_sync: Option<&DataSync>, group: Vec<Job>) {
    let mut overlay: BTreeMap<(Cf, Vec<u8>), Option<Vec<u8>>> = BTreeMap::new();
    let mut combined = Batch::default();
    let mut waiting = Vec::with_capacity(group.len());
    for job in group {
        let view = View { index, overlay: &overlay };
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| (job.txn)(&view)))
            .unwrap_or_else(|_| Err(Error::Store("index transaction panicked".into())));
        match result {
            Ok(batch) => {
                for op in &batch.ops {
                    match op {
                        Op::Put { cf, key, value } => overlay.insert((*cf, key.clone()), Some(value.clone())),
                        Op::Delete { cf, key } => overlay.insert((*cf, key.clone()), None),
                    };
                }
                combined.ops.extend(batch.ops);
                waiting.push(job.reply);
            }
            Err(e) => {
                let _ = job.reply.send(Err(e));
            }
        }
    }
    let result = if combined.is_empty() {
        Ok(())
    } else {
        // Data first: a record must never be durable before the bytes it points at.
        let synced = match (durability, data_sync) {
            (Durability::Group, Some(sync)) => sync().map_err(|e| {
                let message = format!("syncing the data of a commit group: {e}");
                if crate::error::is_out_of_space(&e) {
                    Error::Full(message)
                } else {
                    Error::Store(message)
                }
            }),
            _ => Ok(()),
        };
        synced.and_then(|()| index.write(&combined, durability != Durability::None))
    };
    for reply in waiting {
        let _ = reply.send(result.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::mem::MemIndex;

    #[test]
    fn transactions_see_earlier_writes_of_their_group() {
        let index: Arc<dyn Index> = Arc::new(MemIndex::new());
        let w = Arc::new(IndexWriter::start(index.clone(), Durability::Group));
        // Many concurrent increments of one counter: none may be lost.
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        futures::executor::block_on(w.apply(|view| {
                            let n = view
                                .get(Cf::Blobs, b"n")?
                                .map(|v| u64::from_le_bytes(v.try_into().unwrap()))
                                .unwrap_or(0);
                            let mut b = Batch::default();
                            b.put(Cf::Blobs, b"n".to_vec(), (n + 1).to_le_bytes().to_vec());
                            Ok(b)
                        }))
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let v = index.get(Cf::Blobs, b"n").unwrap().unwrap();
        assert_eq!(u64::from_le_bytes(v.try_into().unwrap()), 800);
    }

    #[test]
    fn the_writer_thread_runs_in_the_batch_class() {
        // SAFETY: sched_getscheduler of the calling thread takes no pointers.
        let callers = unsafe { libc::sched_getscheduler(0) };
        let w = IndexWriter::start(Arc::new(MemIndex::new()), Durability::None);
        let (tx, rx) = std::sync::mpsc::channel();
        futures::executor::block_on(w.apply(move |_| {
            // SAFETY: as above; this runs on the writer thread.
            tx.send(unsafe { libc::sched_getscheduler(0) }).unwrap();
            Ok(Batch::default())
        }))
        .unwrap();
        assert_eq!(rx.recv().unwrap(), libc::SCHED_BATCH, "the transaction ran outside the batch class");
        // SAFETY: as above, for this test's thread, which starting the writer must not touch.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, callers);
    }

    #[test]
    fn a_full_disk_at_the_groups_data_sync_fails_the_group_as_full() {
        let index: Arc<dyn Index> = Arc::new(MemIndex::new());
        let sync: DataSync = Box::new(|| Err(std::io::Error::from_raw_os_error(libc::ENOSPC)));
        let w = IndexWriter::start_with_data_sync(index.clone(), Durability::Group, Some(sync));
        let mut b = Batch::default();
        b.put(Cf::Files, b"k".to_vec(), b"v".to_vec());
        let r = futures::executor::block_on(w.write(b));
        assert!(matches!(r, Err(Error::Full(_))), "{r:?}");
        // The record was not written: data first, always.
        assert_eq!(index.get(Cf::Files, b"k").unwrap(), None);
    }

    #[test]
    fn a_failing_or_panicking_transaction_fails_alone() {
        let index: Arc<dyn Index> = Arc::new(MemIndex::new());
        let w = IndexWriter::start(index.clone(), Durability::None);
        let r = futures::executor::block_on(w.apply(|_| Err(Error::Conflict("no".into()))));
        assert!(matches!(r, Err(Error::Conflict(_))));
        let r = futures::executor::block_on(w.apply(|_| panic!("boom")));
        assert!(r.is_err());
        let mut b = Batch::default();
        b.put(Cf::Files, b"k".to_vec(), b"v".to_vec());
        futures::executor::block_on(w.write(b)).unwrap();
        assert_eq!(index.get(Cf::Files, b"k").unwrap(), Some(b"v".to_vec()));
        w.close();
        assert!(matches!(futures::executor::block_on(w.write(Batch::default())), Err(Error::Closed)));
    }
}
