//! Pack preallocation: a helper thread that reserves disk blocks ahead of the pack cursor, and
//! the start-up trim of what a previous run reserved but never wrote.
//!
//! Why: a direct write that ends past a file's size changes the size, which ext4 does only
//! under the inode's exclusive lock — so io_uring cannot issue it inline and hands every such
//! write to a kernel helper thread, and all the writers of a pack queue on that lock. With the
//! blocks allocated (`fallocate` mode 0, which also moves the size) a pack write is an
//! overwrite of unwritten blocks: shared lock, issued inline. On this box's 64 KiB upload
//! path it took io_uring's helper threads from a quarter of the server's CPU to nothing
//! (docs/benchmarks.md).
//!
//! Why a thread: `fallocate` blocks (and waits for the file's direct writes in flight), monoio
//! has no op for it, and a worker that waits for its own writes' completions would wait forever.
//! The pack store asks for stretches ahead of its cursor ([`Stretches`]) and never waits for
//! them: a write that overtakes the preallocation just extends the file the slow way, and
//! `fallocate` mode 0 never touches blocks already written, so the two cannot race on data.
//!
//! What it leaves: a pack's size runs up to one stretch past its last blob. A restarted store
//! starts a new pack and trims the newest old one back to its last written byte
//! ([`trim_unwritten_tail`]); packs are created only when a blob is about to be written to
//! them, so every older pack was the newest at some earlier start and was trimmed then.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

/// The first stretch of a new pack; each next one doubles, up to [`MAX_STRETCH`] — a store that
/// holds little reserves little.
pub(super) const MIN_STRETCH: u64 = 1 << 20;

/// The largest stretch asked for at once (at 500 MB/s of small blobs, one every ~130 ms).
pub(super) const MAX_STRETCH: u64 = 64 << 20;

/// `[from, to)` of pack `pack` to allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stretch {
    pub(super) pack: u64,
    pub(super) from: u64,
    pub(super) to: u64,
}

/// How much of the current pack has been asked for (kept under the pack cursor's lock).
#[derive(Debug, Default)]
pub(super) struct Stretches {
    asked_to: u64,
}

impl Stretches {
    /// A new pack: nothing asked for yet.
    pub(super) fn reset(&mut self) {
        self.asked_to = 0;
    }

    /// The stretch to ask for now that the cursor reached `end` of a pack that stops at `limit`:
    /// once `end` is within half a stretch of what was asked for, the next stretch after it.
    pub(super) fn next(&mut self, pack: u64, end: u64, limit: u64) -> Option<Stretch> {
        let stretch = self.asked_to.clamp(MIN_STRETCH, MAX_STRETCH);
        if end + stretch / 2 <= self.asked_to {
            return None;
        }
        let from = self.asked_to;
        let to = (end.max(from) + stretch).min(limit);
        if to <= from {
            return None;
        }
        self.asked_to = to;
        Some(Stretch { pack, from, to })
    }
}

/// The helper thread's handle: stretches sent here are allocated in order, in the background.
/// Dropping it lets the thread finish what was asked and waits for it, so a store reopened in
/// the same process never sees an old stretch land after its start-up trim.
#[derive(Debug)]
pub(super) struct Preallocator {
    tx: Option<mpsc::Sender<Stretch>>,
    thread: Option<JoinHandle<()>>,
    /// Cleared when the filesystem has no `fallocate` (asking further is pointless).
    supported: Arc<AtomicBool>,
}

impl Drop for Preallocator {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Preallocator {
    /// Starts the helper thread for the packs in `dir`; it stops when this handle is dropped.
    pub(super) fn start(dir: PathBuf) -> io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let supported = Arc::new(AtomicBool::new(true));
        let flag = supported.clone();
        let thread = std::thread::Builder::new().name("sluice-prealloc".into()).spawn(move || run(&dir, &rx, &flag))?;
        Ok(Self { tx: Some(tx), thread: Some(thread), supported })
    }

    /// Whether asking is still worthwhile.
    pub(super) fn supported(&self) -> bool {
        self.supported.load(Ordering::Relaxed)
    }

    /// Queues `stretch` (never blocks).
    pub(super) fn ask(&self, stretch: Stretch) {
        // The thread ends only when this handle is dropped (or on a filesystem without
        // fallocate, where asking is pointless): a failed send loses nothing.
        if let Some(tx) = &self.tx {
            let _ = tx.send(stretch);
        }
    }
}

fn run(dir: &Path, rx: &mpsc::Receiver<Stretch>, supported: &AtomicBool) {
    let mut open: Option<(u64, File)> = None;
    let mut warned = false;
    while let Ok(s) = rx.recv() {
        if open.as_ref().is_none_or(|(p, _)| *p != s.pack) {
            let path = super::packs::pack_path(dir, s.pack);
            match std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(&path) {
                Ok(f) => open = Some((s.pack, f)),
                Err(e) => {
                    warn_once(&mut warned, &e, s.pack);
                    continue;
                }
            }
        }
        let Some((_, file)) = &open else { continue };
        if let Err(e) = fallocate(file, s.from, s.to - s.from) {
            if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::ENOSYS)) {
                tracing::info!("the packs' filesystem has no fallocate; packs grow as they are written");
                supported.store(false, Ordering::Relaxed);
                return;
            }
            // ENOSPC and the like: the writes themselves will report it.
            warn_once(&mut warned, &e, s.pack);
        }
    }
}

