//! sluice-engine: the storage and protocol core of sluice.
//!
//! It knows nothing of JSON, routes or vendors. The API layer (`sluice-api`) talks to it
//! through [`http::Handler`], [`Engine`] and the plain types they use.
//!
//! Invariants (see docs/ARCHITECTURE.md):
//! - `rocksdb` is imported only in `index/rocks.rs`, `httparse` only in `http/parse.rs`,
//!   `multer` only in `multipart/`.
//! - Blob paths come from BLAKE3 digests and generated ids only, never from client strings.
//! - An index record is written only after its bytes are durable per the durability mode.
#![warn(missing_docs, unreachable_pub)]

pub mod blobs;
mod config;
mod dir_lock;
mod engine;
pub mod error;
mod full_gate;
mod garbage;
pub mod http;
pub mod index;
pub mod ingest;
pub mod media;
pub mod multipart;
pub mod runtime;
pub mod stats;

pub use config::{Durability, EngineConfig, IndexBackend};
pub use engine::{Engine, NewObject, PublishedBlob, StoredObject};
pub use error::{Error, ErrorClass, Result};
pub use garbage::GarbageSwept;
