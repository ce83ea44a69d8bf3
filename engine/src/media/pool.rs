//! The bounded blocking pool: a few named OS threads that run the work an I/O worker must not
//! (image decoding, `std::fs` reads), fed by a bounded queue.
//!
//! Owns the threads, the queue and panic containment. Submitting never blocks: a full queue is
//! an immediate [`PoolError::Saturated`] and the caller does without (a file still uploads when
//! its preview is skipped). Results come back through `futures::channel::oneshot`, so any
//! executor can await them — a monoio worker included. Knows nothing of what the jobs do.
//!
//! The threads run in the idle scheduling class (`SCHED_IDLE`; nice [`POOL_NICE`] where that is
//! refused): they get a core only when no I/O worker wants it, and a waking worker preempts
//! them at once. On the 2-core box, 40 previews/s asked for at nice 10 cost the non-image
//! uploads 17 %; in the idle class 3.6–10.9 % (`bench/scripts/preview_impact.py`,
//! docs/benchmarks.md). Under load the side work waits for idle CPU instead — so
//! [`BlockingPool::run_within`] bounds how long a caller waits, and a job whose caller stopped
//! waiting before it started is skipped rather than run for nobody.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use futures::channel::oneshot;

/// The nice value the pool's threads give themselves when the idle class is refused (0 is the
/// default, 19 the lowest).
pub const POOL_NICE: i32 = 10;

/// Why a job did not produce its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// Every thread is busy and the queue is full; the job was not accepted.
    #[error("the blocking pool is saturated")]
    Saturated,
    /// The job panicked (the panic was contained; the thread lives on).
    #[error("a blocking pool job panicked")]
    JobPanicked,
    /// The pool is shutting down, or its threads are gone.
    #[error("the blocking pool is closed")]
    Closed,
    /// The job did not finish within the caller's wait ([`BlockingPool::run_within`]).
    #[error("the blocking pool job did not finish in time")]
    TimedOut,
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of threads named `sluice-media-{i}` running jobs from a bounded queue.
///
/// Dropping the pool closes the queue, lets the threads finish the jobs already accepted, and
/// joins them (so drop it at shutdown, not on a hot path — and never from one of its own jobs).
pub struct BlockingPool {
    queue: Option<SyncSender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl BlockingPool {
    /// Starts `threads` threads (at least one) sharing a queue of `queue` waiting jobs. With
    /// `queue == 0` a job is accepted only when a thread is idle and waiting for it.
    ///
    /// # Panics
    /// If the OS refuses to start a thread.
    pub fn new(threads: usize, queue: usize) -> Self {
        let (tx, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        let threads = (0..threads.max(1))
            .map(|i| {
                let rx = Arc::clone(&rx);
                std::thread::Builder::new()
                    .name(format!("sluice-media-{i}"))
                    .spawn(move || work(&rx))
                    .expect("spawning a media pool thread")
            })
            .collect();
        BlockingPool { queue: Some(tx), threads }
    }

    /// Number of threads.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Queues `f` and returns a future of its result, or [`PoolError::Saturated`] at once if
    /// the queue is full. Never blocks. The future resolves to [`PoolError::JobPanicked`] if
    /// `f` panics. Dropping the future does not cancel the job; its result is discarded.
    pub fn try_run<F, T>(&self, f: F) -> Result<impl Future<Output = Result<T, PoolError>> + Send + 'static, PoolError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let queue = self.queue.as_ref().ok_or(PoolError::Closed)?;
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            if tx.is_canceled() {
                return; // the caller stopped waiting before the job started: skip the work
            }
            let result = catch_unwind(AssertUnwindSafe(f)).map_err(|_| PoolError::JobPanicked);
            if result.is_err() {
                tracing::warn!("media pool job panicked");
            }
            // The caller may have stopped waiting; that is fine.
            let _ = tx.send(result);
        });
        match queue.try_send(job) {
            Ok(()) => Ok(async move { rx.await.unwrap_or(Err(PoolError::Closed)) }),
            Err(TrySendError::Full(_)) => Err(PoolError::Saturated),
            Err(TrySendError::Disconnected(_)) => Err(PoolError::Closed),
        }
    }

    /// As [`BlockingPool::try_run`], waiting at most `wait` for the result: past it the caller
    /// gets [`PoolError::TimedOut`], and the job is skipped if it has not started by then. The
    /// bound matters because the threads run only on idle CPU. Must be awaited on a monoio
    /// runtime with its timer enabled (every sluice worker has one).
    pub async fn run_within<F, T>(&self, f: F, wait: Duration) -> Result<T, PoolError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let job = self.try_run(f)?;
        monoio::time::timeout(wait, job).await.unwrap_or(Err(PoolError::TimedOut))
    }
}

impl Drop for BlockingPool {
    fn drop(&mut self) {
        // Closing the queue ends each thread's loop once the accepted jobs are done.
        self.queue = None;
        for thread in self.threads.drain(..) {
            // Jobs cannot unwind out of `work`, so a join error is not expected; ignore it.
            let _ = thread.join();
        }
    }
}

fn work(rx: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        // Hold the lock only while waiting for a job, not while running it. A job panic is
        // caught inside the job, so the lock is never poisoned by one; tolerate it anyway.
        let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            Ok(job) => job(),
            Err(_) => return, // queue closed and drained
        }
    }
}

