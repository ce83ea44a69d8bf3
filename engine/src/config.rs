//! `EngineConfig`: typed and already validated by the API layer; no serde here.

use std::path::PathBuf;

/// When data and index writes reach stable storage (design.md, "The write path").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// No fsync at all (like nginx and tusd): fastest, a power cut may lose recent uploads.
    None,
    /// Data `fdatasync`'d per upload; the index WAL synced once per group of concurrent commits.
    Group,
    /// Data, directory and WAL synced for every request.
    Strict,
}

impl Durability {
    /// Parses `none | group | strict`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Durability::None),
            "group" => Some(Durability::Group),
            "strict" => Some(Durability::Strict),
            _ => None,
        }
    }

    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::None => "none",
            Durability::Group => "group",
            Durability::Strict => "strict",
        }
    }
}

/// Which index backend to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexBackend {
    /// RocksDB under `data_dir/index`.
    Rocks,
    /// In memory (tests).
    Memory,
}

/// Everything the engine needs to open.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The data directory.
    pub data_dir: PathBuf,
    /// Durability mode.
    pub durability: Durability,
    /// Index backend.
    pub index: IndexBackend,
    /// Threads of the media (preview) pool.
    pub media_threads: usize,
    /// Jobs that may wait for the media pool before previews are skipped.
    pub media_queue: usize,
    /// Bytes of small objects (at most [`crate::ingest::SMALL_OBJECT_MAX_BYTES`] each) that all
    /// uploads together may hold in memory until they are packed; past it, a small object is
    /// written to a tmp file like a large one.
    pub small_objects_memory: u64,
}

impl EngineConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            durability: Durability::Group,
            index: IndexBackend::Rocks,
            media_threads: 1,
            media_queue: 64,
            small_objects_memory: crate::ingest::DEFAULT_SMALL_OBJECTS_MEMORY,
        }
    }
}
