//! Preview rendering: a JPEG or PNG source decoded, scaled down to fit a box and re-encoded as
//! a baseline JPEG.
//!
//! Owns the decode → resize → encode pipeline (zune-jpeg, zune-png, fast_image_resize,
//! jpeg-encoder) and its guards: the pixel budget is checked from the headers before anything
//! is decoded, and decoder failures — or decoder panics — become [`Error`]s. Every function here
//! blocks and allocates in proportion to the image: call it on the [`super::BlockingPool`],
//! never on an I/O worker. Knows nothing of HTTP, blobs or where the preview is stored.

use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use fast_image_resize::images::Image;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::JpegDecoder;

use super::pixels::Pixels;
use zune_png::zune_core::options::DecoderOptions;
use zune_png::PngDecoder;

use super::probe::{jpeg_options, probe_image, ImageFormat, ImageInfo};
use super::PROBE_PREFIX_BYTES;

/// What a preview may look like and what a source may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviewSpec {
    /// The preview fits in `max_width × max_height` (aspect ratio kept, never upscaled).
    pub max_width: u32,
    /// See `max_width`.
    pub max_height: u32,
    /// Sources whose headers declare more pixels than this get no preview and are not decoded.
    pub max_source_pixels: u64,
    /// JPEG quality of the preview, 1–100.
    pub quality: u8,
}

impl Default for PreviewSpec {
    fn default() -> Self {
        PreviewSpec { max_width: 400, max_height: 400, max_source_pixels: 100_000_000, quality: 80 }
    }
}

/// Why a preview could not be made from a source that looked like an image.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The source starts like a JPEG or PNG but its header cannot be read.
    #[error("{format} header is unreadable")]
    Header {
        /// Media type the source's magic bytes announce.
        format: &'static str,
    },
    /// The decoder refused the image data.
    #[error("{format} decoding failed: {reason}")]
    Decode {
        /// Media type of the source.
        format: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// The decoder panicked on this source (contained; treat the source as corrupt).
    #[error("{format} decoder panicked")]
    DecoderPanicked {
        /// Media type of the source.
        format: &'static str,
    },
    /// Scaling the decoded pixels failed.
    #[error("resizing the preview failed: {0}")]
    Resize(String),
    /// Encoding the preview as JPEG failed.
    #[error("encoding the preview failed: {0}")]
    Encode(String),
    /// Reading the source file failed ([`render_preview_file`] only).
    #[error("reading the source failed: {0}")]
    Io(#[from] std::io::Error),
}

/// A baseline JPEG preview of `source` (a whole file in memory), or `Ok(None)` when the source
/// has no preview: not a JPEG or PNG (GIF, WebP and non-images included), or more pixels than
/// `spec.max_source_pixels` — checked from the headers, before anything is decoded.
///
/// Grayscale sources give grayscale previews; alpha is composited on white; 16-bit and palette
/// PNGs are reduced to 8-bit RGB; a JPEG's EXIF orientation is applied (the preview is upright
/// as a viewer shows the original, and carries no EXIF of its own). Blocks: run it on the
/// blocking pool.
pub fn render_preview(source: &[u8], spec: &PreviewSpec) -> Result<Option<Vec<u8>>, Error> {
    let Some(info) = previewable_header(source, spec)? else {
        return Ok(None);
    };
    let format = info.format.mime();
    let decoded = catch_unwind(AssertUnwindSafe(|| match info.format {
        ImageFormat::Jpeg => decode_jpeg(source),
        _ => decode_png(source, info.pixels()),
    }))
    .map_err(|_| Error::DecoderPanicked { format })??;
    let resized = resize(decoded, spec, info.orientation >= 5)?;
    encode_jpeg(&resized.oriented(info.orientation), spec.quality).map(Some)
}

/// [`render_preview`] of the file at `path`, read with `std::fs` (so: blocking pool only).
///
/// The header is checked from the first [`PROBE_PREFIX_BYTES`] before the rest is read: a
/// source with no preview or too many pixels costs one short read. A file larger than its
/// pixels can explain (8 bytes a pixel plus 16 MiB of metadata — counting
/// `spec.max_source_pixels` when the headers do not fit in the prefix) is not read either and
/// gets no preview.
pub fn render_preview_file(path: &Path, spec: &PreviewSpec) -> Result<Option<Vec<u8>>, Error> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut source = Vec::with_capacity(PROBE_PREFIX_BYTES.min(len as usize));
    file.by_ref().take(PROBE_PREFIX_BYTES as u64).read_to_end(&mut source)?;
    if ImageFormat::from_magic(&source).is_none_or(|f| !has_preview(f)) {
        return Ok(None);
    }
    if source.len() == PROBE_PREFIX_BYTES {
        // Headers that do not fit in the prefix are read from the whole file below, within
        // the budget's byte bound.
        let pixels = probe_image(&source).map_or(spec.max_source_pixels, |info| info.pixels());
        if pixels > spec.max_source_pixels || len > max_source_bytes(pixels) {
            return Ok(None);
        }
        let rest = usize::try_from(len).unwrap_or(usize::MAX).saturating_sub(source.len());
        source
            .try_reserve_exact(rest)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::OutOfMemory, e.to_string()))?;
        file.read_to_end(&mut source)?;
    }
    render_preview(&source, spec)
}

