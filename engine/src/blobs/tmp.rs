//! `TmpBlob`: a file under `tmp/` that is deleted unless it is persisted.

use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;

/// A tmp file being written. Dropping it without [`TmpBlob::persist`] removes it.
pub struct TmpBlob {
    file: Rc<monoio::fs::File>,
    path: PathBuf,
    persisted: bool,
}

impl TmpBlob {
    pub(crate) async fn create(path: PathBuf) -> io::Result<Self> {
        let file = monoio::fs::OpenOptions::new().write(true).read(true).create_new(true).open(&path).await?;
        Ok(Self { file: Rc::new(file), path, persisted: false })
    }

    /// The open file (shared with in-flight writes).
    pub fn file(&self) -> &Rc<monoio::fs::File> {
        &self.file
    }

    /// Opens the file a second time with `O_DIRECT` for aligned writes; `Ok(None)` when the
    /// filesystem refuses direct I/O (tmpfs, some overlay setups).
    pub async fn open_direct(&self) -> io::Result<Option<Rc<monoio::fs::File>>> {
        use std::os::unix::fs::OpenOptionsExt;
        match monoio::fs::OpenOptions::new().write(true).custom_flags(libc::O_DIRECT).open(&self.path).await {
            Ok(f) => Ok(Some(Rc::new(f))),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes all of `data` at `offset`.
    pub async fn write_all_at(&self, data: Bytes, offset: u64) -> io::Result<()> {
        let (r, _) = self.file.write_all_at(data, offset).await;
        r
    }

    /// `fdatasync`.
    pub async fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data().await
    }

    /// Renames the file to `to` (replacing an identical blob if one raced us).
    pub(crate) async fn persist(mut self, to: &Path) -> io::Result<()> {
        monoio::fs::rename(&self.path, to).await?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TmpBlob {
    fn drop(&mut self) {
        if !self.persisted {
            let path = std::mem::take(&mut self.path);
            // Drops happen on a worker; the unlink runs there without blocking the drop.
            monoio::spawn(async move {
                let _ = monoio::fs::remove_file(&path).await;
            });
        }
    }
}