fn warn_once(warned: &mut bool, e: &io::Error, pack: u64) {
    if !std::mem::replace(warned, true) {
        tracing::warn!(error = %e, pack, "pack preallocation failed; packs grow as they are written");
    }
}

/// `fallocate(fd, 0, offset, len)`: allocates (unwritten) blocks and grows the size to cover.
fn fallocate(file: &File, offset: u64, len: u64) -> io::Result<()> {
    let (offset, len) = (to_off(offset)?, to_off(len)?);
    // SAFETY: a plain syscall on a descriptor `file` keeps open for the call's duration.
    if unsafe { libc::fallocate(file.as_raw_fd(), 0, offset, len) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Cuts the file at `path` back to the end of its last written byte, dropping blocks that
/// were preallocated and never written (the filesystem reports those as a hole). Start-up only
/// (blocking). A filesystem that reports no holes leaves the file as it is.
pub(super) fn trim_unwritten_tail(path: &Path) -> io::Result<()> {
    let file = std::fs::OpenOptions::new().write(true).open(path)?;
    let len = file.metadata()?.len();
    // Cached pages count as data even over unwritten blocks (readahead past a blob brings in
    // zeros), so drop the clean ones first; dirty pages stay and are data anyway.
    // SAFETY: a plain syscall on a descriptor `file` keeps open for the call's duration.
    unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    let end = match written_end(&file) {
        // No SEEK_DATA here (an old filesystem): no holes are reported, nothing is trimmed.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(()),
        r => r?,
    };
    if end < len {
        file.set_len(end)?;
        tracing::info!(path = %path.display(), freed = len - end, "trimmed a pack's preallocated tail");
    }
    Ok(())
}

/// The end of the last data (non-hole) range of `file`.
fn written_end(file: &File) -> io::Result<u64> {
    let mut end = 0;
    let mut at = 0;
    loop {
        let Some(data) = seek(file, at, libc::SEEK_DATA)? else { return Ok(end) };
        let hole = seek(file, data, libc::SEEK_HOLE)?.unwrap_or(file.metadata()?.len());
        end = hole;
        at = hole;
    }
}

/// `lseek(fd, at, whence)`; `None` when there is no such range after `at` (ENXIO).
pub(super) fn seek(file: &File, at: u64, whence: libc::c_int) -> io::Result<Option<u64>> {
    // SAFETY: a plain syscall on a descriptor `file` keeps open for the call's duration.
    let r = unsafe { libc::lseek(file.as_raw_fd(), to_off(at)?, whence) };
    if r >= 0 {
        return Ok(Some(r as u64));
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENXIO) {
        Ok(None)
    } else {
        Err(e)
    }
}

pub(super) fn to_off(n: u64) -> io::Result<libc::off_t> {
    libc::off_t::try_from(n).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset past off_t"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretches_start_small_double_and_stop_at_the_pack_limit() {
        let limit = 200 << 20;
        let mut s = Stretches::default();
        assert_eq!(s.next(3, 4096, limit), Some(Stretch { pack: 3, from: 0, to: 4096 + MIN_STRETCH }));
        // Well inside what was asked for: nothing more.
        assert_eq!(s.next(3, 8192, limit), None);
        // Within half a stretch of the end: the next one, as long as all asked so far.
        let asked = 4096 + MIN_STRETCH;
        let end = asked - MIN_STRETCH / 4;
        assert_eq!(s.next(3, end, limit), Some(Stretch { pack: 3, from: asked, to: 2 * asked }));
        // Writes that overtook the preallocation: asked from where asking stopped to a
        // stretch past the cursor.
        let asked = 2 * asked;
        let far = asked + (10 << 20);
        let got = s.next(3, far, limit).unwrap();
        assert_eq!((got.from, got.to), (asked, far + asked));
        // Stretches never exceed MAX_STRETCH past the cursor, nor the pack's limit.
        let mut end = got.to;
        for _ in 0..10 {
            if let Some(st) = s.next(3, end, limit) {
                assert!(st.to - end <= MAX_STRETCH && st.to <= limit, "{st:?}");
                end = st.to;
            }
        }
        assert_eq!(end, limit);
        assert_eq!(s.next(3, limit, limit), None);
        s.reset();
        assert_eq!(s.next(4, 0, limit).map(|st| st.from), Some(0));
    }

    #[test]
    fn a_trim_keeps_every_written_byte_and_drops_the_unwritten_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).unwrap();
        use std::os::unix::fs::FileExt;
        file.write_all_at(&[7u8; 8192], 0).unwrap();
        file.write_all_at(&[9u8; 4096], 3 * 4096).unwrap();
        file.sync_all().unwrap();
        match fallocate(&file, 0, 8 << 20) {
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                eprintln!("this filesystem has no fallocate; the trim has nothing to do here");
                return;
            }
            r => r.unwrap(),
        }
        assert_eq!(file.metadata().unwrap().len(), 8 << 20);
        trim_unwritten_tail(&path).unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        // ext4 and xfs report unwritten blocks as a hole: the file ends after the last written
        // block, and nothing written is cut.
        assert_eq!(len, 4 * 4096, "trimmed to the last written block");
        let back = std::fs::read(&path).unwrap();
        assert!(back[..8192].iter().all(|&b| b == 7) && back[3 * 4096..].iter().all(|&b| b == 9));
        assert!(back[8192..3 * 4096].iter().all(|&b| b == 0));
        // Trimming again changes nothing.
        trim_unwritten_tail(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
    }
}
