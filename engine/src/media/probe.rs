//! Image probing: format and pixel dimensions of JPEG, PNG, GIF and WebP files, read from the
//! headers at the start of a file only — never a pixel is decoded here.
//!
//! Owns the header readers (zune-jpeg for JPEG, imagesize for PNG/GIF/WebP, after checking each
//! format's magic and chunk layout here). Knows nothing of files, HTTP or previews: the caller
//! hands in the first bytes of a file (see [`super::PROBE_PREFIX_BYTES`]).

use std::panic::{catch_unwind, AssertUnwindSafe};

use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

/// The image formats the engine recognises by their headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// JPEG (JFIF, EXIF, …).
    Jpeg,
    /// PNG, APNG included.
    Png,
    /// GIF 87a or 89a.
    Gif,
    /// WebP: lossy, lossless or extended.
    Webp,
}

impl ImageFormat {
    /// The format's media type, e.g. `image/jpeg`.
    pub fn mime(&self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Gif => "image/gif",
            ImageFormat::Webp => "image/webp",
        }
    }

    /// The format announced by the magic bytes at the start of `head`, if any. Says nothing
    /// about whether the rest of the header is readable.
    pub(crate) fn from_magic(head: &[u8]) -> Option<ImageFormat> {
        if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageFormat::Jpeg)
        } else if head.starts_with(PNG_SIGNATURE) {
            Some(ImageFormat::Png)
        } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
            Some(ImageFormat::Gif)
        } else if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
            Some(ImageFormat::Webp)
        } else {
            None
        }
    }
}

/// What the headers of an image say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    /// The format the magic bytes announce.
    pub format: ImageFormat,
    /// Width in pixels, never 0.
    pub width: u32,
    /// Height in pixels, never 0.
    pub height: u32,
    /// How the stored pixels are turned for display: the EXIF orientation, 1–8 (1 = as
    /// stored; 5–8 swap width and height). 1 when absent, out of range, or not a JPEG.
    pub orientation: u8,
}