/// Puts the calling thread in the idle scheduling class, or gives it the nice value
/// [`POOL_NICE`] if that is refused (on Linux both act on the calling thread only). Failing
/// both is harmless: the thread keeps the default priority.
fn lower_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain syscalls on the calling thread (pid 0 / its own tid); `param` outlives the call.
    let idle = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if idle == 0 {
        return;
    }
    tracing::debug!("media pool thread not in the idle class: {}", std::io::Error::last_os_error());
    // SAFETY: as above.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, POOL_NICE) };
    if rc != 0 {
        tracing::debug!("media pool thread keeps its priority: {}", std::io::Error::last_os_error());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calling thread's scheduling policy and nice value.
    fn own_priority() -> (i32, i32) {
        // SAFETY: reads the calling thread's own scheduling attributes; no memory is passed.
        unsafe { (libc::sched_getscheduler(0), libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t)) }
    }

    #[test]
    fn jobs_run_in_the_idle_class_or_at_the_lower_nice_value() {
        let pool = BlockingPool::new(1, 1);
        let (policy, nice) = futures::executor::block_on(pool.try_run(own_priority).unwrap()).unwrap();
        assert!(policy == libc::SCHED_IDLE || nice == POOL_NICE, "pool thread: policy {policy}, nice {nice}");
        let here = own_priority();
        assert_eq!(here.0, libc::SCHED_OTHER, "only the pool's threads are lowered");
        assert_ne!(here.1, POOL_NICE, "only the pool's threads are lowered");
    }

    /// Occupies a one-thread pool's thread with a job that answers `value` once the returned
    /// sender is sent to; returns after the job has started.
    fn occupy<T: Send + 'static>(
        pool: &BlockingPool,
        value: T,
    ) -> (impl Future<Output = Result<T, PoolError>>, mpsc::Sender<()>) {
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let running = pool
            .try_run(move || {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                value
            })
            .unwrap();
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        (running, release_tx)
    }

    #[test]
    fn run_within_times_out_and_the_late_job_is_skipped() {
        let pool = BlockingPool::new(1, 4);
        let (busy, release_tx) = occupy(&pool, ());
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap();
        let late = Arc::clone(&ran);
        let waited = rt.block_on(
            pool.run_within(move || late.store(true, std::sync::atomic::Ordering::SeqCst), Duration::from_millis(50)),
        );
        assert_eq!(waited, Err(PoolError::TimedOut));
        release_tx.send(()).unwrap();
        block_on(busy).unwrap();
        // The queue is first in, first out: once this job has run, the skipped one is behind us.
        assert_eq!(block_on(pool.try_run(|| 3).unwrap()), Ok(3));
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst), "a job nobody waits for any more must not run");
        // A job that finishes in time is answered.
        assert_eq!(rt.block_on(pool.run_within(|| 4, Duration::from_secs(10))), Ok(4));
    }
    use std::sync::mpsc;
    use std::task::{Context, Poll, Wake};
    use std::time::Duration;

    /// Polls `fut` to completion on this thread. (`futures::executor` is not enabled in the
    /// workspace: the `futures` dependency has default features off.)
    fn block_on<F: Future>(fut: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Arc::new(Unpark(std::thread::current())).into();
        let mut cx = Context::from_waker(&waker);
        let mut fut = std::pin::pin!(fut);
        loop {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return out;
            }
            std::thread::park();
        }
    }

    #[test]
    fn runs_jobs_on_named_threads_and_delivers_results() {
        let pool = BlockingPool::new(2, 8);
        assert_eq!(pool.threads(), 2);
        let futures: Vec<_> = (0..8u64)
            .map(|i| pool.try_run(move || (i * i, std::thread::current().name().map(str::to_owned))).unwrap())
            .collect();
        for (i, fut) in futures.into_iter().enumerate() {
            let (square, name) = block_on(fut).unwrap();
            assert_eq!(square, (i * i) as u64);
            assert!(name.unwrap().starts_with("sluice-media-"));
        }
    }

    #[test]
    fn full_queue_is_saturated_at_once() {
        let pool = BlockingPool::new(1, 1);
        let (running, release_tx) = occupy(&pool, "first");
        // Fills the queue.
        let queued = pool.try_run(|| "second").unwrap();
        // Nowhere to go.
        assert_eq!(pool.try_run(|| "third").err(), Some(PoolError::Saturated));
        release_tx.send(()).unwrap();
        assert_eq!(block_on(running), Ok("first"));
        assert_eq!(block_on(queued), Ok("second"));
        // Room again.
        assert_eq!(block_on(pool.try_run(|| "fourth").unwrap()), Ok("fourth"));
    }

    #[test]
    fn a_panicking_job_is_contained() {
        let pool = BlockingPool::new(1, 4);
        let boom = pool.try_run(|| -> u32 { panic!("job failure (expected by this test)") });
        assert_eq!(block_on(boom.unwrap()), Err(PoolError::JobPanicked));
        // The only thread survived and still runs jobs.
        assert_eq!(block_on(pool.try_run(|| 7).unwrap()), Ok(7));
    }

    #[test]
    fn drop_finishes_accepted_jobs_and_joins() {
        let pool = BlockingPool::new(1, 4);
        let futures: Vec<_> = (0..4)
            .map(|i| {
                pool.try_run(move || {
                    std::thread::sleep(Duration::from_millis(5));
                    i
                })
                .unwrap()
            })
            .collect();
        drop(pool);
        for (i, fut) in futures.into_iter().enumerate() {
            assert_eq!(block_on(fut), Ok(i));
        }
    }

    #[test]
    fn zero_threads_means_one() {
        let pool = BlockingPool::new(0, 0);
        assert_eq!(pool.threads(), 1);
        // With no queue a job is taken only by an idle thread; wait until it is idle.
        let fut = loop {
            match pool.try_run(|| 1) {
                Ok(fut) => break fut,
                Err(PoolError::Saturated) => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(block_on(fut), Ok(1));
    }
}
