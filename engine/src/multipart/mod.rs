//! multipart/form-data bodies, streamed: the only module that imports `multer`.
//!
//! [`Parts`] yields one [`Part`] at a time; a part's bytes are pulled chunk by chunk and never
//! gathered in memory (except small text fields, bounded by `max_field_bytes`). Limits: part
//! count, text-field size, file size, the preamble and each part's header block
//! (`metered.rs`) — each refused with its own error.

mod body_stream;
mod file_name;
pub mod in_memory;
mod metered;

use bytes::Bytes;
use futures::Stream;

use crate::http::{Body, Error as HttpError};
use body_stream::BodyStream;
use metered::{poll_source, BoxError, Metered, Source, Unparsed, UnparsedTooLarge};

/// Multipart limits.
#[derive(Debug, Clone)]
pub struct MultipartLimits {
    /// Most parts in one body.
    pub max_parts: usize,
    /// Largest part without a file name (a text field), bytes.
    pub max_field_bytes: u64,
    /// Largest file part, bytes.
    pub max_file_bytes: u64,
}

/// Default part count limit.
pub const DEFAULT_MAX_PARTS: usize = 256;
/// Default text-field size limit.
pub const DEFAULT_MAX_FIELD_BYTES: u64 = 64 * 1024;
/// Most bytes of a preamble, or of one part's header block, multer may hold before it finds
/// their end (plus the one read that crosses the limit); beyond: [`Error::HeadTooLarge`]. The
/// same size as the request head limit.
pub const MAX_UNPARSED_BYTES: u64 = 64 * 1024;

impl Default for MultipartLimits {
    fn default() -> Self {
        Self { max_parts: DEFAULT_MAX_PARTS, max_field_bytes: DEFAULT_MAX_FIELD_BYTES, max_file_bytes: u64::MAX }
    }
}

/// A multipart failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Content-Type is not multipart/form-data or has no boundary.
    #[error("not a multipart/form-data request with a boundary")]
    NoBoundary,
    /// The body could not be read (timeout, too large, connection lost, bad chunking).
    #[error(transparent)]
    Body(HttpError),
    /// The body is not well-formed multipart.
    #[error("malformed multipart body: {0}")]
    Malformed(String),
    /// More parts than allowed.
    #[error("more than {0} parts")]
    TooManyParts(usize),
    /// The preamble or a part's header block is longer than [`MAX_UNPARSED_BYTES`].
    #[error("multipart preamble or part headers longer than {0} bytes")]
    HeadTooLarge(u64),
    /// A part is larger than allowed.
    #[error("part {name:?} larger than {limit} bytes")]
    PartTooLarge {
        /// The part's field name.
        name: String,
        /// The limit.
        limit: u64,
    },
}

impl From<multer::Error> for Error {
    fn from(e: multer::Error) -> Self {
        match e {
            multer::Error::StreamReadFailed(inner) => Error::from_source(inner),
            multer::Error::NoBoundary | multer::Error::NoMultipart | multer::Error::DecodeContentType(_) => {
                Error::NoBoundary
            }
            // multer says only "failed to read headers"; the usual cause is a raw control
            // character (or other byte a header may not hold) in a quoted file name.
            multer::Error::ReadHeaderFailed(e) => {
                Error::Malformed(format!("a part's headers are malformed ({e}; a control character in a file name?)"))
            }
            other => Error::Malformed(other.to_string()),
        }
    }
}

impl Error {
    /// An error of the body stream (or of its metering).
    fn from_source(e: BoxError) -> Self {
        match e.downcast::<HttpError>() {
            Ok(h) => Error::Body(*h),
            Err(other) => match other.downcast::<UnparsedTooLarge>() {
                Ok(t) => Error::HeadTooLarge(t.limit),
                Err(other) => Error::Malformed(other.to_string()),
            },
        }
    }
}

/// The boundary from a `Content-Type` header value.
pub fn parse_boundary(content_type: &str) -> Result<String, Error> {
    multer::parse_boundary(content_type).map_err(|_| Error::NoBoundary)
}

/// The parts of one multipart body.
pub struct Parts<'b> {
    inner: multer::Multipart<'b>,
    source: Source<'b>,
    limits: MultipartLimits,
    seen: usize,
    unparsed: Unparsed,
    /// The closing boundary was seen and the body read to its end.
    finished: bool,
}

