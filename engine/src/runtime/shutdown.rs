//! Graceful shutdown: a trigger any thread can pull, and a per-worker signal that wakes every
//! task waiting on it (idle connections, the accept loop).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// The cross-thread side: pulling it tells every worker to drain.
#[derive(Clone, Default)]
pub struct ShutdownTrigger {
    inner: Arc<TriggerInner>,
}

#[derive(Default)]
struct TriggerInner {
    fired: AtomicBool,
    senders: Mutex<Vec<futures::channel::oneshot::Sender<()>>>,
}

impl ShutdownTrigger {
    /// Starts the drain on every worker (idempotent).
    pub fn fire(&self) {
        if !self.inner.fired.swap(true, Ordering::SeqCst) {
            let senders = std::mem::take(&mut *self.inner.senders.lock().unwrap_or_else(|e| e.into_inner()));
            for s in senders {
                let _ = s.send(());
            }
        }
    }

    /// True once fired.
    pub fn is_fired(&self) -> bool {
        self.inner.fired.load(Ordering::SeqCst)
    }

    pub(crate) fn subscribe(&self) -> futures::channel::oneshot::Receiver<()> {
        let (tx, rx) = futures::channel::oneshot::channel();
        let mut senders = self.inner.senders.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_fired() {
            let _ = tx.send(());
        } else {
            senders.push(tx);
        }
        rx
    }
}

/// The worker-local side.
#[derive(Default)]
pub(crate) struct ShutdownSignal {
    triggered: Cell<bool>,
    next_id: Cell<u64>,
    /// Wakers by waiter id; a waiter removes itself when dropped, so none go stale.
    waiters: RefCell<HashMap<u64, Waker>>,
}

impl ShutdownSignal {
    pub(crate) fn trigger(&self) {
        self.triggered.set(true);
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for (_, w) in waiters {
            w.wake();
        }
    }

    pub(crate) fn is_triggered(&self) -> bool {
        self.triggered.get()
    }

    /// Resolves once the drain has started.
    pub(crate) fn wait(&self) -> impl Future<Output = ()> + '_ {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        Wait { signal: self, id }
    }
}

struct Wait<'a> {
    signal: &'a ShutdownSignal,
    id: u64,
}

impl Future for Wait<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.signal.is_triggered() {
            Poll::Ready(())
        } else {
            self.signal.waiters.borrow_mut().insert(self.id, cx.waker().clone());
            Poll::Pending
        }
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        self.signal.waiters.borrow_mut().remove(&self.id);
    }
}

/// Counts live connections on a worker so the drain knows when it is done.
#[derive(Default, Clone)]
pub(crate) struct ConnCounter(Rc<Cell<usize>>);

impl ConnCounter {
    pub(crate) fn enter(&self) -> ConnGuard {
        self.0.set(self.0.get() + 1);
        ConnGuard(self.0.clone())
    }
    pub(crate) fn live(&self) -> usize {
        self.0.get()
    }
}

pub(crate) struct ConnGuard(Rc<Cell<usize>>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}
