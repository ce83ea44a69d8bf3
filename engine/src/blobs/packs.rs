//! Packs: append-only files that hold small blobs back to back.
//!
//! Storing a small object as a file of its own costs a new inode, a rename and a close — on this
//! box's ext4 the inode allocator alone was a quarter of the 64 KiB upload path's CPU, and every
//! one of those calls is a trip through io_uring's helper threads. A packed blob costs one write
//! to a file that is already open. The store hands out disjoint byte ranges of the current pack
//! (a mutex held for an addition, never across I/O); each worker thread keeps its own open
//! handles on recent packs.
//!
//! Durability: `strict` syncs a blob's pack (and, for a new pack, the directory) before
//! [`Packs::append`] returns; `group` notes which packs were appended to, and the index writer
//! syncs each of them once per commit group ([`Packs::sync_dirty_blocking`]) before the group's
//! records become durable; `none` never syncs.
//!
//! Every blob starts at a 4 KiB-aligned offset and is written with `O_DIRECT` from an aligned
//! copy of its bytes, padded with zeros to the next 4 KiB: written through the page cache, the
//! 64 KiB upload path spent two thirds of the server's CPU in the kernel's copy into fresh page
//! cache pages and spinning on the pack inode's lock (io_uring runs buffered writes on its
//! helper threads, which then serialize on the inode); a direct write of an aligned buffer
//! copies nothing in the kernel. The padding costs at most 4 KiB per blob — what a file of its
//! own would take in blocks anyway. Where the filesystem refuses `O_DIRECT` (tmpfs), blobs are
//! written buffered at the same aligned offsets.
//!
//! Packs are preallocated ahead of the cursor (`prealloc.rs`): an `O_DIRECT` write past the end
//! of a file changes its size, which takes ext4's exclusive inode lock, so io_uring punts it to a
//! helper thread — a quarter of the 64 KiB path's CPU. A helper thread `fallocate`s the next
//! stretch (1 MiB, doubling to 64 MiB) while the cursor is still half a stretch short of it, so
//! blob writes land inside the file and stay inline. The unwritten stretch after the last blob
//! is trimmed when the store next opens.
//!
//! A pack is named by a number the store picks (`packs/<16 hex>.pack`), never by a client
//! string; which pack and offset hold a blob is written in the blob's index record
//! ([`PackLoc`]), after the bytes (the durability order of design.md). Packs are never
//! rewritten: bytes no record points at (a crash between write and commit, a refused commit, the
//! loser of a dedup race) stay where they are until the next start, whose garbage sweep
//! (`garbage.rs`, `reclaim.rs`) punches holes over them or removes a pack with nothing named in
//! it. A restarted store starts a new pack, so the unreferenced tail a crash left is never
//! appended to, and the sweep never touches a pack the running store writes.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::prealloc::{trim_unwritten_tail, Preallocator, Stretches};
use crate::ingest::DIRECT_ALIGN;
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
    /// Cleared the first time the filesystem refuses `O_DIRECT` on a pack.
    direct: AtomicBool,
    cursor: Mutex<Cursor>,
    /// The first pack of this run; packs numbered below it are earlier runs'.
    first: u64,
    /// The highest pack number whose directory entry is known durable (`strict`, `group`).
    dir_synced_through: AtomicU64,
    /// `group`: packs appended to since the index writer last synced them.
    dirty: Mutex<BTreeSet<u64>>,
    /// `group`: the index writer's handles for syncing (blocking; used on that thread only).
    sync_handles: Mutex<Vec<(u64, std::fs::File)>>,
    /// Allocates blocks ahead of the cursor so pack writes are overwrites (`prealloc`).
    prealloc: Preallocator,
}

#[derive(Debug)]
struct Cursor {
    pack: u64,
    next: u64,
    /// What of `pack` has been asked of the preallocator.
    stretches: Stretches,
}

/// What a cached handle is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// Appending (`O_DIRECT` where the filesystem allows it).
    Write,
    /// Reading a blob's range (buffered: any offset and length).
    Read,
}

/// A cached handle: `(store uid, pack number, use, handle)`.
type CachedHandle = (u64, u64, Use, Rc<monoio::fs::File>);

thread_local! {
    /// This thread's open pack handles, most recently opened last.
    static HANDLES: RefCell<Vec<CachedHandle>> = const { RefCell::new(Vec::new()) };
}

static NEXT_UID: AtomicU64 = AtomicU64::new(1);