/// The most bytes a JPEG or PNG of `pixels` pixels can reasonably take: 8 a pixel (16-bit
/// RGBA, uncompressed) plus 16 MiB of metadata.
fn max_source_bytes(pixels: u64) -> u64 {
    pixels.saturating_mul(8).saturating_add(16 << 20)
}

fn has_preview(format: ImageFormat) -> bool {
    matches!(format, ImageFormat::Jpeg | ImageFormat::Png)
}

/// The source's header if it is a JPEG or PNG within the pixel budget; `None` if it gets no
/// preview; an error if it claims to be a JPEG or PNG and its header cannot be read.
fn previewable_header(source: &[u8], spec: &PreviewSpec) -> Result<Option<ImageInfo>, Error> {
    let Some(format) = ImageFormat::from_magic(source).filter(|&f| has_preview(f)) else {
        return Ok(None);
    };
    let info = probe_image(source).ok_or(Error::Header { format: format.mime() })?;
    Ok((info.pixels() <= spec.max_source_pixels).then_some(info))
}

fn decode_jpeg(source: &[u8]) -> Result<Pixels, Error> {
    const FORMAT: &str = "image/jpeg";
    let err = |e: zune_jpeg::errors::DecodeErrors| Error::Decode { format: FORMAT, reason: e.to_string() };
    let mut decoder = JpegDecoder::new_with_options(source, jpeg_options());
    decoder.decode_headers().map_err(err)?;
    // Gray stays gray (a third of the work); everything else (YCbCr, RGB, CMYK, YCCK) → RGB.
    let gray = decoder.get_input_colorspace() == Some(ColorSpace::Luma);
    let out = if gray { ColorSpace::Luma } else { ColorSpace::RGB };
    let mut decoder = JpegDecoder::new_with_options(source, jpeg_options().jpeg_set_out_colorspace(out));
    let data = decoder.decode().map_err(err)?;
    let (w, h) = decoder.dimensions().ok_or(Error::Header { format: FORMAT })?;
    Pixels { width: w as u32, height: h as u32, gray, data }.checked(FORMAT)
}

fn decode_png(source: &[u8], pixels: u64) -> Result<Pixels, Error> {
    const FORMAT: &str = "image/png";
    let err = |e: zune_png::error::PngDecodeErrors| Error::Decode { format: FORMAT, reason: format!("{e:?}") };
    // Inflated data is at most 8 bytes a pixel (RGBA, 16-bit) plus a filter byte a row (per
    // Adam7 pass), well inside this bound: a stream inflating to more is refused, not buffered.
    let inflate_limit = max_source_bytes(pixels);
    let options = DecoderOptions::new_fast()
        .set_max_width(i32::MAX as usize)
        .set_max_height(i32::MAX as usize)
        .png_set_strip_to_8bit(true)
        .inflate_set_limit(usize::try_from(inflate_limit).unwrap_or(usize::MAX));
    let mut decoder = PngDecoder::new_with_options(source, options);
    decoder.decode_headers().map_err(err)?;
    let (w, h) = decoder.get_dimensions().ok_or(Error::Header { format: FORMAT })?;
    let colorspace = decoder.get_colorspace().ok_or(Error::Header { format: FORMAT })?;
    let data = decoder.decode_raw().map_err(err)?;
    let (n, got) = (w * h, data.len());
    let too_short =
        || Error::Decode { format: FORMAT, reason: format!("decoder gave {got} bytes for {w}x{h} {colorspace:?}") };
    let (gray, data) = match colorspace {
        ColorSpace::Luma => (true, data),
        ColorSpace::RGB => (false, data),
        ColorSpace::LumaA => {
            let px = data.get(..n * 2).ok_or_else(too_short)?;
            let flat = px.chunks_exact(2).map(|p| over_white(p[0], p[1])).collect();
            (true, flat)
        }
        ColorSpace::RGBA => {
            let px = data.get(..n * 4).ok_or_else(too_short)?;
            let flat = px.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]].map(|c| over_white(c, p[3]))).collect();
            (false, flat)
        }
        other => return Err(Error::Decode { format: FORMAT, reason: format!("unexpected colorspace {other:?}") }),
    };
    Pixels { width: w as u32, height: h as u32, gray, data }.checked(FORMAT)
}

