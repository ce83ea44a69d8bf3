//! Packs: append-only files that hold small blobs back to back.
//!
//! Storing a small object as a file of its own costs a new inode, a rename and a close — on this
//! box's ext4 the inode allocator alone was a quarter of the 64 KiB upload path's CPU, and every
//! one of those calls is a trip through io_uring's helper threads. A packed blob costs one write
//! to a file that is already open. The store hands out disjoint byte ranges of the current pack
//! (a mutex held for an addition, never across I/O); each worker thread keeps its own open
//! handles on recent packs.
//!
//! A pack is named by a number the store picks (`packs/<16 hex>.pack`), never by a client
//! string; which pack and offset hold a blob is written in the blob's index record
//! ([`PackLoc`]), after the bytes (the durability order of design.md). Packs are never
//! rewritten: bytes no record points at (a crash between write and commit, the loser of a dedup
//! race) stay as garbage until a future compaction. A restarted store starts a new pack, so the
//! unreferenced tail a crash left is never appended to.

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::Durability;

/// A pack stops taking blobs once it holds this many bytes (the last blob may end past it).
pub const PACK_TARGET_BYTES: u64 = 1 << 30;

/// Open pack handles each worker thread keeps (the current pack and the ones just before it,
/// which slow writers and readers may still be using).
const HANDLES_PER_THREAD: usize = 8;

/// Where a packed blob's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackLoc {
    /// The pack's number.
    pub pack: u64,
    /// Offset of the blob's first byte in the pack.
    pub offset: u64,
}

/// The packs of one data directory (shared by all workers).
#[derive(Debug)]
pub struct Packs {
    dir: PathBuf,
    /// Distinguishes this store's handles in the per-thread cache from another store's.
    uid: u64,
    durability: Durability,
    cursor: Mutex<Cursor>,
    /// `strict`: the highest pack number whose directory entry is known durable.
    dir_synced_through: AtomicU64,
}

#[derive(Debug)]
struct Cursor {
    pack: u64,
    next: u64,
}

thread_local! {
    /// `(store uid, pack number, handle)`, most recently opened last.
    static HANDLES: RefCell<Vec<(u64, u64, Rc<monoio::fs::File>)>> = const { RefCell::new(Vec::new()) };
}

static NEXT_UID: AtomicU64 = AtomicU64::new(1);

impl Packs {
    /// Opens the pack directory (creating it) and starts a pack numbered after every pack
    /// already there. Start-up only (blocking).
    pub fn open(dir: PathBuf, durability: Durability) -> io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let mut last = 0;
        for entry in std::fs::read_dir(&dir)? {
            let name = entry?.file_name();
            if let Some(n) = name.to_str().and_then(parse_pack_name) {
                last = last.max(n);
            }
        }
        let first = last + 1;
        Ok(Self {
            dir,
            uid: NEXT_UID.fetch_add(1, Ordering::Relaxed),
            durability,
            cursor: Mutex::new(Cursor { pack: first, next: 0 }),
            dir_synced_through: AtomicU64::new(first - 1),
        })
    }

    /// The path of pack `pack`.
    pub fn path(&self, pack: u64) -> PathBuf {
        pack_path(&self.dir, pack)
    }

    /// Reserves `len` bytes in the current pack, moving to a new pack once it is full.
    fn reserve(&self, len: u64) -> PackLoc {
        let mut c = self.cursor.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if c.next > 0 && c.next + len > PACK_TARGET_BYTES {
            c.pack += 1;
            c.next = 0;
        }
        let loc = PackLoc { pack: c.pack, offset: c.next };
        c.next += len;
        loc
    }

    /// Appends a blob made of `chunks` (`len` bytes in all) and returns where it is; in mode
    /// `strict` the bytes (and the pack's directory entry) are synced before this returns.
    pub async fn append(&self, chunks: &[Bytes], len: u64) -> io::Result<PackLoc> {
        let loc = self.reserve(len);
        let file = self.handle(loc.pack).await?;
        let mut writes = Vec::with_capacity(chunks.len());
        let mut offset = loc.offset;
        for chunk in chunks {
            let (file, chunk) = (file.clone(), chunk.clone());
            let at = offset;
            offset += chunk.len() as u64;
            writes.push(async move { file.write_all_at(chunk, at).await.0 });
        }
        for r in futures::future::join_all(writes).await {
            r?;
        }
        if self.durability == Durability::Strict {
            file.sync_data().await?;
            if self.dir_synced_through.load(Ordering::Acquire) < loc.pack {
                super::sync_dir(&self.dir).await?;
                self.dir_synced_through.fetch_max(loc.pack, Ordering::AcqRel);
            }
        }
        Ok(loc)
    }

    /// An open handle on pack `pack` (for reading a blob's range).
    pub async fn open_read(&self, pack: u64) -> io::Result<Rc<monoio::fs::File>> {
        if let Some(f) = self.cached(pack) {
            return Ok(f);
        }
        Ok(Rc::new(monoio::fs::File::open(self.path(pack)).await?))
    }

    fn cached(&self, pack: u64) -> Option<Rc<monoio::fs::File>> {
        HANDLES.with(|h| h.borrow().iter().find(|(u, p, _)| *u == self.uid && *p == pack).map(|(_, _, f)| f.clone()))
    }

    /// This thread's write handle on `pack`, opening (and creating) the file on first use.
    async fn handle(&self, pack: u64) -> io::Result<Rc<monoio::fs::File>> {
        if let Some(f) = self.cached(pack) {
            return Ok(f);
        }
        let file = monoio::fs::OpenOptions::new().read(true).write(true).create(true).open(self.path(pack)).await?;
        let file = Rc::new(file);
        Ok(HANDLES.with(|h| {
            let mut h = h.borrow_mut();
            // Another task of this thread may have opened it meanwhile: keep one.
            if let Some((_, _, f)) = h.iter().find(|(u, p, _)| *u == self.uid && *p == pack) {
                return f.clone();
            }
            if h.len() >= HANDLES_PER_THREAD {
                h.remove(0);
            }
            h.push((self.uid, pack, file.clone()));
            file
        }))
    }
}

