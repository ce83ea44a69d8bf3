//! The content-addressed blob store: tmp files, publishing by BLAKE3 (dedup), packs, reads, sweeps.
//!
//! A large blob is a file of its own: `fdatasync` (per durability mode) → `mkdir` of the fan-out
//! directory → `rename(tmp, blobs/ab/cd/<b3>)` → directory fsync in `strict` mode. A small blob
//! (one that fit in memory while it arrived) is appended to a pack instead (`packs`): one write,
//! no new inode. A blob that already exists is not written again: the caller drops the bytes
//! and bumps the refcount.

pub mod layout;
pub mod packs;
mod tmp;

use std::io;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

pub use layout::Layout;
pub use packs::{PackLoc, Packs};
pub use tmp::TmpBlob;

use crate::Durability;

/// The blob store of one data directory (shared by all workers).
#[derive(Debug, Clone)]
pub struct BlobStore {
    layout: Layout,
    durability: Durability,
    /// Cleared the first time the filesystem refuses `O_DIRECT`; large writes then stay buffered.
    direct_io: Arc<AtomicBool>,
    /// One bit per `ab/cd` fan-out directory known to exist, so publishing skips the `mkdir`.
    made_dirs: Arc<Vec<AtomicU64>>,
    /// Where small blobs go.
    packs: Arc<Packs>,
}

/// Fan-out directories: 256 × 256.
const FANOUT_DIRS: usize = 1 << 16;

impl BlobStore {
    /// Opens (creating the directories) the store under `layout`; removes leftover tmp files.
    /// Runs at start-up, before any worker, so it may block.
    pub fn open(layout: Layout, durability: Durability) -> io::Result<(Self, usize)> {
        std::fs::create_dir_all(layout.tmp_dir())?;
        std::fs::create_dir_all(layout.blobs_dir())?;
        for a in 0..=255u8 {
            let d = layout.blobs_dir().join(format!("{a:02x}"));
            if !d.exists() {
                std::fs::create_dir(&d)?;
            }
        }
        let mut swept = sweep_tmp(&layout.tmp_dir())?;
        for d in layout.tmp_subdirs() {
            if d.exists() {
                swept += sweep_tmp(&d)?;
            } else {
                std::fs::create_dir(&d)?;
            }
        }
        let made_dirs = Arc::new((0..FANOUT_DIRS / 64).map(|_| AtomicU64::new(0)).collect());
        let packs = Arc::new(Packs::open(layout.packs_dir(), durability)?);
        Ok((Self { layout, durability, direct_io: Arc::new(AtomicBool::new(true)), made_dirs, packs }, swept))
    }

    /// The layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The durability mode.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Whether large writes should try `O_DIRECT`.
    pub fn direct_io(&self) -> bool {
        self.direct_io.load(Ordering::Relaxed)
    }

    /// Records that this filesystem refuses `O_DIRECT`.
    pub fn disable_direct_io(&self) {
        if self.direct_io.swap(false, Ordering::Relaxed) {
            tracing::info!("the data directory's filesystem refuses O_DIRECT; writing through the page cache");
        }
    }

    /// Creates a new tmp file.
    pub async fn create_tmp(&self) -> io::Result<TmpBlob> {
        TmpBlob::create(self.layout.new_tmp_path()).await
    }

    /// Publishes a finished tmp file as blob `b3`. The data was synced by the caller.
    pub async fn publish(&self, tmp: TmpBlob, b3: &[u8; 32]) -> io::Result<()> {
        let dir = self.layout.blob_dir(b3);
        let slot = usize::from(b3[0]) << 8 | usize::from(b3[1]);
        let (word, bit) = (&self.made_dirs[slot / 64], 1u64 << (slot % 64));
        if word.load(Ordering::Relaxed) & bit == 0 {
            match monoio::fs::create_dir(&dir).await {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            word.fetch_or(bit, Ordering::Relaxed);
        }
        tmp.persist(&self.layout.blob_path(b3)).await?;
        if self.durability == Durability::Strict {
            sync_dir(&dir).await?;
        }
        Ok(())
    }

    /// Appends a small blob to a pack (synced there in `strict` mode).
    pub async fn append_packed(&self, chunks: &[bytes::Bytes], len: u64) -> io::Result<PackLoc> {
        self.packs.append(chunks, len).await
    }

    /// Opens a blob for reading: the file holding it and the offset of its first byte there.
    pub async fn open_blob(&self, b3: &[u8; 32], pack: Option<PackLoc>) -> io::Result<(Rc<monoio::fs::File>, u64)> {
        match pack {
            Some(loc) => Ok((self.packs.open_read(loc.pack).await?, loc.offset)),
            None => Ok((Rc::new(monoio::fs::File::open(self.layout.blob_path(b3)).await?), 0)),
        }
    }

    /// Removes a blob whose last reference is gone.
    pub async fn remove(&self, b3: &[u8; 32]) -> io::Result<()> {
        match monoio::fs::remove_file(self.layout.blob_path(b3)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// fsyncs a directory so a rename inside it is durable.
pub(crate) async fn sync_dir(dir: &Path) -> io::Result<()> {
    let f = monoio::fs::File::open(dir).await?;
    f.sync_all().await
}

/// Removes every file in the tmp directory (start-up only: nothing is in flight then).
fn sweep_tmp(dir: &Path) -> io::Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
            n += 1;
        }
    }
    Ok(n)
}
