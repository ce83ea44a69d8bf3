//! The guest-memory state a benchmark run starts from, on a VM that hands free pages back to
//! its host (virtio free page reporting).
//!
//! Why it matters: a page the guest reported free is unmapped on the host, so the guest's next
//! write to it takes a host fault. On the dev box (Firecracker, `page_reporting`) touching such
//! a page costs ~7–8.5 µs against ~2.2–2.9 µs for one freed moments before. A server that writes
//! through the page cache (nginx) touches every page of what it stores; one that writes with
//! O_DIRECT from reused buffers (sluice) touches almost none. So nginx's rate depends on how
//! much free memory was reported before its run: 6.9 k files/s at 64 KiB right after an idle
//! spell, 14.5 k after 16 GiB were touched and freed just before (docs/benchmarks.md).
//! [`PageCacheFill`] starts both servers in the state a long-running host is in — memory full
//! of clean page cache, which a page-cache writer recycles without host faults;
//! [`reported_bytes`] shows how much was handed back during a run.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// Memory a [`PageCacheFill`] leaves free: room for the servers, the client and the kernel.
pub const FILL_HEADROOM: u64 = 2 << 30;

/// Bytes this guest has reported free to its host since boot, where the kernel exposes the
/// counter (`/sys/module/page_reporting/parameters/reported_kib`, not in every kernel).
pub fn reported_bytes() -> Option<u64> {
    let text = fs::read_to_string("/sys/module/page_reporting/parameters/reported_kib").ok()?;
    Some(text.trim().parse::<u64>().ok()? * 1024)
}

/// A sparse file read into the page cache and held there for the runs, so that the machine
/// starts each run with its memory full of clean, host-backed cache pages: a server that
/// writes through the page cache then gets its pages by reclaiming those (the steady state of
/// a host that has been up a while) instead of faulting in pages the host took back. Touching
/// and freeing memory instead does not hold: the guest reports freed memory again within
/// seconds (~1 GB/s here), racing the run. Removed when dropped.
pub struct PageCacheFill {
    path: PathBuf,
    file: File,
    len: u64,
}

impl PageCacheFill {
    /// Creates a sparse file of `len` bytes in `dir` (nothing is written to the disk).
    pub fn create(dir: &Path, len: u64) -> std::io::Result<Self> {
        let path = dir.join(format!("sluice-bench-page-cache-fill-{}", std::process::id()));
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
        file.set_len(len)?;
        Ok(Self { path, file, len })
    }

    /// Reads the whole file on every core, so every page of it is in the cache (again: what
    /// the last run evicted is read back, the rest costs a copy). Returns the time it took.
    pub fn refill(&self) -> std::io::Result<Duration> {
        let started = Instant::now();
        let threads = thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        let per_thread = self.len.div_ceil(threads).next_multiple_of(FILL_READ as u64);
        thread::scope(|s| {
            let readers: Vec<_> = (0..threads)
                .map(|t| {
                    let (first, last) = ((t * per_thread).min(self.len), ((t + 1) * per_thread).min(self.len));
                    let file = &self.file;
                    s.spawn(move || -> std::io::Result<()> {
                        let mut buf = vec![0u8; FILL_READ];
                        let mut at = first;
                        while at < last {
                            let want = usize::try_from(last - at).map_or(FILL_READ, |n| n.min(FILL_READ));
                            let n = file.read_at(&mut buf[..want], at)?;
                            if n == 0 {
                                break;
                            }
                            at += n as u64;
                        }
                        Ok(())
                    })
                })
                .collect();
            readers
                .into_iter()
                .try_for_each(|r| r.join().unwrap_or_else(|_| Err(std::io::Error::other("reader panicked"))))
        })?;
        Ok(started.elapsed())
    }

    /// Bytes of the file.
    pub fn len(&self) -> u64 {
        self.len
    }
}

impl Drop for PageCacheFill {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One read of [`PageCacheFill::refill`].
const FILL_READ: usize = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_reads_its_whole_sparse_file_and_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        // Not a multiple of the read size or of the thread split: the last partial read counts.
        let len = 3 * FILL_READ as u64 + 4097;
        let fill = PageCacheFill::create(dir.path(), len).unwrap();
        let path = fill.path.clone();
        assert_eq!((fill.len(), fs::metadata(&path).unwrap().len()), (len, len));
        fill.refill().unwrap();
        fill.refill().unwrap();
        drop(fill);
        assert!(!path.exists(), "the fill file outlived its handle");
        let empty = PageCacheFill::create(dir.path(), 0).unwrap();
        empty.refill().unwrap();
    }

    #[test]
    fn reported_counter_is_readable_where_present() {
        let present = std::path::Path::new("/sys/module/page_reporting/parameters/reported_kib").exists();
        assert_eq!(reported_bytes().is_some(), present);
    }
}
