//! The single-shot write path: body chunks → digests + io_uring writes (a few in flight, so
//! hashing overlaps disk I/O) → tmp file → `fdatasync` per durability mode; objects of at most
//! [`SMALL_OBJECT_MAX_BYTES`] stay in memory, within a shared budget (`budget.rs`), and are
//! appended to a pack when published.
//!
//! The sink keeps the first [`crate::media::PROBE_PREFIX_BYTES`] of the object in one piece so
//! the caller can sniff the type and probe image dimensions, without a copy of its own: a large
//! object's head is its first write window, a small object's the buffer its pack write uses.

mod budget;
pub mod digest;
pub mod hasher;
mod sink;
mod window;

pub(crate) use budget::MemoryBudget;
pub use budget::{DEFAULT_SMALL_OBJECTS_MEMORY, SMALL_OBJECT_MAX_BYTES};
pub use digest::{qetag, DigestSet, DigestSums, Digests, QETAG_BLOCK};
pub use hasher::Hashers;
pub(crate) use sink::IngestedBytes;
pub use sink::{IngestSink, Ingested};
#[cfg(test)]
pub(crate) use window::WINDOW_BYTES;
pub(crate) use window::{SmallObject, DIRECT_ALIGN};

/// A failure while ingesting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object is larger than the limit in force.
    #[error("object larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// Disk I/O failed.
    #[error("storage i/o: {0}")]
    Io(#[from] std::io::Error),
}
