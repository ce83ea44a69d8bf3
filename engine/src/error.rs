//! `engine::Error`: every module's failure, and the class that tells the API layer whose fault
//! it was (client → 4xx, storage/internal → 5xx).

/// Whose fault an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request was wrong (bad key, too large, conflict).
    Client,
    /// The object or record does not exist.
    NotFound,
    /// Temporarily unable (saturated pool, shutting down).
    Unavailable,
    /// The disk holding the data or the index is full (or over quota): the server's state,
    /// not the request's fault and not a defect; the same request succeeds once space is freed.
    Full,
    /// Disk or index failure.
    Storage,
}

/// An engine failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Receiving the object failed.
    #[error(transparent)]
    Ingest(#[from] crate::ingest::Error),
    /// The index failed.
    #[error(transparent)]
    Index(#[from] crate::index::Error),
    /// A bucket or key is not acceptable.
    #[error(transparent)]
    Key(#[from] crate::index::keys::KeyError),
    /// The key exists and overwriting was not allowed.
    #[error("object {bucket}/{key} already exists")]
    Exists {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// No such object.
    #[error("no such object")]
    NotFound,
    /// A record's bytes are missing or shorter than recorded: the store was damaged (a file
    /// deleted or truncated behind the server's back). Never answered as a missing object or
    /// with a cut body.
    #[error("stored bytes damaged: {0}")]
    Damaged(String),
    /// Disk I/O failed.
    #[error("storage i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Whose fault it is.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Ingest(crate::ingest::Error::TooLarge { .. }) | Error::Key(_) | Error::Exists { .. } => {
                ErrorClass::Client
            }
            Error::NotFound => ErrorClass::NotFound,
            Error::Index(crate::index::Error::Closed) => ErrorClass::Unavailable,
            Error::Index(crate::index::Error::Conflict(_)) => ErrorClass::Client,
            Error::Index(crate::index::Error::Full(_)) => ErrorClass::Full,
            Error::Io(e) | Error::Ingest(crate::ingest::Error::Io(e)) if is_out_of_space(e) => ErrorClass::Full,
            _ => ErrorClass::Storage,
        }
    }
}

/// Whether an I/O error says the filesystem has no room left (`ENOSPC`, `EDQUOT`).
pub fn is_out_of_space(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_its_own_class_wherever_it_is_met() {
        let enospc = || std::io::Error::from_raw_os_error(libc::ENOSPC);
        let edquot = || std::io::Error::from_raw_os_error(libc::EDQUOT);
        assert_eq!(Error::Io(enospc()).class(), ErrorClass::Full);
        assert_eq!(Error::Io(edquot()).class(), ErrorClass::Full);
        assert_eq!(Error::Ingest(crate::ingest::Error::Io(enospc())).class(), ErrorClass::Full);
        assert_eq!(Error::Index(crate::index::Error::Full("wal".into())).class(), ErrorClass::Full);
        // Other I/O failures stay storage failures.
        let eio = std::io::Error::from_raw_os_error(libc::EIO);
        assert_eq!(Error::Io(eio).class(), ErrorClass::Storage);
        assert_eq!(Error::Index(crate::index::Error::Store("corrupt".into())).class(), ErrorClass::Storage);
    }
}