impl Packs {
    /// Opens the pack directory (creating it), trims the preallocated tail of the newest pack
    /// there (a previous run's last) and starts a pack numbered after it. Start-up only
    /// (blocking).
    pub fn open(dir: PathBuf, durability: Durability) -> io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let mut last = 0;
        for entry in std::fs::read_dir(&dir)? {
            let name = entry?.file_name();
            if let Some(n) = name.to_str().and_then(parse_pack_name) {
                last = last.max(n);
            }
        }
        if last > 0 {
            // Only an optimisation (the tail is unreferenced zeros): a failure costs disk space.
            if let Err(e) = trim_unwritten_tail(&pack_path(&dir, last)) {
                tracing::warn!(error = %e, pack = last, "could not trim the last pack's preallocated tail");
            }
        }
        let first = last + 1;
        let prealloc = Preallocator::start(dir.clone())?;
        Ok(Self {
            dir,
            uid: NEXT_UID.fetch_add(1, Ordering::Relaxed),
            durability,
            direct: AtomicBool::new(true),
            cursor: Mutex::new(Cursor { pack: first, next: 0, stretches: Stretches::default() }),
            first,
            dir_synced_through: AtomicU64::new(first - 1),
            dirty: Mutex::new(BTreeSet::new()),
            sync_handles: Mutex::new(Vec::new()),
            prealloc,
        })
    }

    /// The path of pack `pack`.
    pub fn path(&self, pack: u64) -> PathBuf {
        pack_path(&self.dir, pack)
    }

    /// The numbers of the packs on disk that earlier runs wrote (below this run's first).
    pub(crate) fn earlier(&self) -> io::Result<Vec<u64>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            match name.to_str().and_then(parse_pack_name) {
                Some(n) if n < self.first => out.push(n),
                _ => {}
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Reserves `len` bytes (a multiple of [`DIRECT_ALIGN`]) in the current pack, moving to a
    /// new pack once it is full, and asks for the next preallocated stretch when the cursor
    /// nears the end of the last.
    fn reserve(&self, len: u64) -> PackLoc {
        let mut c = lock(&self.cursor);
        if c.next > 0 && c.next + len > PACK_TARGET_BYTES {
            c.pack += 1;
            c.next = 0;
            c.stretches.reset();
        }
        let loc = PackLoc { pack: c.pack, offset: c.next };
        c.next += len;
        if len > 0 && self.prealloc.supported() {
            let (pack, end) = (c.pack, c.next);
            if let Some(stretch) = c.stretches.next(pack, end, PACK_TARGET_BYTES) {
                self.prealloc.ask(stretch);
            }
        }
        loc
    }

    /// Appends a blob and returns where it is. `padded` holds its bytes from an aligned address,
    /// zero-padded to a multiple of [`DIRECT_ALIGN`] (`SmallObject::into_direct`); in mode
    /// `strict` the bytes (and the pack's directory entry) are synced before this returns, in
    /// mode `group` the pack is noted for the index writer's next sync.
    pub async fn append(&self, padded: Bytes) -> io::Result<PackLoc> {
        if !(padded.as_ptr() as usize).is_multiple_of(DIRECT_ALIGN) || !padded.len().is_multiple_of(DIRECT_ALIGN) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "pack append: bytes not aligned for O_DIRECT"));
        }
        let loc = self.reserve(padded.len() as u64);
        let file = self.write_handle(loc.pack).await?;
        if !padded.is_empty() {
            let (r, _) = file.write_all_at(padded, loc.offset).await;
            r?;
        }
        match self.durability {
            Durability::Strict => {
                file.sync_data().await?;
                if self.dir_synced_through.load(Ordering::Acquire) < loc.pack {
                    super::sync_dir(&self.dir).await?;
                    self.dir_synced(loc.pack);
                }
            }
            // Noted only now that the bytes are written, so a sync that sees the note covers
            // them; the caller's commit reaches the writer after this.
            Durability::Group => {
                lock(&self.dirty).insert(loc.pack);
            }
            Durability::None => {}
        }
        Ok(loc)
    }

    /// `group`: makes every pack appended to since the last call durable — `fdatasync` of each,
    /// and a directory sync when one is new. Blocking: the index writer calls it before a
    /// group's WAL sync. The note is taken before syncing, so appends that land meanwhile are
    /// noted again and synced next time. Returns whether any pack was noted.
    pub(crate) fn sync_dirty_blocking(&self) -> io::Result<bool> {
        let dirty = self.take_dirty();
        let Some(&newest) = dirty.last() else { return Ok(false) };
        let result = self.sync_packs_blocking(&dirty, newest);
        if result.is_err() {
            // This group fails (its records are not written); the packs stay noted so the
            // next group's blobs in them are synced again.
            self.renote_dirty(dirty);
        }
        result.map(|()| true)
    }

    /// Takes the `group` note of packs appended to (for a caller that syncs them otherwise).
    pub(crate) fn take_dirty(&self) -> BTreeSet<u64> {
        std::mem::take(&mut *lock(&self.dirty))
    }

    /// Puts packs back in the note (their sync failed).
    pub(crate) fn renote_dirty(&self, packs: BTreeSet<u64>) {
        lock(&self.dirty).extend(packs);
    }

    /// The highest pack number whose directory entry is known durable.
    #[cfg(test)]
    pub(crate) fn dir_synced_through(&self) -> u64 {
        self.dir_synced_through.load(Ordering::Acquire)
    }

    /// Records that the directory entries of packs up to `newest` are durable (a directory
    /// sync, or a whole-filesystem sync).
    pub(crate) fn dir_synced(&self, newest: u64) {
        self.dir_synced_through.fetch_max(newest, Ordering::AcqRel);
    }

    fn sync_packs_blocking(&self, dirty: &BTreeSet<u64>, newest: u64) -> io::Result<()> {
        let mut handles = lock(&self.sync_handles);
        for &pack in dirty {
            let at = match handles.iter().position(|(p, _)| *p == pack) {
                Some(i) => i,
                None => {
                    if handles.len() >= HANDLES_PER_THREAD {
                        handles.remove(0);
                    }
                    handles.push((pack, std::fs::File::open(self.path(pack))?));
                    handles.len() - 1
                }
            };
            handles[at].1.sync_data()?;
        }
        if self.dir_synced_through.load(Ordering::Acquire) < newest {
            std::fs::File::open(&self.dir)?.sync_all()?;
            self.dir_synced(newest);
        }
        Ok(())
    }

    /// An open handle on pack `pack` (for reading a blob's range).
    pub async fn open_read(&self, pack: u64) -> io::Result<Rc<monoio::fs::File>> {
        if let Some(f) = self.cached(pack, Use::Read) {
            return Ok(f);
        }
        let file = Rc::new(monoio::fs::File::open(self.path(pack)).await?);
        Ok(self.cache(pack, Use::Read, file))
    }

    fn cached(&self, pack: u64, usage: Use) -> Option<Rc<monoio::fs::File>> {
        HANDLES.with(|h| {
            h.borrow().iter().find(|(u, p, k, _)| (*u, *p, *k) == (self.uid, pack, usage)).map(|(.., f)| f.clone())
        })
    }

    /// Keeps `file` in this thread's cache (or the handle another task of this thread put there
    /// meanwhile) and returns it.
    fn cache(&self, pack: u64, usage: Use, file: Rc<monoio::fs::File>) -> Rc<monoio::fs::File> {
        HANDLES.with(|h| {
            let mut h = h.borrow_mut();
            if let Some((.., f)) = h.iter().find(|(u, p, k, _)| (*u, *p, *k) == (self.uid, pack, usage)) {
                return f.clone();
            }
            if h.len() >= HANDLES_PER_THREAD {
                h.remove(0);
            }
            h.push((self.uid, pack, usage, file.clone()));
            file
        })
    }

    /// This thread's write handle on `pack`, opening (and creating) the file on first use:
    /// `O_DIRECT` unless the filesystem refuses it.
    async fn write_handle(&self, pack: u64) -> io::Result<Rc<monoio::fs::File>> {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(f) = self.cached(pack, Use::Write) {
            return Ok(f);
        }
        let path = self.path(pack);
        let mut opts = monoio::fs::OpenOptions::new();
        opts.read(true).write(true).create(true);
        let file = if self.direct.load(Ordering::Relaxed) {
            match opts.clone().custom_flags(libc::O_DIRECT).open(&path).await {
                Ok(f) => f,
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    if self.direct.swap(false, Ordering::Relaxed) {
                        tracing::info!("the packs' filesystem refuses O_DIRECT; writing packs through the page cache");
                    }
                    opts.open(&path).await?
                }
                Err(e) => return Err(e),
            }
        } else {
            opts.open(&path).await?
        };
        Ok(self.cache(pack, Use::Write, Rc::new(file)))
    }
}