/// A channel value with alpha `a`, composited on white.
fn over_white(c: u8, a: u8) -> u8 {
    let (c, a) = (u32::from(c), u32::from(a));
    ((c * a + 255 * (255 - a) + 127) / 255) as u8
}

/// Largest side a baseline JPEG can have.
const JPEG_MAX_SIDE: u32 = u16::MAX as u32;

/// The size of a `w × h` image scaled to fit in `max_w × max_h`: aspect ratio kept (rounded),
/// never upscaled, at least 1 px a side.
pub(crate) fn fit(w: u32, h: u32, max_w: u32, max_h: u32) -> (u32, u32) {
    let max_w = max_w.clamp(1, JPEG_MAX_SIDE);
    let max_h = max_h.clamp(1, JPEG_MAX_SIDE);
    if w <= max_w && h <= max_h {
        return (w.max(1), h.max(1));
    }
    let (w64, h64) = (u64::from(w), u64::from(h));
    let scaled = |side: u64, num: u64, den: u64| ((side * num + den / 2) / den).max(1) as u32;
    if w64 * u64::from(max_h) >= h64 * u64::from(max_w) {
        // Width is the binding side.
        (max_w, scaled(h64, u64::from(max_w), w64).min(max_h))
    } else {
        (scaled(w64, u64::from(max_h), h64).min(max_w), max_h)
    }
}

/// Scales `src` to fit the spec's box — turned a quarter when the pixels will be (`turned`).
fn resize(src: Pixels, spec: &PreviewSpec, turned: bool) -> Result<Pixels, Error> {
    let (box_w, box_h) = if turned { (spec.max_height, spec.max_width) } else { (spec.max_width, spec.max_height) };
    let (w, h) = fit(src.width, src.height, box_w, box_h);
    if (w, h) == (src.width, src.height) {
        return Ok(src);
    }
    let pixel_type = if src.gray { PixelType::U8 } else { PixelType::U8x3 };
    let gray = src.gray;
    let from =
        Image::from_vec_u8(src.width, src.height, src.data, pixel_type).map_err(|e| Error::Resize(e.to_string()))?;
    let mut to = Image::new(w, h, pixel_type);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Hamming));
    Resizer::new().resize(&from, &mut to, &options).map_err(|e| Error::Resize(e.to_string()))?;
    Ok(Pixels { width: w, height: h, gray, data: to.into_vec() })
}

