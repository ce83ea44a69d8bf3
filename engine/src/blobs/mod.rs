//! The content-addressed blob store: tmp files, publishing by BLAKE3 (dedup), packs, reads, sweeps.
//!
//! A large blob is a file of its own: `fdatasync` (per durability mode) → `mkdir` of the fan-out
//! directory → `rename(tmp, blobs/ab/cd/<b3>)` → directory fsync in `strict` mode. A small blob
//! (one that fit in memory while it arrived) is appended to a pack instead (`packs`): one write,
//! no new inode. A blob that already exists is not written again: the caller drops the bytes
//! and bumps the refcount.
//!
//! In `group` mode nothing here syncs: the store notes what was written since the last sync
//! (packs appended to, whether a file blob was renamed into place) and the index writer calls
//! [`BlobStore::sync_pending_blocking`] once per commit group, before the group's WAL sync. A
//! group that only added packed blobs costs one `fdatasync` per pack it touched; one that
//! renamed a file blob costs one `syncfs` of the data directory's filesystem, which covers the
//! bytes and the renames of every file blob (cheaper than an `fdatasync` per file plus an
//! `fsync` per fan-out directory).

pub mod layout;
pub mod packs;
mod prealloc;
mod reclaim;
mod tmp;

use std::io;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

pub use layout::Layout;
pub use packs::{PackLoc, Packs};
pub use tmp::TmpBlob;

use crate::ingest::SmallObject;
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
    /// `group`: a handle on the data directory, for `syncfs`.
    group_root: Option<Arc<std::fs::File>>,
    /// `group`: a file blob was renamed into place since the last sync.
    files_dirty: Arc<AtomicBool>,
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
        let group_root = match durability {
            Durability::Group => Some(Arc::new(std::fs::File::open(layout.root())?)),
            _ => None,
        };
        let store = Self {
            layout,
            durability,
            direct_io: Arc::new(AtomicBool::new(true)),
            made_dirs,
            packs,
            group_root,
            files_dirty: Arc::new(AtomicBool::new(false)),
        };
        Ok((store, swept))
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
        match self.durability {
            Durability::Strict => sync_dir(&dir).await?,
            // Set only after the rename, so a sync that sees it covers this blob.
            Durability::Group => self.files_dirty.store(true, Ordering::Release),
            Durability::None => {}
        }
        Ok(())
    }

    /// `group`: makes every blob published since the last call durable (see the module
    /// header); a no-op in the other modes. Returns whether there was anything to sync.
    /// Blocking: the index writer calls it before each group's WAL sync. On failure what was
    /// pending stays pending.
    pub fn sync_pending_blocking(&self) -> io::Result<bool> {
        let Some(root) = &self.group_root else { return Ok(false) };
        if !self.files_dirty.swap(false, Ordering::AcqRel) {
            return self.packs.sync_dirty_blocking();
        }
        // Taken after the flag: anything appended before this is covered by the syncfs below.
        let packs = self.packs.take_dirty();
        match syncfs(root) {
            Ok(()) => {
                if let Some(&newest) = packs.last() {
                    self.packs.dir_synced(newest);
                }
                Ok(true)
            }
            Err(e) => {
                self.files_dirty.store(true, Ordering::Release);
                self.packs.renote_dirty(packs);
                Err(e)
            }
        }
    }

    /// Appends a small blob to a pack (synced there in `strict` mode).
    pub(crate) async fn append_packed(&self, small: SmallObject) -> io::Result<PackLoc> {
        self.packs.append(small.into_direct()).await
    }

    /// Opens a blob for reading: the file holding it and the offset of its first byte there.
    pub async fn open_blob(&self, b3: &[u8; 32], pack: Option<PackLoc>) -> io::Result<(Rc<monoio::fs::File>, u64)> {
        match pack {
            Some(loc) => Ok((self.packs.open_read(loc.pack).await?, loc.offset)),
            None => Ok((Rc::new(monoio::fs::File::open(self.layout.blob_path(b3)).await?), 0)),
        }
    }

    /// The digests of the blobs stored as files of their own (the start-up garbage sweep;
    /// blocking).
    pub(crate) fn file_blobs_blocking(&self) -> io::Result<Vec<[u8; 32]>> {
        reclaim::file_blobs(&self.layout)
    }

    /// Removes the file of blob `b3` (the start-up garbage sweep, once no record points at it;
    /// blocking). Returns the bytes freed.
    pub(crate) fn remove_file_blob_blocking(&self, b3: &[u8; 32]) -> io::Result<u64> {
        reclaim::remove_file(&self.layout.blob_path(b3))
    }

    /// The packs earlier runs wrote (this run's packs are never swept).
    pub(crate) fn earlier_packs(&self) -> io::Result<Vec<u64>> {
        self.packs.earlier()
    }

    /// Gives back the space of pack `pack` outside the byte ranges `live` (the start-up garbage
    /// sweep; blocking): removes the pack when nothing in it is live, else punches holes
    /// between the live ranges. Returns the bytes freed.
    pub(crate) fn reclaim_pack_blocking(&self, pack: u64, live: &mut [(u64, u64)]) -> io::Result<u64> {
        let path = self.packs.path(pack);
        if live.is_empty() {
            reclaim::remove_file(&path)
        } else {
            reclaim::punch_outside(&path, live)
        }
    }
}