/// Locks `m`, recovering from a panic elsewhere (the data behind it is a plain set).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `packs/<16 hex>.pack`.
pub(super) fn pack_path(dir: &Path, pack: u64) -> PathBuf {
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

    /// `pieces` as a pack append takes them: one aligned, zero-padded buffer.
    fn padded(pieces: &[&[u8]]) -> Bytes {
        let chunks: Vec<Bytes> = pieces.iter().map(|p| Bytes::copy_from_slice(p)).collect();
        crate::ingest::SmallObject::gather(chunks, pieces.iter().map(|p| p.len()).sum()).into_direct()
    }

    #[test]
    fn a_buffer_not_ready_for_a_direct_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().build().unwrap();
        let packs = Packs::open(dir.path().to_path_buf(), Durability::None).unwrap();
        let short = padded(&[b"abc"]).slice(..100);
        let misplaced = padded(&[&[7u8; 8192]]).slice(1..4097);
        for bad in [short, misplaced] {
            let r = rt.block_on(packs.append(bad));
            assert_eq!(r.map_err(|e| e.kind()), Err(io::ErrorKind::InvalidInput));
        }
    }

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
        let a = DIRECT_ALIGN as u64;
        // Numbering continues after the packs already there.
        assert_eq!(packs.reserve(3 * a), PackLoc { pack: 8, offset: 0 });
        assert_eq!(packs.reserve(a), PackLoc { pack: 8, offset: 3 * a });
        // A blob that would cross the target goes first into the new pack...
        assert_eq!(packs.reserve(PACK_TARGET_BYTES), PackLoc { pack: 9, offset: 0 });
        // ...and one larger than the target still fits an empty pack.
        assert_eq!(packs.reserve(a), PackLoc { pack: 10, offset: 0 });
    }

    #[test]
    fn appended_blobs_read_back_where_they_were_put_at_aligned_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().build().unwrap();
        rt.block_on(async {
            for durability in [Durability::None, Durability::Group, Durability::Strict] {
                let packs = Packs::open(dir.path().to_path_buf(), durability).unwrap();
                let a = packs.append(padded(&[b"hello ", b"world"])).await.unwrap();
                let empty = packs.append(padded(&[])).await.unwrap();
                let b = packs.append(padded(&[b"second"])).await.unwrap();
                let big: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
                let c = packs.append(padded(&[&big])).await.unwrap();
                let align = DIRECT_ALIGN as u64;
                assert_eq!(
                    [a.offset, empty.offset, b.offset, c.offset],
                    [0, align, align, 2 * align],
                    "{durability:?}: each blob starts on a block of its own; an empty one takes none"
                );
                assert!([b.pack, c.pack].iter().all(|&p| p == a.pack));
                let file = packs.open_read(a.pack).await.unwrap();
                for (loc, want) in [(a, &b"hello world"[..]), (b, &b"second"[..]), (c, &big[..])] {
                    let (r, buf) = file.read_exact_at(vec![0u8; want.len()], loc.offset).await;
                    r.unwrap();
                    assert_eq!(&buf[..], want, "{durability:?}");
                }
                // The pack was preallocated past its blobs; a restarted store trims it back.
                let path = packs.path(a.pack);
                drop((file, packs));
                drop(Packs::open(dir.path().to_path_buf(), durability).unwrap());
                assert_eq!(std::fs::metadata(&path).unwrap().len(), 4 * align, "{durability:?}");
            }
        });
    }

    #[test]
    fn packs_are_preallocated_ahead_of_their_blobs_and_the_tail_is_trimmed_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().build().unwrap();
        let packs = Packs::open(dir.path().to_path_buf(), Durability::None).unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
        let loc = rt.block_on(packs.append(padded(&[&data]))).unwrap();
        let path = packs.path(loc.pack);
        // Dropping the store waits for the preallocator to finish what it was asked.
        drop(packs);
        let blob_end = in_blocks(data.len());
        let len = std::fs::metadata(&path).unwrap().len();
        // Whether preallocation must have happened is asked of the filesystem directly, not
        // read from the outcome (which would let a preallocator that never runs pass).
        let probe = std::fs::File::create(dir.path().join("probe")).unwrap();
        // SAFETY: a plain syscall on a descriptor `probe` keeps open for the call's duration.
        let has_fallocate = unsafe { libc::fallocate(std::os::fd::AsRawFd::as_raw_fd(&probe), 0, 0, 4096) } == 0;
        drop(probe);
        std::fs::remove_file(dir.path().join("probe")).unwrap();
        if has_fallocate {
            assert_eq!(len, blob_end + super::super::prealloc::MIN_STRETCH, "the first stretch runs past the blob");
        } else {
            eprintln!("this filesystem has no fallocate: packs grow as they are written");
            assert_eq!(len, blob_end);
        }
        let packs = Packs::open(dir.path().to_path_buf(), Durability::None).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), blob_end, "the unwritten tail is trimmed");
        assert!(packs.reserve(4096).pack > loc.pack, "a restarted store never appends to an old pack");
        assert_eq!(&std::fs::read(&path).unwrap()[..data.len()], &data[..]);
    }

    fn in_blocks(len: usize) -> u64 {
        (len.div_ceil(DIRECT_ALIGN) * DIRECT_ALIGN) as u64
    }
}
