//! Where things live under the data directory. Every path here is made from digests and
//! generated ids only — never from a client string.

use std::path::{Path, PathBuf};

/// Directory names under the data directory.
pub const TMP_DIR: &str = "tmp";
/// Content-addressed blobs: `blobs/ab/cd/<blake3 hex>`.
pub const BLOBS_DIR: &str = "blobs";
/// The RocksDB index.
pub const INDEX_DIR: &str = "index";
/// Packs of small blobs: `packs/<16 hex>.pack` (see `blobs::packs`).
pub const PACKS_DIR: &str = "packs";

/// Tmp files are spread over this many subdirectories of `tmp/`: creating files in one
/// directory serialises on its inode lock, and perf showed that lock contended between the
/// workers and io_uring's helper threads.
pub const TMP_SUBDIRS: usize = 16;

/// The paths of one data directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where uploads are written before they are published.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join(TMP_DIR)
    }

    /// The index directory.
    pub fn index_dir(&self) -> PathBuf {
        self.root.join(INDEX_DIR)
    }

    /// The pack directory.
    pub fn packs_dir(&self) -> PathBuf {
        self.root.join(PACKS_DIR)
    }

    /// The blob root.
    pub fn blobs_dir(&self) -> PathBuf {
        self.root.join(BLOBS_DIR)
    }

    /// The tmp subdirectories: `tmp/0` … `tmp/f`.
    pub fn tmp_subdirs(&self) -> impl Iterator<Item = PathBuf> + '_ {
        (0..TMP_SUBDIRS).map(|i| self.tmp_dir().join(format!("{i:x}")))
    }

    /// A fresh tmp file path from a random 128-bit id, in the subdirectory its low bits pick.
    pub fn new_tmp_path(&self) -> PathBuf {
        let id = rand::random::<u128>();
        self.tmp_dir().join(format!("{:x}", id as usize % TMP_SUBDIRS)).join(format!("{id:032x}.tmp"))
    }

    /// The fan-out directory of a blob: `blobs/ab/cd`.
    pub fn blob_dir(&self, b3: &[u8; 32]) -> PathBuf {
        self.blobs_dir().join(format!("{:02x}", b3[0])).join(format!("{:02x}", b3[1]))
    }

    /// The path of a blob: `blobs/ab/cd/<64 hex>`.
    pub fn blob_path(&self, b3: &[u8; 32]) -> PathBuf {
        self.blob_dir(b3).join(hex::encode(b3))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_paths_come_from_the_digest_only() {
        let l = Layout::new("/d");
        let mut b3 = [0u8; 32];
        b3[0] = 0xab;
        b3[1] = 0xcd;
        let p = l.blob_path(&b3);
        assert_eq!(p, PathBuf::from(format!("/d/blobs/ab/cd/abcd{}", "00".repeat(30))));
        let t = l.new_tmp_path();
        assert!(t.starts_with("/d/tmp"));
        assert!(l.tmp_subdirs().any(|d| t.parent() == Some(d.as_path())));
        assert_ne!(t, l.new_tmp_path());
    }
}