fn encode_jpeg(px: &Pixels, quality: u8) -> Result<Vec<u8>, Error> {
    let (w, h) = match (u16::try_from(px.width), u16::try_from(px.height)) {
        (Ok(w), Ok(h)) => (w, h),
        _ => return Err(Error::Encode(format!("{}x{} is too large", px.width, px.height))),
    };
    let color = if px.gray { jpeg_encoder::ColorType::Luma } else { jpeg_encoder::ColorType::Rgb };
    let mut out = Vec::with_capacity(px.data.len() / 8 + 1024);
    jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100))
        .encode(&px.data, w, h, color)
        .map_err(|e| Error::Encode(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::probe::tests::jpeg;

    /// Width, height and whether it is grayscale, of a JPEG, by decoding it.
    fn decode_output(jpeg: &[u8]) -> (usize, usize, bool, Vec<u8>) {
        let mut d = JpegDecoder::new(jpeg);
        d.decode_headers().unwrap();
        let gray = d.get_input_colorspace() == Some(ColorSpace::Luma);
        let pixels = d.decode().unwrap();
        let (w, h) = d.dimensions().unwrap();
        (w, h, gray, pixels)
    }

    /// A PNG with the given IHDR and raw (unfiltered) scanlines, deflated into stored blocks.
    fn png(w: u32, h: u32, depth: u8, color: u8, rows: &[u8], extra: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
        fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let start = out.len();
            out.extend_from_slice(kind);
            out.extend_from_slice(data);
            let crc = crc32fast::hash(&out[start..]);
            out.extend_from_slice(&crc.to_be_bytes());
        }
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[depth, color, 0, 0, 0]);
        // zlib: header, stored blocks of at most 65535 bytes, Adler-32.
        let mut z = vec![0x78, 0x01];
        let blocks: Vec<&[u8]> = if rows.is_empty() { vec![&[]] } else { rows.chunks(65_535).collect() };
        for (i, block) in blocks.iter().enumerate() {
            z.push(u8::from(i + 1 == blocks.len()));
            let len = block.len() as u16;
            z.extend_from_slice(&len.to_le_bytes());
            z.extend_from_slice(&(!len).to_le_bytes());
            z.extend_from_slice(block);
        }
        let (mut a, mut b) = (1u32, 0u32);
        for &byte in rows {
            a = (a + u32::from(byte)) % 65_521;
            b = (b + a) % 65_521;
        }
        z.extend_from_slice(&((b << 16) | a).to_be_bytes());
        let mut out = crate::media::probe::PNG_SIGNATURE.to_vec();
        chunk(&mut out, b"IHDR", &ihdr);
        for (kind, data) in extra {
            chunk(&mut out, kind, data);
        }
        chunk(&mut out, b"IDAT", &z);
        chunk(&mut out, b"IEND", &[]);
        out
    }

    /// Scanlines (filter byte 0 each) of `h` rows of `row_bytes` bytes from `f(x_byte, y)`.
    fn rows(row_bytes: usize, h: usize, f: impl Fn(usize, usize) -> u8) -> Vec<u8> {
        let mut v = Vec::with_capacity((row_bytes + 1) * h);
        for y in 0..h {
            v.push(0);
            v.extend((0..row_bytes).map(|x| f(x, y)));
        }
        v
    }

    fn dims(jpeg: &[u8]) -> (usize, usize) {
        let (w, h, _, _) = decode_output(jpeg);
        (w, h)
    }

    #[test]
    fn jpeg_is_scaled_to_fit_the_box() {
        let cases = [
            // (source w, h, box w, h, want w, h)
            (1000, 500, 400, 400, 400, 200),
            (500, 1000, 400, 400, 200, 400),
            (300, 200, 400, 400, 300, 200),
            (400, 400, 400, 400, 400, 400),
            (401, 400, 400, 400, 400, 399),
            (2000, 3, 400, 400, 400, 1),
            (3, 2000, 400, 400, 1, 400),
            (640, 480, 100, 1000, 100, 75),
        ];
        for (sw, sh, bw, bh, ww, wh) in cases {
            let spec = PreviewSpec { max_width: bw, max_height: bh, ..PreviewSpec::default() };
            let out = render_preview(&jpeg(sw, sh, 0), &spec).unwrap().unwrap();
            let (w, h, gray, _) = decode_output(&out);
            assert_eq!((w, h), (ww, wh), "{sw}x{sh} in {bw}x{bh}");
            assert!(!gray);
        }
    }

    #[test]
    fn a_turned_jpeg_gets_an_upright_preview_within_the_box() {
        let spec = PreviewSpec { max_width: 400, max_height: 200, ..PreviewSpec::default() };
        // Stored 800×300, shown 300×800: the preview fits the box as shown, 75×200.
        let source = crate::media::probe::tests::jpeg_with_orientation(800, 300, 6);
        let preview = render_preview(&source, &spec).unwrap().unwrap();
        assert_eq!(dims(&preview), (75, 200));
        let upright = render_preview(&crate::media::probe::tests::jpeg_with_orientation(800, 300, 1), &spec);
        assert_eq!(dims(&upright.unwrap().unwrap()), (400, 150));
    }

    #[test]
    fn fit_keeps_ratio_never_upscales_and_keeps_a_pixel() {
        let cases = [
            ((1000, 500, 400, 400), (400, 200)),
            ((300, 200, 400, 400), (300, 200)),
            ((1, 1, 400, 400), (1, 1)),
            ((100_000, 1, 400, 400), (400, 1)),
            ((1, 100_000, 400, 400), (1, 400)),
            ((999, 333, 400, 400), (400, 133)),
            ((10, 10, 0, 0), (1, 1)),
            ((100_000, 100_000, u32::MAX, u32::MAX), (65_535, 65_535)),
        ];
        for ((w, h, mw, mh), want) in cases {
            assert_eq!(fit(w, h, mw, mh), want, "{w}x{h} in {mw}x{mh}");
        }
    }

    #[test]
    fn grayscale_jpeg_gives_a_grayscale_preview() {
        let (w, h) = (800u16, 200u16);
        let pixels: Vec<u8> = (0..usize::from(w) * usize::from(h)).map(|i| (i % 251) as u8).collect();
        let mut src = Vec::new();
        jpeg_encoder::Encoder::new(&mut src, 90).encode(&pixels, w, h, jpeg_encoder::ColorType::Luma).unwrap();
        let out = render_preview(&src, &PreviewSpec::default()).unwrap().unwrap();
        let (w, h, gray, _) = decode_output(&out);
        assert_eq!((w, h, gray), (400, 100, true));
    }

    #[test]
    fn png_color_types_and_depths_render() {
        let (w, h) = (600usize, 300usize);
        let plte: Vec<u8> = [[255, 0, 0], [0, 0, 255]].concat();
        let trns: &[u8] = &[255, 0]; // index 1 fully transparent
                                     // (name, depth, color type, bytes per row, pixel byte, extra chunks, gray?, center rgb)
        type Case<'a> = (&'a str, u8, u8, usize, fn(usize, usize) -> u8, Vec<(&'a [u8; 4], &'a [u8])>, bool, [u8; 3]);
        let cases: Vec<Case> = vec![
            ("gray 8", 8, 0, w, |_, _| 100, vec![], true, [100; 3]),
            ("gray 1", 1, 0, w / 8, |_, _| 0xFF, vec![], true, [255; 3]),
            ("gray 16", 16, 0, w * 2, |x, _| if x % 2 == 0 { 50 } else { 0xFF }, vec![], true, [50; 3]),
            ("gray+alpha, transparent", 8, 4, w * 2, |_, _| 0, vec![], true, [255; 3]),
            ("rgb 8", 8, 2, w * 3, |x, _| [10, 200, 30][x % 3], vec![], false, [10, 200, 30]),
            ("rgb 16", 16, 2, w * 6, |x, _| [200, 0, 100, 0, 0, 0][x % 6], vec![], false, [200, 100, 0]),
            ("rgba, opaque", 8, 6, w * 4, |x, _| [0, 0, 0, 255][x % 4], vec![], false, [0, 0, 0]),
            ("rgba, transparent", 8, 6, w * 4, |x, _| [0, 0, 0, 0][x % 4], vec![], false, [255, 255, 255]),
            ("rgba 16, half", 16, 6, w * 8, |x, _| [0, 0, 0, 0, 0, 0, 128, 0][x % 8], vec![], false, [127, 127, 127]),
            ("palette 8", 8, 3, w, |_, _| 0, vec![(b"PLTE", &plte[..])], false, [255, 0, 0]),
            (
                "palette 1, transparent",
                1,
                3,
                w / 8,
                |_, _| 0xFF,
                vec![(b"PLTE", &plte[..]), (b"tRNS", trns)],
                false,
                [255, 255, 255],
            ),
        ];
        for (name, depth, color, row_bytes, f, extra, want_gray, want_rgb) in cases {
            let src = png(w as u32, h as u32, depth, color, &rows(row_bytes, h, f), &extra);
            let out = render_preview(&src, &PreviewSpec::default())
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .unwrap_or_else(|| panic!("{name}: no preview"));
            let (ow, oh, gray, pixels) = decode_output(&out);
            assert_eq!((ow, oh, gray), (400, 200, want_gray), "{name}");
            let c = (100 * ow + 200) * if gray { 1 } else { 3 };
            let got: Vec<u8> = if gray { vec![pixels[c]; 3] } else { pixels[c..c + 3].to_vec() };
            for (g, want) in got.iter().zip(want_rgb) {
                assert!(g.abs_diff(want) <= 6, "{name}: centre {got:?}, want {want_rgb:?}");
            }
        }
    }

    #[test]
    fn small_png_is_not_upscaled() {
        let src = png(300, 200, 8, 2, &rows(900, 200, |x, y| (x + y) as u8), &[]);
        let out = render_preview(&src, &PreviewSpec::default()).unwrap().unwrap();
        assert_eq!(dims(&out), (300, 200));
    }

    #[test]
    fn oversized_sources_get_no_preview_without_decoding() {
        // A PNG header claiming 20000x20000 (400 MP) and no pixel data at all: refused from the
        // header alone (decoding would fail, and allocate 1.2 GB first).
        let bomb = png(20_000, 20_000, 8, 2, &[], &[]);
        assert!(render_preview(&bomb, &PreviewSpec::default()).unwrap().is_none());
        // Same for a JPEG over a smaller budget.
        let spec = PreviewSpec { max_source_pixels: 1000 * 500 - 1, ..PreviewSpec::default() };
        assert!(render_preview(&jpeg(1000, 500, 0), &spec).unwrap().is_none());
        let spec = PreviewSpec { max_source_pixels: 1000 * 500, ..PreviewSpec::default() };
        assert!(render_preview(&jpeg(1000, 500, 0), &spec).unwrap().is_some());
    }

    #[test]
    fn formats_without_previews_give_none() {
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("gif", b"GIF89a\x0a\x00\x0a\x00\x00\x00\x00;".to_vec()),
            ("webp", b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x00".to_vec()),
            ("text", b"hello".to_vec()),
            ("empty", vec![]),
        ];
        for (name, src) in cases {
            assert!(render_preview(&src, &PreviewSpec::default()).unwrap().is_none(), "{name}");
        }
    }

    #[test]
    fn corrupt_images_are_errors() {
        let good_jpeg = jpeg(200, 100, 0);
        let good_png = png(64, 64, 8, 2, &rows(192, 64, |x, _| x as u8), &[]);
        let noise = |n: usize| (0..n as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("jpeg magic then garbage", [0xFF, 0xD8, 0xFF].into_iter().chain(noise(10_000)).collect()),
            ("jpeg header only", good_jpeg[..good_jpeg.len().min(200)].to_vec()),
            ("png magic then garbage", crate::media::probe::PNG_SIGNATURE.iter().copied().chain(noise(500)).collect()),
            ("png with garbage pixel data", {
                let mut v = good_png.clone();
                let n = v.len();
                v[43..n - 12].iter_mut().zip(noise(n)).for_each(|(b, r)| *b = r);
                v
            }),
            ("png cut in IDAT", good_png[..good_png.len() / 2].to_vec()),
        ];
        for (name, src) in cases {
            let got = render_preview(&src, &PreviewSpec::default());
            assert!(got.is_err(), "{name}: {:?}", got.map(|o| o.map(|v| v.len())));
        }
    }

    #[test]
    fn damaged_jpeg_scan_data_never_panics() {
        let good = jpeg(64, 64, 0);
        for cut in (0..good.len()).step_by(7) {
            let _ = render_preview(&good[..cut], &PreviewSpec::default());
        }
        for i in (300..good.len()).step_by(13) {
            let mut bad = good.clone();
            bad[i] ^= 0x5A;
            let _ = render_preview(&bad, &PreviewSpec::default());
        }
    }

    #[test]
    fn file_previews_read_only_what_they_need() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        let spec = PreviewSpec::default();
        // A JPEG larger than the probe prefix (metadata first).
        let big = jpeg(1000, 500, 300_000);
        assert!(big.len() > PROBE_PREFIX_BYTES);
        let out = render_preview_file(&write("big.jpg", &big), &spec).unwrap().unwrap();
        assert_eq!(dims(&out), (400, 200));
        // A small one.
        let out = render_preview_file(&write("small.jpg", &jpeg(30, 20, 0)), &spec).unwrap().unwrap();
        assert_eq!(dims(&out), (30, 20));
        // A bomb header followed by a lot of data: refused from the prefix.
        let mut bomb = png(20_000, 20_000, 8, 2, &[], &[]);
        bomb.resize(PROBE_PREFIX_BYTES * 2, 0);
        assert!(render_preview_file(&write("bomb.png", &bomb), &spec).unwrap().is_none());
        // A tiny image padded with far more bytes than its pixels explain.
        let mut padded = png(4, 4, 8, 2, &rows(12, 4, |_, _| 9), &[]);
        padded.resize(17 << 20, 0);
        assert!(render_preview_file(&write("padded.png", &padded), &spec).unwrap().is_none());
        // Not an image.
        assert!(render_preview_file(&write("a.txt", b"text"), &spec).unwrap().is_none());
        // Missing file.
        let missing = render_preview_file(&dir.path().join("nope"), &spec);
        assert!(matches!(missing, Err(Error::Io(_))));
    }
}
