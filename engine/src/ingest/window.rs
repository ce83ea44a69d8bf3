//! `AlignedWindow`: a 4 KiB-aligned buffer that body bytes are copied into so large objects can
//! be written with `O_DIRECT` (no page-cache copy on the CPU that also hashes; design.md's
//! measured lever). The alignment comes from slicing an over-allocated `Vec` at an aligned
//! offset, then handing it to the kernel as `Bytes` — no unsafe code, no reallocation.

use bytes::Bytes;

/// Alignment (and length granularity) `O_DIRECT` needs: the logical block size, at most 4 KiB.
pub(crate) const DIRECT_ALIGN: usize = 4096;
/// Size of one window, and so of one direct write.
pub(crate) const WINDOW_BYTES: usize = 256 * 1024;

/// A window being filled.
pub(crate) struct AlignedWindow {
    buf: Vec<u8>,
    start: usize,
}

impl AlignedWindow {
    /// An empty window; its buffer is allocated by the first [`AlignedWindow::fill`] (most
    /// objects are small and never use one).
    pub(crate) fn new() -> Self {
        Self { buf: Vec::new(), start: 0 }
    }

    fn allocate(&mut self) {
        let (buf, start) = aligned_vec(WINDOW_BYTES);
        *self = Self { buf, start };
    }

    /// Bytes held.
    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Room left.
    pub(crate) fn room(&self) -> usize {
        WINDOW_BYTES - self.len()
    }

    /// Appends as much of `data` as fits; returns how much was taken.
    pub(crate) fn fill(&mut self, data: &[u8]) -> usize {
        if self.buf.capacity() == 0 && !data.is_empty() {
            self.allocate();
        }
        let n = self.room().min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        n
    }

    /// The held bytes, starting at an aligned address; the window is left empty.
    pub(crate) fn take(&mut self) -> Bytes {
        let full = std::mem::replace(self, AlignedWindow::new());
        let (start, end) = (full.start, full.buf.len());
        Bytes::from(full.buf).slice(start..end)
    }
}

/// An empty-looking buffer with room for `capacity` bytes from a [`DIRECT_ALIGN`]ed address:
/// the `Vec` holds `start` filler bytes, and what is appended after them is aligned. Hand it to
/// the kernel as `Bytes::from(vec).slice(start..)`.
pub(crate) fn aligned_vec(capacity: usize) -> (Vec<u8>, usize) {
    let mut buf: Vec<u8> = Vec::with_capacity(capacity + DIRECT_ALIGN);
    let start = buf.as_ptr().align_offset(DIRECT_ALIGN);
    buf.resize(start, 0);
    (buf, start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_bytes_are_aligned_and_complete() {
        let mut w = AlignedWindow::new();
        assert_eq!((w.len(), w.room(), w.take().len()), (0, WINDOW_BYTES, 0), "an unused window is empty");
        let data: Vec<u8> = (0..WINDOW_BYTES + 10).map(|i| i as u8).collect();
        let n = w.fill(&data);
        assert_eq!(n, WINDOW_BYTES);
        assert_eq!(w.room(), 0);
        let b = w.take();
        assert_eq!(b.as_ptr() as usize % DIRECT_ALIGN, 0);
        assert_eq!(&b[..], &data[..WINDOW_BYTES]);
        assert_eq!(w.len(), 0);
        assert_eq!(w.fill(&data[n..]), 10);
        assert_eq!(w.take().as_ptr() as usize % DIRECT_ALIGN, 0);
    }
}
