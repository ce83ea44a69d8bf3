//! Test images: a real JPEG (jpeg-encoder), a valid PNG written by hand (zlib stored blocks,
//! CRC-32 via crc32fast, Adler-32), a valid GIF; and a reader of a JPEG's frame dimensions
//! (the SOF marker), so previews can be checked without trusting the server's decoder.

/// A `w × h` RGB JPEG (a smooth gradient), quality 85.
pub fn jpeg(w: u16, h: u16) -> Vec<u8> {
    let mut pixels = Vec::with_capacity(usize::from(w) * usize::from(h) * 3);
    for y in 0..h {
        for x in 0..w {
            pixels.push((u32::from(x) * 255 / u32::from(w.max(1))) as u8);
            pixels.push((u32::from(y) * 255 / u32::from(h.max(1))) as u8);
            pixels.push(((u32::from(x) + u32::from(y)) % 256) as u8);
        }
    }
    let mut out = Vec::new();
    let enc = jpeg_encoder::Encoder::new(&mut out, 85);
    enc.encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb).expect("jpeg encodes");
    out
}

/// [`jpeg`] with an EXIF APP1 segment (big-endian TIFF, one IFD0 entry) whose Orientation tag
/// is `orientation` — what a phone writes for a photo taken upright (6) and stored landscape.
pub fn jpeg_with_orientation(w: u16, h: u16, orientation: u16) -> Vec<u8> {
    let plain = jpeg(w, h);
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
    for field in [1u16, 0x0112, 3] {
        exif.extend_from_slice(&field.to_be_bytes()); // entry count, tag, type SHORT
    }
    exif.extend_from_slice(&1u32.to_be_bytes());
    exif.extend_from_slice(&orientation.to_be_bytes());
    exif.extend_from_slice(&[0; 6]); // value padding, no next IFD
                                     // APP1 goes right after SOI.
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&(exif.len() as u16 + 2).to_be_bytes());
    out.extend_from_slice(&exif);
    out.extend_from_slice(&plain[2..]);
    out
}

/// A `w × h` 8-bit RGB PNG with stored (uncompressed) deflate blocks.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let mut raw = Vec::with_capacity((w as usize * 3 + 1) * h as usize);
    for y in 0..h {
        raw.push(0); // filter: none
        for x in 0..w {
            raw.extend_from_slice(&[(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8]);
        }
    }
    let mut z = vec![0x78, 0x01];
    let mut blocks = raw.chunks(65_535).peekable();
    if blocks.peek().is_none() {
        z.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(b) = blocks.next() {
        z.push(u8::from(blocks.peek().is_none()));
        let len = b.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(b);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());

    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // depth 8, RGB, deflate, adaptive, no interlace
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(&mut out, b"IDAT", &z);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut c = crc32fast::Hasher::new();
    c.update(kind);
    c.update(data);
    out.extend_from_slice(&c.finalize().to_be_bytes());
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

/// A valid GIF89a whose logical screen is `w × h` (one 1×1 image inside it).
pub fn gif(w: u16, h: u16) -> Vec<u8> {
    let mut out = b"GIF89a".to_vec();
    out.extend_from_slice(&w.to_le_bytes());
    out.extend_from_slice(&h.to_le_bytes());
    out.extend_from_slice(&[0x80, 0, 0]); // global colour table of 2 entries
    out.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
    out.push(0x2c); // image descriptor
    out.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0, 0]);
    out.extend_from_slice(&[2, 2, 0x44, 0x01, 0]); // LZW min code size 2, one sub-block, end
    out.push(0x3b);
    out
}

/// `(width, height)` from a JPEG's first SOF marker, `None` when it is not a readable JPEG.
pub fn jpeg_dims(data: &[u8]) -> Option<(u16, u16)> {
    if !data.starts_with(&[0xff, 0xd8]) {
        return None;
    }
    let mut i = 2;
    while i + 4 <= data.len() {
        if data[i] != 0xff {
            return None;
        }
        let marker = data[i + 1];
        if marker == 0xff {
            i += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([data[i + 2], data[i + 3]]));
        let is_sof = (0xc0..=0xcf).contains(&marker) && !matches!(marker, 0xc4 | 0xc8 | 0xcc);
        if is_sof {
            let s = data.get(i + 4..i + 9)?;
            let h = u16::from_be_bytes([s[1], s[2]]);
            let w = u16::from_be_bytes([s[3], s[4]]);
            return Some((w, h));
        }
        if marker == 0xda {
            return None;
        }
        i += 2 + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_round_trip_of_dimensions() {
        assert_eq!(jpeg_dims(&jpeg(500, 375)), Some((500, 375)));
        assert_eq!(jpeg_dims(b"not a jpeg"), None);
    }

    #[test]
    fn png_and_gif_headers() {
        let p = png(3, 2);
        assert_eq!(&p[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&p[16..24], &[0, 0, 0, 3, 0, 0, 0, 2]);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
        let g = gif(30, 20);
        assert_eq!(&g[6..10], &[30, 0, 20, 0]);
    }
}