/// `syncfs(2)` of the filesystem holding `dir`.
fn syncfs(dir: &std::fs::File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `syncfs` only reads the descriptor, which `dir` keeps open.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn small(bytes: &'static [u8]) -> SmallObject {
        SmallObject::gather(vec![bytes::Bytes::from_static(bytes)], bytes.len())
    }

    fn store(durability: Durability) -> (tempfile::TempDir, BlobStore) {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = BlobStore::open(Layout::new(dir.path()), durability).unwrap();
        (dir, store)
    }

    fn runtime() -> monoio::Runtime<monoio::LegacyDriver> {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().build().unwrap()
    }

    #[test]
    fn group_mode_notes_what_it_wrote_until_the_writer_syncs_it() {
        let (_dir, store) = store(Durability::Group);
        runtime().block_on(async {
            // A packed blob: its pack is noted, no file blob is.
            let loc = store.append_packed(small(b"small")).await.unwrap();
            assert_eq!(store.packs.take_dirty().into_iter().collect::<Vec<_>>(), vec![loc.pack]);
            store.packs.renote_dirty([loc.pack].into());
            assert!(!store.files_dirty.load(Ordering::Acquire));
            // Syncing takes the note and records the new pack's directory entry as durable.
            assert!(store.sync_pending_blocking().unwrap(), "a pack was pending");
            assert!(store.packs.take_dirty().is_empty());
            assert_eq!(store.packs.dir_synced_through(), loc.pack);
            assert!(!store.sync_pending_blocking().unwrap(), "nothing is pending twice");

            // A file blob renamed into place is noted; the syncfs then also covers packs.
            let tmp = store.create_tmp().await.unwrap();
            tmp.write_all_at(bytes::Bytes::from_static(b"large"), 0).await.unwrap();
            store.publish(tmp, &[7u8; 32]).await.unwrap();
            store.append_packed(small(b"again")).await.unwrap();
            assert!(store.files_dirty.load(Ordering::Acquire));
            assert!(store.sync_pending_blocking().unwrap());
            assert!(!store.files_dirty.load(Ordering::Acquire));
            assert!(store.packs.take_dirty().is_empty());
            assert_eq!(std::fs::read(store.layout.blob_path(&[7u8; 32])).unwrap(), b"large");
        });
    }

    #[test]
    fn only_group_mode_leaves_syncs_to_the_writer() {
        for durability in [Durability::None, Durability::Strict] {
            let (_dir, store) = store(durability);
            runtime().block_on(async {
                store.append_packed(small(b"small")).await.unwrap();
                let tmp = store.create_tmp().await.unwrap();
                store.publish(tmp, &[9u8; 32]).await.unwrap();
            });
            assert!(store.packs.take_dirty().is_empty(), "{durability:?}");
            assert!(!store.files_dirty.load(Ordering::Acquire), "{durability:?}");
            assert!(!store.sync_pending_blocking().unwrap(), "{durability:?}");
        }
    }
}