/// `packs/<16 hex>.pack`.
fn pack_path(dir: &Path, pack: u64) -> PathBuf {
    dir.join(format!("{pack:016x}.pack"))
}

/// The number of a pack file name; `None` for anything else.
fn parse_pack_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".pack")?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_names_round_trip_and_nothing_else_parses() {
        let p = pack_path(Path::new("/d"), 0x2a);
        assert_eq!(p, PathBuf::from("/d/000000000000002a.pack"));
        assert_eq!(parse_pack_name("000000000000002a.pack"), Some(42));
        for bad in ["2a.pack", "000000000000002a.pak", "zzzzzzzzzzzzzzzz.pack", "000000000000002a.pack.tmp"] {
            assert_eq!(parse_pack_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn reservations_are_disjoint_and_a_full_pack_is_left_for_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(pack_path(dir.path(), 7), b"old").unwrap();
        let packs = Packs::open(dir.path().to_path_buf(), Durability::None).unwrap();
        // Numbering continues after the packs already there.
        assert_eq!(packs.reserve(10), PackLoc { pack: 8, offset: 0 });
        assert_eq!(packs.reserve(5), PackLoc { pack: 8, offset: 10 });
        // A blob that would cross the target goes first into the new pack...
        assert_eq!(packs.reserve(PACK_TARGET_BYTES), PackLoc { pack: 9, offset: 0 });
        // ...and one larger than the target still fits an empty pack.
        assert_eq!(packs.reserve(1), PackLoc { pack: 10, offset: 0 });
    }

    #[test]
    fn appended_blobs_read_back_where_they_were_put() {
        let dir = tempfile::tempdir().unwrap();
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().build().unwrap();
        rt.block_on(async {
            for durability in [Durability::None, Durability::Strict] {
                let packs = Packs::open(dir.path().to_path_buf(), durability).unwrap();
                let a = packs.append(&[Bytes::from_static(b"hello "), Bytes::from_static(b"world")], 11).await.unwrap();
                let b = packs.append(&[Bytes::from_static(b"second")], 6).await.unwrap();
                assert_eq!((a.pack, a.offset, b.pack, b.offset), (a.pack, 0, a.pack, 11));
                let file = packs.open_read(a.pack).await.unwrap();
                let (r, buf) = file.read_exact_at(vec![0u8; 17], 0).await;
                r.unwrap();
                assert_eq!(&buf, b"hello worldsecond");
            }
        });
    }
}
