//! Hashing off the I/O worker for large objects: a few `sluice-hash-{i}` threads that take over
//! an object's running [`Digests`] and hash its write windows while the worker goes on
//! receiving.
//!
//! Why: one connection is served by one worker, and on a single large stream SHA-1 alone (one
//! core's ceiling, ~1.4 GB/s here) plus BLAKE3, the socket copy and the window copy all land on
//! that worker's core while the others idle. Past [`OFFLOAD_AFTER`] bytes the sink hands the
//! digest state to a hash thread and sends it each window it writes (shared `Bytes`: no copy);
//! the thread hashes them in order. Only when cores are idle, though: an object is offloaded
//! only while fewer objects are being received than there are hash threads (one per core) —
//! with every core busy the hand-over only adds messages, wake-ups and a cache transfer per
//! window. Smaller objects never leave the worker.
//!
//! Owns the threads, their queues and the per-object states. Memory stays bounded: the sink
//! lets at most [`MAX_WINDOWS_HASHING`] windows wait for the hash thread per object. Knows
//! nothing of files or where the windows go.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

use bytes::Bytes;
use futures::channel::oneshot;

use super::digest::{DigestSums, Digests};

/// Objects are hashed on their worker up to this many bytes; the rest goes to a hash thread.
pub const OFFLOAD_AFTER: u64 = 4 << 20;

/// Windows of one object that may wait for its hash thread before the sink waits too.
pub const MAX_WINDOWS_HASHING: usize = 8;

/// Most hash threads started, whatever the core count (one large stream uses one).
pub const MAX_HASH_THREADS: usize = 4;

/// One hash thread per core, up to [`MAX_HASH_THREADS`].
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_HASH_THREADS))
}

enum Msg {
    /// Take over `digests`, which have seen the object's first `hashed` bytes.
    Start { id: u64, digests: Box<Digests>, hashed: u64 },
    /// The bytes at `offset..offset + data.len()` of the object; `done` is signalled once hashed.
    Window { id: u64, data: Bytes, offset: u64, done: oneshot::Sender<()> },
    /// No more bytes: answer the finished digests.
    Finish { id: u64, reply: oneshot::Sender<DigestSums> },
    /// The object was abandoned: drop its state.
    Abort { id: u64 },
}

struct Shared {
    /// One per thread (`mpsc::Sender` is `Sync`: shared without a lock).
    queues: Vec<Sender<Msg>>,
    next_thread: AtomicUsize,
    next_id: AtomicU64,
    /// Objects being received (live [`Receiving`] guards).
    receiving: AtomicUsize,
}

/// Counts one object as being received while it lives.
pub(crate) struct Receiving(Arc<Shared>);

