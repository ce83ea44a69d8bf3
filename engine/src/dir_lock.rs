//! One process per data directory: an exclusive `flock` on `<data dir>/sluice.lock`, taken
//! before anything in the directory is touched and held for the engine's life.
//!
//! Opening a data directory sweeps it (leftover tmp files, a pack's preallocated tail, the
//! garbage sweep), which is right only when no other process is writing there. Without this
//! lock a second `sluice serve` started by mistake on a running server's directory removed that
//! server's in-flight tmp files (its uploads then failed) before RocksDB's own lock stopped it,
//! and could have trimmed a pack the running server was appending to. The kernel drops the
//! lock when the process ends however it ends, so a `kill -9` leaves nothing to clean up.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// The lock file's name under the data directory.
pub(crate) const LOCK_FILE: &str = "sluice.lock";

/// Holds the data directory's lock until dropped.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock of data directory `root` (creating the directory and the lock file),
    /// failing at once with `WouldBlock` when another process holds it.
    pub(crate) fn acquire(root: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(root)?;
        let path = root.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
        // SAFETY: a plain syscall on a descriptor `file` keeps open for the call's duration.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(Self { _file: file });
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("data directory {} is in use by another process (it holds {})", root.display(), path.display()),
            ));
        }
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        let first = DirLock::acquire(&root).unwrap();
        // flock locks belong to an open file description: a second open in the same process
        // conflicts just as another process's would.
        let err = DirLock::acquire(&root).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(err.to_string().contains("in use by another process"), "{err}");
        drop(first);
        DirLock::acquire(&root).expect("free again once dropped");
    }
}
