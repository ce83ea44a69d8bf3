//! Media: what the engine knows about images and file types — header probing, MIME sniffing,
//! preview rendering — and the small bounded pool of threads the blocking part runs on.
//!
//! Owns `probe` (format and dimensions from a file's first bytes), `sniff` (media type from
//! content, extension as fallback), `preview` (decode → fit → baseline JPEG, with a pixel budget
//! checked before decoding), `pixels` (the decoded buffer, turned upright by its EXIF
//! orientation) and `pool` (named threads, bounded queue, panic containment).
//! Knows nothing of HTTP, JSON, vendors or where files and previews are stored: callers hand in
//! bytes or a path and get back facts or bytes.
//!
//! Probing and sniffing read headers only and are cheap enough for an I/O worker; rendering a
//! preview blocks and must go through [`BlockingPool::try_run`].

mod pixels;
pub mod pool;
pub mod preview;
pub mod probe;
pub mod sniff;

pub use pool::{BlockingPool, PoolError};
pub use preview::{render_preview, render_preview_file, Error, PreviewSpec};
pub use probe::{probe_image, ImageFormat, ImageInfo};
pub use sniff::sniff_mime;

/// How many leading bytes of a file the caller keeps for [`probe_image`] and [`sniff_mime`]
/// (and [`render_preview_file`] reads before deciding to read the rest): enough for every
/// header these look at, including JPEG metadata segments before the frame header.
pub const PROBE_PREFIX_BYTES: usize = 256 * 1024;