impl Drop for Receiving {
    fn drop(&mut self) {
        self.0.receiving.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The hash threads (cheap to clone). A thread ends once the last clone and every object it
/// hashes are gone (its queue closes); nothing waits for it, as it holds nothing durable.
#[derive(Clone)]
pub struct Hashers {
    shared: Arc<Shared>,
}

impl Hashers {
    /// Starts `threads` hash threads (at least one).
    ///
    /// # Panics
    /// If the OS refuses to start a thread.
    pub fn new(threads: usize) -> Self {
        let mut queues = Vec::new();
        for i in 0..threads.max(1) {
            let (tx, rx) = channel();
            queues.push(tx);
            std::thread::Builder::new()
                .name(format!("sluice-hash-{i}"))
                .spawn(move || run(rx))
                .expect("spawning a hash thread");
        }
        let shared = Arc::new(Shared {
            queues,
            next_thread: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            receiving: AtomicUsize::new(0),
        });
        Hashers { shared }
    }

    /// Counts an object as being received until the guard is dropped.
    pub(crate) fn receiving(&self) -> Receiving {
        self.shared.receiving.fetch_add(1, Ordering::Relaxed);
        Receiving(Arc::clone(&self.shared))
    }

    /// Whether handing an object to a hash thread now would use an idle core: fewer objects
    /// are being received than there are hash threads.
    pub(crate) fn has_idle_core(&self) -> bool {
        self.shared.receiving.load(Ordering::Relaxed) < self.shared.queues.len()
    }

    /// Hands `digests` (which have seen the first `hashed` bytes) to a hash thread.
    pub(crate) fn start(&self, digests: Digests, hashed: u64) -> OffloadedDigests {
        let thread = self.shared.next_thread.fetch_add(1, Ordering::Relaxed) % self.shared.queues.len();
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let queue = self.shared.queues[thread].clone();
        let alive = queue.send(Msg::Start { id, digests: Box::new(digests), hashed }).is_ok();
        OffloadedDigests { id, queue, alive, finished: false }
    }
}

/// An object's digests while a hash thread holds them.
pub(crate) struct OffloadedDigests {
    id: u64,
    queue: Sender<Msg>,
    alive: bool,
    finished: bool,
}

/// The hash thread is gone (it panicked, or the engine is shutting down).
fn gone() -> std::io::Error {
    std::io::Error::other("the hash thread is gone")
}

impl OffloadedDigests {
    /// Queues the bytes at `offset` (bytes before what the digests have seen are skipped);
    /// the returned receiver completes once they are hashed.
    pub(crate) fn send(&mut self, data: Bytes, offset: u64) -> std::io::Result<oneshot::Receiver<()>> {
        let (done, hashed) = oneshot::channel();
        if !self.alive || self.queue.send(Msg::Window { id: self.id, data, offset, done }).is_err() {
            self.alive = false;
            return Err(gone());
        }
        Ok(hashed)
    }

    /// Finishes the digests once every queued window is hashed.
    pub(crate) async fn finish(mut self) -> std::io::Result<DigestSums> {
        let (reply, sums) = oneshot::channel();
        self.finished = true;
        if !self.alive || self.queue.send(Msg::Finish { id: self.id, reply }).is_err() {
            return Err(gone());
        }
        sums.await.map_err(|_| gone())
    }
}

impl Drop for OffloadedDigests {
    fn drop(&mut self) {
        if !self.finished && self.alive {
            let _ = self.queue.send(Msg::Abort { id: self.id });
        }
    }
}

struct State {
    digests: Box<Digests>,
    /// Bytes of the object the digests have seen.
    hashed: u64,
}

fn run(rx: Receiver<Msg>) {
    let mut objects: HashMap<u64, State> = HashMap::new();
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Start { id, digests, hashed } => {
                objects.insert(id, State { digests, hashed });
            }
            Msg::Window { id, data, offset, done } => {
                if let Some(state) = objects.get_mut(&id) {
                    let end = offset + data.len() as u64;
                    if end > state.hashed {
                        // Windows come in order; a window may begin with bytes hashed on the worker.
                        let skip = state.hashed.saturating_sub(offset) as usize;
                        state.digests.update(&data[skip..]);
                        state.hashed = end;
                    }
                }
                drop(data); // the window's memory goes before the sink hears it may send more
                let _ = done.send(());
            }
            Msg::Finish { id, reply } => {
                if let Some(state) = objects.remove(&id) {
                    let _ = reply.send(state.digests.finish());
                }
            }
            Msg::Abort { id } => {
                objects.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::DigestSet;

    fn inline(data: &[u8], set: DigestSet) -> DigestSums {
        let mut d = Digests::new(set);
        d.update(data);
        d.finish()
    }

    #[test]
    fn offloaded_digests_equal_inline_ones_whatever_the_split() {
        let data: Vec<u8> = (0..(9 * 1024 * 1024 + 4099)).map(|i| (i * 131 % 253) as u8).collect();
        let set = DigestSet { crc32: true, md5: true };
        let want = inline(&data, set);
        let hashers = Hashers::new(2);
        // (bytes hashed on the worker, window size): windows always start at 0 and cover all,
        // as the sink's do; the first windows overlap what the worker already hashed.
        for (on_worker, window) in
            [(0usize, 256 * 1024), (100_000, 256 * 1024), (4 << 20, 65_536), (5_000_001, 1 << 20)]
        {
            let mut d = Digests::new(set);
            d.update(&data[..on_worker]);
            let mut off = hashers.start(d, on_worker as u64);
            let mut waits = Vec::new();
            let bytes = Bytes::from(data.clone());
            for start in (0..data.len()).step_by(window) {
                let end = (start + window).min(data.len());
                waits.push(off.send(bytes.slice(start..end), start as u64).unwrap());
            }
            let got = futures::executor::block_on(off.finish()).unwrap();
            assert_eq!(got, want, "worker hashed {on_worker}, windows of {window}");
            for w in waits {
                futures::executor::block_on(w).unwrap();
            }
        }
    }

    #[test]
    fn objects_are_offloaded_only_while_cores_are_idle() {
        let hashers = Hashers::new(2);
        let first = hashers.receiving();
        assert!(hashers.has_idle_core(), "one object on two cores");
        let second = hashers.receiving();
        assert!(!hashers.has_idle_core(), "two objects on two cores");
        drop(first);
        assert!(hashers.has_idle_core());
        drop(second);
        assert!(hashers.has_idle_core());
    }

    #[test]
    fn an_abandoned_object_is_dropped_and_others_go_on() {
        let hashers = Hashers::new(1);
        let mut dropped = hashers.start(Digests::new(DigestSet::default()), 0);
        let w = dropped.send(Bytes::from_static(b"half an upload"), 0).unwrap();
        drop(dropped);
        futures::executor::block_on(w).unwrap();
        let mut other = hashers.start(Digests::new(DigestSet::default()), 0);
        let hashed = other.send(Bytes::from_static(b"hello"), 0).unwrap();
        let sums = futures::executor::block_on(other.finish()).unwrap();
        futures::executor::block_on(hashed).unwrap();
        assert_eq!(sums.qetag, "Fqr0xh3cxeii2r7eDztILNmuqUNN");
        assert_eq!(sums.len, 5);
    }
}