impl ImageInfo {
    /// `width × height`, without overflow.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// Width and height as the image is shown (what browsers and photo viewers do with the
    /// orientation): a phone's portrait photo is stored landscape with orientation 6.
    pub fn display_size(&self) -> (u32, u32) {
        if self.orientation >= 5 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

pub(crate) const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Largest side a JPEG can declare (the SOF fields are 16-bit).
const JPEG_MAX_SIDE: usize = u16::MAX as usize;

/// Format and dimensions of the image whose first bytes are `head` (at most
/// [`super::PROBE_PREFIX_BYTES`] are needed), read from its headers only.
///
/// JPEG headers are read up to the start of the first scan, so a JPEG whose metadata segments
/// do not fit in `head` probes as `None`. Returns `None` for other formats, for truncated or
/// corrupt headers and for zero-sized images; never panics.
pub fn probe_image(head: &[u8]) -> Option<ImageInfo> {
    let format = ImageFormat::from_magic(head)?;
    let (width, height, orientation) = match format {
        ImageFormat::Jpeg => jpeg_header(head)?,
        ImageFormat::Png => png_dimensions(head).map(|(w, h)| (w, h, 1))?,
        ImageFormat::Gif => gif_dimensions(head).map(|(w, h)| (w, h, 1))?,
        ImageFormat::Webp => webp_dimensions(head).map(|(w, h)| (w, h, 1))?,
    };
    if width == 0 || height == 0 {
        return None;
    }
    Some(ImageInfo { format, width, height, orientation })
}

/// Options for reading JPEG headers: lenient (real-world files bend the standard) and allowing
/// every size a JPEG can declare; the pixel budget is the caller's decision, not the decoder's.
pub(crate) fn jpeg_options() -> DecoderOptions {
    DecoderOptions::new_fast().set_max_width(JPEG_MAX_SIDE).set_max_height(JPEG_MAX_SIDE)
}

/// Width, height and EXIF orientation of a JPEG.
fn jpeg_header(head: &[u8]) -> Option<(u32, u32, u8)> {
    // The header parsers are third-party code fed with client bytes; a bug in them must not
    // take down the calling thread.
    catch_unwind(AssertUnwindSafe(|| {
        let mut decoder = JpegDecoder::new_with_options(head, jpeg_options());
        decoder.decode_headers().ok()?;
        let (w, h) = decoder.dimensions()?;
        let orientation = decoder.exif().and_then(|tiff| exif_orientation(tiff)).unwrap_or(1);
        Some((u32::try_from(w).ok()?, u32::try_from(h).ok()?, orientation))
    }))
    .ok()
    .flatten()
}

/// The orientation tag (0x0112) of the primary image in EXIF data that starts at its TIFF
/// header; `None` when absent, unreadable or not 1–8.
fn exif_orientation(tiff: &[u8]) -> Option<u8> {
    let exif = exif::Reader::new().read_raw(tiff.to_vec()).ok()?;
    let value = exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)?.value.get_uint(0)?;
    u8::try_from(value).ok().filter(|o| (1..=8).contains(o))
}

fn png_dimensions(head: &[u8]) -> Option<(u32, u32)> {
    // Signature, then the IHDR chunk: length 13, type, width, height (big-endian).
    if head.len() < 24 || head[8..12] != [0, 0, 0, 13] || &head[12..16] != b"IHDR" {
        return None;
    }
    let (w, h) = imagesize_dims(head)?;
    // PNG sides are at most 2^31 - 1.
    (w <= i32::MAX as u32 && h <= i32::MAX as u32).then_some((w, h))
}

fn gif_dimensions(head: &[u8]) -> Option<(u32, u32)> {
    // Signature (6) then the logical screen width and height (little-endian u16).
    if head.len() < 10 {
        return None;
    }
    imagesize_dims(head)
}

fn webp_dimensions(head: &[u8]) -> Option<(u32, u32)> {
    // RIFF header (12), then the first chunk: fourcc, size, payload.
    let chunk = head.get(12..16)?;
    let (w, h) = match chunk {
        // Lossy: frame tag (3), start code 9D 01 2A, then 14-bit sides with 2 scale bits.
        b"VP8 " => {
            if head.get(23..26)? != [0x9D, 0x01, 0x2A] || head.len() < 30 {
                return None;
            }
            let (w, h) = imagesize_dims(head)?;
            (w & 0x3FFF, h & 0x3FFF)
        }
        // Lossless: signature 0x2F, then 14-bit sides minus one.
        b"VP8L" => {
            if *head.get(20)? != 0x2F || head.len() < 25 {
                return None;
            }
            imagesize_dims(head)?
        }
        // Extended: flags (4), then 24-bit canvas sides minus one.
        b"VP8X" => {
            if head.len() < 30 {
                return None;
            }
            imagesize_dims(head)?
        }
        _ => return None,
    };
    Some((w, h))
}

fn imagesize_dims(head: &[u8]) -> Option<(u32, u32)> {
    let size = imagesize::blob_size(head).ok()?;
    Some((u32::try_from(size.width).ok()?, u32::try_from(size.height).ok()?))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::media::PROBE_PREFIX_BYTES;

    /// A JPEG of `w`×`h` whose EXIF (big-endian TIFF, one IFD0 entry) says `orientation`.
    pub(crate) fn jpeg_with_orientation(w: u16, h: u16, orientation: u16) -> Vec<u8> {
        let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
        exif.extend_from_slice(&1u16.to_be_bytes()); // one entry
        exif.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
        exif.extend_from_slice(&3u16.to_be_bytes()); // SHORT
        exif.extend_from_slice(&1u32.to_be_bytes()); // one value
        exif.extend_from_slice(&orientation.to_be_bytes());
        exif.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // value padding, no next IFD
        let pixels = vec![128u8; usize::from(w) * usize::from(h) * 3];
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 80);
        encoder.add_app_segment(1, &exif).unwrap();
        encoder.encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb).unwrap();
        out
    }

    #[test]
    fn the_exif_orientation_is_read_and_turns_the_displayed_size() {
        for (orientation, shown) in [(1, (40, 20)), (3, (40, 20)), (5, (20, 40)), (6, (20, 40)), (8, (20, 40))] {
            let info = probe_image(&jpeg_with_orientation(40, 20, orientation)).unwrap();
            assert_eq!((info.width, info.height, info.orientation), (40, 20, orientation as u8));
            assert_eq!(info.display_size(), shown, "orientation {orientation}");
        }
        // Out of range, or no EXIF at all: as stored.
        assert_eq!(probe_image(&jpeg_with_orientation(40, 20, 9)).unwrap().orientation, 1);
        assert_eq!(probe_image(&jpeg(40, 20, 0)).unwrap().orientation, 1);
        assert_eq!(exif_orientation(b"MM\0\x2a\0\0\0\x08\0"), None, "a truncated IFD");
    }

    /// A JPEG of `w`×`h` made by jpeg-encoder, with `app1` bytes of APP1 metadata (split into
    /// several segments if needed) before the frame header.
    pub(crate) fn jpeg(w: u16, h: u16, app1: usize) -> Vec<u8> {
        let pixels: Vec<u8> = (0..usize::from(w) * usize::from(h))
            .flat_map(|i| {
                let (x, y) = (i % usize::from(w), i / usize::from(w));
                [(x % 256) as u8, (y % 256) as u8, 128]
            })
            .collect();
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 80);
        let mut left = app1;
        while left > 0 {
            let n = left.min(60_000);
            encoder.add_app_segment(1, &vec![0x5A; n]).unwrap();
            left -= n;
        }
        encoder.encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb).unwrap();
        out
    }

    fn png_head(w: u32, h: u32) -> Vec<u8> {
        let mut v = PNG_SIGNATURE.to_vec();
        v.extend_from_slice(&13u32.to_be_bytes());
        v.extend_from_slice(b"IHDR");
        v.extend_from_slice(&w.to_be_bytes());
        v.extend_from_slice(&h.to_be_bytes());
        v.extend_from_slice(&[8, 2, 0, 0, 0]);
        v.extend_from_slice(&[0; 4]); // CRC: not checked by the probe
        v
    }

    fn gif_head(w: u16, h: u16) -> Vec<u8> {
        let mut v = b"GIF89a".to_vec();
        v.extend_from_slice(&w.to_le_bytes());
        v.extend_from_slice(&h.to_le_bytes());
        v.extend_from_slice(&[0, 0, 0]);
        v
    }

    fn riff(chunk: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = b"RIFF".to_vec();
        v.extend_from_slice(&(4 + 8 + payload.len() as u32).to_le_bytes());
        v.extend_from_slice(b"WEBP");
        v.extend_from_slice(chunk);
        v.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn webp_lossy(w: u16, h: u16) -> Vec<u8> {
        let mut p = vec![0x30, 0x01, 0x00, 0x9D, 0x01, 0x2A];
        p.extend_from_slice(&w.to_le_bytes());
        p.extend_from_slice(&h.to_le_bytes());
        p.extend_from_slice(&[0; 8]);
        riff(b"VP8 ", &p)
    }

    fn webp_lossless(w: u32, h: u32) -> Vec<u8> {
        let bits = (w - 1) | ((h - 1) << 14);
        let mut p = vec![0x2F];
        p.extend_from_slice(&bits.to_le_bytes());
        p.extend_from_slice(&[0; 8]);
        riff(b"VP8L", &p)
    }

    fn webp_extended(w: u32, h: u32) -> Vec<u8> {
        let mut p = vec![0x10, 0, 0, 0];
        p.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
        p.extend_from_slice(&(h - 1).to_le_bytes()[..3]);
        riff(b"VP8X", &p)
    }

    #[test]
    fn probes_dimensions_of_each_format() {
        use ImageFormat::*;
        let cases: Vec<(&str, Vec<u8>, ImageFormat, u32, u32)> = vec![
            ("jpeg", jpeg(64, 48, 0), Jpeg, 64, 48),
            ("jpeg, 1 px", jpeg(1, 1, 0), Jpeg, 1, 1),
            ("jpeg after a 60 KB APP1", jpeg(33, 17, 60_000), Jpeg, 33, 17),
            ("jpeg after 200 KB of APP1", jpeg(20, 10, 200_000), Jpeg, 20, 10),
            ("png", png_head(640, 480), Png, 640, 480),
            ("png, huge", png_head(20_000, 20_000), Png, 20_000, 20_000),
            ("gif", gif_head(320, 200), Gif, 320, 200),
            ("webp lossy", webp_lossy(800, 600), Webp, 800, 600),
            ("webp lossy, scale bits", webp_lossy(0xC000 | 300, 0x4000 | 200), Webp, 300, 200),
            ("webp lossless", webp_lossless(1000, 16_384), Webp, 1000, 16_384),
            ("webp extended", webp_extended(5000, 3), Webp, 5000, 3),
        ];
        for (name, bytes, format, width, height) in cases {
            let want = ImageInfo { format, width, height, orientation: 1 };
            assert_eq!(probe_image(&bytes), Some(want), "{name}");
            let prefix = &bytes[..bytes.len().min(PROBE_PREFIX_BYTES)];
            assert_eq!(probe_image(prefix), Some(want), "{name} (prefix)");
        }
    }

    #[test]
    fn truncated_garbage_and_other_input_is_none() {
        let jpeg = jpeg(64, 48, 0);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("jpeg magic only", vec![0xFF, 0xD8, 0xFF]),
            ("jpeg cut inside its headers", jpeg[..40].to_vec()),
            ("jpeg headers past the prefix", self::jpeg(8, 8, 300_000)[..PROBE_PREFIX_BYTES].to_vec()),
            ("jpeg magic then garbage", {
                let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
                v.extend((0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
                v
            }),
            ("png cut inside IHDR", png_head(10, 10)[..20].to_vec()),
            ("png without IHDR first", {
                let mut v = png_head(10, 10);
                v[12..16].copy_from_slice(b"IDAT");
                v
            }),
            ("png zero width", png_head(0, 10)),
            ("gif cut", gif_head(10, 10)[..8].to_vec()),
            ("gif zero height", gif_head(10, 0)),
            ("webp cut", webp_lossy(10, 10)[..24].to_vec()),
            ("webp lossy without start code", {
                let mut v = webp_lossy(10, 10);
                v[23] = 0;
                v
            }),
            ("webp unknown chunk", riff(b"ALPH", &[0; 20])),
            ("riff wave", {
                let mut v = riff(b"fmt ", &[0; 20]);
                v[8..12].copy_from_slice(b"WAVE");
                v
            }),
            ("text", b"hello, world".to_vec()),
            ("bmp", b"BM\x00\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00".to_vec()),
        ];
        for (name, bytes) in cases {
            assert_eq!(probe_image(&bytes), None, "{name}");
        }
    }

    #[test]
    fn every_prefix_of_a_jpeg_probes_without_panicking() {
        let jpeg = jpeg(16, 16, 0);
        for n in 0..jpeg.len() {
            if let Some(info) = probe_image(&jpeg[..n]) {
                assert_eq!((info.width, info.height), (16, 16), "prefix {n}");
            }
        }
    }

    #[test]
    fn mime_of_each_format() {
        let cases = [
            (ImageFormat::Jpeg, "image/jpeg"),
            (ImageFormat::Png, "image/png"),
            (ImageFormat::Gif, "image/gif"),
            (ImageFormat::Webp, "image/webp"),
        ];
        for (format, mime) in cases {
            assert_eq!(format.mime(), mime);
        }
    }
}
