//! The index: a small byte-level [`Index`] trait over column families, with RocksDB
//! ([`rocks`], the only user of `rocksdb`) and an in-memory twin ([`mem`]) that pass the same
//! conformance suite; [`writer`] funnels every write through one thread that group-commits;
//! [`keys`] and [`records`] define what is stored (documented in docs/ARCHITECTURE.md).

pub mod keys;
pub mod mem;
pub mod records;
pub mod rocks;
pub mod writer;

#[cfg(test)]
mod conformance;

/// The column families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cf {
    /// `bucket \0 key` → [`records::FileRecord`].
    Files,
    /// `blake3` (32 bytes) → [`records::BlobRecord`] (size, refcount).
    Blobs,
    /// Upload and API tokens.
    Tokens,
    /// Sliced-upload sessions.
    Sessions,
    /// Tasks (backend).
    Tasks,
    /// Users (backend).
    Users,
    /// Secondary listings: `collection \0 member` → `bucket \0 key`.
    Links,
}

impl Cf {
    /// Every column family, in a fixed order.
    pub const ALL: [Cf; 7] = [Cf::Files, Cf::Blobs, Cf::Tokens, Cf::Sessions, Cf::Tasks, Cf::Users, Cf::Links];

    /// The RocksDB column-family name.
    pub fn name(self) -> &'static str {
        match self {
            Cf::Files => "files",
            Cf::Blobs => "blobs",
            Cf::Tokens => "tokens",
            Cf::Sessions => "sessions",
            Cf::Tasks => "tasks",
            Cf::Users => "users",
            Cf::Links => "links",
        }
    }
}

/// One write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Set `key` to `value`.
    Put {
        /// Column family.
        cf: Cf,
        /// Key bytes.
        key: Vec<u8>,
        /// Value bytes.
        value: Vec<u8>,
    },
    /// Remove `key`.
    Delete {
        /// Column family.
        cf: Cf,
        /// Key bytes.
        key: Vec<u8>,
    },
}

/// Writes applied atomically.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// The writes, in order.
    pub ops: Vec<Op>,
}

impl Batch {
    /// Adds a put.
    pub fn put(&mut self, cf: Cf, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push(Op::Put { cf, key: key.into(), value: value.into() });
    }

    /// Adds a delete.
    pub fn delete(&mut self, cf: Cf, key: impl Into<Vec<u8>>) {
        self.ops.push(Op::Delete { cf, key: key.into() });
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// A failure of the index.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The store failed.
    #[error("index store: {0}")]
    Store(String),
    /// The store's disk is full (its write was not applied).
    #[error("index store out of space: {0}")]
    Full(String),
    /// A stored value does not decode.
    #[error("corrupt index record: {0}")]
    Corrupt(String),
    /// The writer thread is gone (shutdown).
    #[error("index writer is closed")]
    Closed,
    /// A write's precondition did not hold (for example a refcount of a missing blob).
    #[error("index precondition failed: {0}")]
    Conflict(String),
}

/// Key-value pairs from a scan.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// The storage behind the index. Reads may run on any thread; writes come only from the
/// writer thread.
pub trait Index: Send + Sync + 'static {
    /// The value of `key`.
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, Error>;
    /// Up to `limit` pairs whose key starts with `prefix`, in key order, from `start` on
    /// (inclusive; `None` = from the prefix).
    fn scan_prefix(&self, cf: Cf, prefix: &[u8], start: Option<&[u8]>, limit: usize) -> Result<Pairs, Error>;
    /// Applies `batch` atomically; `sync` = durable (WAL synced) before returning.
    fn write(&self, batch: &Batch, sync: bool) -> Result<(), Error>;
    /// Flushes everything to stable storage (shutdown).
    fn flush(&self) -> Result<(), Error>;
}
