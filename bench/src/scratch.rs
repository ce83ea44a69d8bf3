//! The servers' scratch space between runs. On ext4 without a journal (this box's root
//! filesystem) the inode allocator skips inodes freed in the last 1–6 minutes, checking each one,
//! so after a run's tens of thousands of files are deleted every file the next run creates costs
//! a scan over them (nginx fell from ~2.5k to ~1.2k files/s). So a finished run's files are
//! emptied (data blocks freed, inodes kept) and the dirs are deleted only when the whole
//! comparison is over.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Truncates every regular file under `root` to zero length (keeping the inodes allocated);
/// returns how many files there were.
pub fn empty_files(root: &Path) -> io::Result<u64> {
    let mut count = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir)? {
            let e = e?;
            let ft = e.file_type()?;
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                count += 1;
                if e.metadata()?.len() > 0 {
                    OpenOptions::new().write(true).open(e.path())?.set_len(0)?;
                }
            }
        }
    }
    Ok(count)
}

/// True when `path` lives on an ext4 filesystem mounted without a journal.
pub fn ext4_without_journal(path: &Path) -> bool {
    let Ok(md) = fs::metadata(path) else {
        return false;
    };
    let dev = md.dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    let Ok(uevent) = fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/uevent")) else {
        return false;
    };
    let Some(name) = uevent.lines().find_map(|l| l.strip_prefix("DEVNAME=")) else {
        return false;
    };
    fs::read_to_string(format!("/sys/fs/ext4/{name}/journal_task")).is_ok_and(|t| t.trim() == "<none>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empties_files_but_keeps_them() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("a/b")).unwrap();
        fs::write(d.path().join("x"), b"12345").unwrap();
        fs::write(d.path().join("a/b/y"), vec![7u8; 100_000]).unwrap();
        fs::write(d.path().join("a/z"), b"").unwrap();
        assert_eq!(empty_files(d.path()).unwrap(), 3);
        for f in ["x", "a/b/y", "a/z"] {
            assert_eq!(fs::metadata(d.path().join(f)).unwrap().len(), 0, "{f}");
        }
    }

    #[test]
    fn journal_probe_does_not_panic() {
        let _ = ext4_without_journal(Path::new("/"));
        assert!(!ext4_without_journal(Path::new("/nonexistent/path")));
    }
}
