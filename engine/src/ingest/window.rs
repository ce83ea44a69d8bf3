//! Aligned buffers for `O_DIRECT` writes: `AlignedWindow`, a 4 KiB-aligned buffer that a large
//! object's bytes are copied into (no page-cache copy on the CPU that also hashes; design.md's
//! measured lever), and `SmallObject`, a small object's bytes in one piece, gathered into an
//! aligned, zero-padded buffer at most once (the one copy serves both the caller's probe of
//! the head and the pack write). The alignment comes from slicing an over-allocated `Vec` at an
//! aligned offset, then handing it to the kernel as `Bytes` — no unsafe code, no reallocation.

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
fn aligned_vec(capacity: usize) -> (Vec<u8>, usize) {
    let mut buf: Vec<u8> = Vec::with_capacity(capacity + DIRECT_ALIGN);
    let start = buf.as_ptr().align_offset(DIRECT_ALIGN);
    buf.resize(start, 0);
    (buf, start)
}

/// A small object's bytes (smaller than one window), in one piece.
#[derive(Debug, Clone)]
pub(crate) struct SmallObject {
    /// Exactly the object's bytes.
    bytes: Bytes,
    /// The same bytes from an aligned address, zero-padded to a multiple of [`DIRECT_ALIGN`],
    /// when they were already gathered into such a buffer.
    direct: Option<Bytes>,
}

impl SmallObject {
    /// The object made of `chunks`, `len` bytes in all: a single chunk is kept as it is (no copy;
    /// it may never need one, e.g. when it turns out to be a duplicate), several are gathered
    /// once into an aligned, padded buffer that the pack write then uses as it is.
    pub(crate) fn gather(mut chunks: Vec<Bytes>, len: usize) -> Self {
        match chunks.len() {
            0 => Self { bytes: Bytes::new(), direct: None },
            1 => Self { bytes: chunks.pop().unwrap_or_default(), direct: None },
            _ => {
                let direct = aligned_padded(&chunks, len);
                Self { bytes: direct.slice(..len), direct: Some(direct) }
            }
        }
    }

    /// The object's bytes.
    pub(crate) fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The bytes from an aligned address, zero-padded to a multiple of [`DIRECT_ALIGN`] (what an
    /// `O_DIRECT` write needs); copies only if that was not done yet.
    pub(crate) fn into_direct(self) -> Bytes {
        match self.direct {
            Some(direct) => direct,
            None => aligned_padded(std::slice::from_ref(&self.bytes), self.bytes.len()),
        }
    }
}

/// `chunks` (`len` bytes in all) copied into one buffer that starts at a [`DIRECT_ALIGN`]ed
/// address and is zero-padded to a multiple of it.
fn aligned_padded(chunks: &[Bytes], len: usize) -> Bytes {
    let padded = len.div_ceil(DIRECT_ALIGN) * DIRECT_ALIGN;
    let (mut buf, start) = aligned_vec(padded);
    for chunk in chunks {
        buf.extend_from_slice(chunk);
    }
    buf.resize(start + padded, 0);
    Bytes::from(buf).slice(start..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_copies_are_aligned_complete_and_zero_filled() {
        for len in [0usize, 1, 4095, 4096, 4097, 70_000] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8 + 1).collect();
            let (a, b) = data.split_at(len / 3);
            let padded = aligned_padded(&[Bytes::copy_from_slice(a), Bytes::copy_from_slice(b)], len);
            assert_eq!(padded.as_ptr() as usize % DIRECT_ALIGN, 0, "{len}");
            assert_eq!(padded.len(), len.div_ceil(DIRECT_ALIGN) * DIRECT_ALIGN, "{len}");
            assert_eq!(&padded[..len], &data[..], "{len}");
            assert!(padded[len..].iter().all(|&b| b == 0), "{len}");
        }
    }

    #[test]
    fn a_small_object_is_copied_at_most_once_and_its_direct_bytes_are_the_same() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
        // One chunk: kept as it is, the padded copy made only when asked for.
        let one = Bytes::from(data.clone());
        let small = SmallObject::gather(vec![one.clone()], data.len());
        assert_eq!(small.bytes().as_ptr(), one.as_ptr(), "a single chunk is not copied");
        let direct = small.into_direct();
        assert_eq!((direct.as_ptr() as usize % DIRECT_ALIGN, direct.len()), (0, 3 * DIRECT_ALIGN));
        assert_eq!(&direct[..data.len()], &data[..]);
        // Several chunks: gathered once; the bytes are a view of the padded buffer.
        let pieces = vec![Bytes::copy_from_slice(&data[..3]), Bytes::copy_from_slice(&data[3..])];
        let small = SmallObject::gather(pieces, data.len());
        assert_eq!(&small.bytes()[..], &data[..]);
        let view = small.bytes().as_ptr();
        let direct = small.into_direct();
        assert_eq!(direct.as_ptr(), view, "the pack write reuses the gathered buffer");
        assert!(direct[data.len()..].iter().all(|&b| b == 0));
        // Nothing at all.
        let empty = SmallObject::gather(Vec::new(), 0);
        assert!(empty.bytes().is_empty() && empty.into_direct().is_empty());
    }

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
