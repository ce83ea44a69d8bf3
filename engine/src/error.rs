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
            _ => ErrorClass::Storage,
        }
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