impl<'b> Parts<'b> {
    /// Reads parts from `body`, whose `Content-Type` was `content_type`.
    pub fn new<'c: 'b>(body: &'b mut Body<'c>, content_type: &str, limits: MultipartLimits) -> Result<Self, Error> {
        let boundary = parse_boundary(content_type)?;
        Ok(Self::over(BodyStream::new(body), boundary, limits))
    }

    /// Reads parts from any stream of body bytes (the server's body, or one in memory).
    fn over<S, E>(stream: S, boundary: String, limits: MultipartLimits) -> Self
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'b,
        E: Into<BoxError> + 'b,
    {
        let unparsed = Unparsed::default();
        let source = metered::source(stream);
        let metered = Metered::new(source.clone(), unparsed.clone(), MAX_UNPARSED_BYTES);
        Self { inner: multer::Multipart::new(metered, boundary), source, limits, seen: 0, unparsed, finished: false }
    }

    /// The next part; the previous one must have been dropped. `Ok(None)` comes only once the
    /// whole body is in: after the closing boundary the rest (an epilogue, the last CRLF) is
    /// read and discarded, so a body cut short after its last part is an error here — before
    /// the caller commits anything — and no read is left in flight.
    pub async fn next_part(&mut self) -> Result<Option<Part<'b>>, Error> {
        if self.finished {
            return Ok(None);
        }
        let Some(field) = self.inner.next_field().await? else {
            self.read_to_end().await?;
            self.finished = true;
            return Ok(None);
        };
        self.unparsed.progress();
        self.seen += 1;
        if self.seen > self.limits.max_parts {
            return Err(Error::TooManyParts(self.limits.max_parts));
        }
        let disposition = field.headers().get("content-disposition").map(|v| v.as_bytes());
        let name = file_name::field_name(disposition, field.name());
        let file_name = file_name::file_name(disposition, field.file_name()).map_err(|e| Error::Malformed(e.into()))?;
        let content_type = field.content_type().map(|m| m.to_string());
        let limit = if file_name.is_some() { self.limits.max_file_bytes } else { self.limits.max_field_bytes };
        Ok(Some(Part { field, name, file_name, content_type, received: 0, limit, unparsed: self.unparsed.clone() }))
    }
}

impl Parts<'_> {
    /// Reads the body after the closing boundary to its end, at most [`MAX_UNPARSED_BYTES`].
    async fn read_to_end(&mut self) -> Result<(), Error> {
        let mut after = 0u64;
        while let Some(chunk) = futures::future::poll_fn(|cx| poll_source(&self.source, cx)).await {
            after += chunk.map_err(Error::from_source)?.len() as u64;
            if after > MAX_UNPARSED_BYTES {
                return Err(Error::Malformed(format!(
                    "more than {MAX_UNPARSED_BYTES} bytes after the closing boundary"
                )));
            }
        }
        Ok(())
    }
}

/// One part.
pub struct Part<'b> {
    field: multer::Field<'b>,
    name: String,
    file_name: Option<String>,
    content_type: Option<String>,
    received: u64,
    limit: u64,
    unparsed: Unparsed,
}

impl Part<'_> {
    /// The form field name (empty when absent).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file name the client sent, if any (raw: the caller must sanitise it).
    pub fn file_name(&self) -> Option<&str> {
        self.file_name.as_deref()
    }

    /// The part's Content-Type, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The next chunk of the part, `Ok(None)` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        match self.field.chunk().await? {
            Some(b) => {
                self.unparsed.progress();
                self.received += b.len() as u64;
                if self.received > self.limit {
                    return Err(Error::PartTooLarge { name: self.name.clone(), limit: self.limit });
                }
                Ok(Some(b))
            }
            None => Ok(None),
        }
    }

    /// The whole part as text (for small fields; bounded by the part's limit).
    pub async fn text(mut self) -> Result<String, Error> {
        let mut out = Vec::new();
        while let Some(b) = self.chunk().await? {
            out.extend_from_slice(&b);
        }
        String::from_utf8(out).map_err(|_| Error::Malformed(format!("field {:?} is not UTF-8", self.name)))
    }
}
