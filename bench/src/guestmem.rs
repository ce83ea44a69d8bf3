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
//! [`warm`] puts both servers in the second state, which is the one a server with a full page
//! cache recycling its own pages lives in; [`reported_bytes`] shows how much was handed back
//! during a run, so a cold run is visible in the output.

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

/// Memory left untouched by [`warm`]: room for the servers, the client and the kernel.
pub const WARM_HEADROOM: u64 = 2 << 30;

/// Granule the host maps guest memory in; one write per granule faults it in.
const PAGE: usize = 4096;

/// Bytes this guest has reported free to its host since boot, where the kernel exposes the
/// counter (`/sys/module/page_reporting/parameters/reported_kib`, not in every kernel).
pub fn reported_bytes() -> Option<u64> {
    let text = fs::read_to_string("/sys/module/page_reporting/parameters/reported_kib").ok()?;
    Some(text.trim().parse::<u64>().ok()? * 1024)
}

/// Maps `bytes` of anonymous memory, writes one byte per page on every core, and unmaps it,
/// so that the next `bytes` of fresh allocations get pages the host has backed. Returns the
/// time it took.
pub fn warm(bytes: u64) -> std::io::Result<Duration> {
    let len = usize::try_from(bytes).map_err(|_| std::io::Error::other("size does not fit in memory"))?;
    let started = Instant::now();
    if len == 0 {
        return Ok(started.elapsed());
    }
    // SAFETY: a fresh private anonymous mapping; no existing memory is aliased.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    let threads = thread::available_parallelism().map_or(1, |n| n.get());
    let pages = len.div_ceil(PAGE);
    let per_thread = pages.div_ceil(threads);
    let base_addr = base as usize;
    thread::scope(|s| {
        for t in 0..threads {
            let first = t * per_thread;
            let last = ((t + 1) * per_thread).min(pages);
            s.spawn(move || {
                for page in first..last {
                    // SAFETY: `page * PAGE < len`, inside the mapping, which outlives the scope;
                    // threads write disjoint pages.
                    unsafe { std::ptr::write_volatile((base_addr + page * PAGE) as *mut u8, 1) };
                }
            });
        }
    });
    // SAFETY: unmapping exactly the mapping made above, no longer used by any thread.
    if unsafe { libc::munmap(base, len) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_an_odd_size_and_nothing() {
        // Not a page multiple, so the last partial page is written too; it must neither fault
        // outside the mapping nor fail.
        assert!(warm(3 * PAGE as u64 + 17).is_ok());
        assert!(warm(0).is_ok());
    }

    #[test]
    fn reported_counter_is_readable_where_present() {
        let present = std::path::Path::new("/sys/module/page_reporting/parameters/reported_kib").exists();
        assert_eq!(reported_bytes().is_some(), present);
    }
}
