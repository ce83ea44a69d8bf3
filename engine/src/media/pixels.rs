//! Decoded pixels on their way to a preview: the buffer, its sanity check against what the
//! decoder claimed, and the EXIF orientation applied to it (so a phone's portrait photo, stored
//! landscape, previews upright).

use super::preview::Error;

/// 8-bit pixels, one (gray) or three (RGB) channels, rows packed.
pub(super) struct Pixels {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) gray: bool,
    pub(super) data: Vec<u8>,
}

impl Pixels {
    pub(super) fn channels(&self) -> usize {
        if self.gray {
            1
        } else {
            3
        }
    }

    pub(super) fn checked(self, format: &'static str) -> Result<Pixels, Error> {
        let want = self.width as usize * self.height as usize * self.channels();
        if self.width == 0 || self.height == 0 || self.data.len() < want {
            return Err(Error::Decode {
                format,
                reason: format!(
                    "decoder gave {} bytes for {}x{}x{}",
                    self.data.len(),
                    self.width,
                    self.height,
                    self.channels()
                ),
            });
        }
        Ok(self)
    }

    /// The pixels as displayed under EXIF orientation `orientation` (1–8; anything else: as
    /// stored). Each stored pixel `(x, y)` of a `w`×`h` image goes where the orientation shows it.
    pub(super) fn oriented(self, orientation: u8) -> Pixels {
        if !(2..=8).contains(&orientation) {
            return self;
        }
        let (w, h, c) = (self.width as usize, self.height as usize, self.channels());
        let (dw, dh) = if orientation >= 5 { (h, w) } else { (w, h) };
        let mut out = vec![0u8; dw * dh * c];
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = match orientation {
                    2 => (w - 1 - x, y),         // mirrored
                    3 => (w - 1 - x, h - 1 - y), // upside down
                    4 => (x, h - 1 - y),         // mirrored upside down
                    5 => (y, x),                 // transposed
                    6 => (h - 1 - y, x),         // turned a quarter clockwise
                    7 => (h - 1 - y, w - 1 - x), // transversed
                    _ => (y, w - 1 - x),         // 8: turned a quarter anticlockwise
                };
                let (from, to) = ((y * w + x) * c, (dy * dw + dx) * c);
                out[to..to + c].copy_from_slice(&self.data[from..from + c]);
            }
        }
        Pixels { width: dw as u32, height: dh as u32, gray: self.gray, data: out }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_exif_orientation_shows_the_pixels_upright() {
        // Stored:  1 2 3     each orientation below is how a viewer shows it
        //          4 5 6
        let stored = || Pixels { width: 3, height: 2, gray: true, data: vec![1, 2, 3, 4, 5, 6] };
        let shown: [(u8, (u32, u32), [u8; 6]); 8] = [
            (1, (3, 2), [1, 2, 3, 4, 5, 6]),
            (2, (3, 2), [3, 2, 1, 6, 5, 4]),
            (3, (3, 2), [6, 5, 4, 3, 2, 1]),
            (4, (3, 2), [4, 5, 6, 1, 2, 3]),
            (5, (2, 3), [1, 4, 2, 5, 3, 6]),
            (6, (2, 3), [4, 1, 5, 2, 6, 3]),
            (7, (2, 3), [6, 3, 5, 2, 4, 1]),
            (8, (2, 3), [3, 6, 2, 5, 1, 4]),
        ];
        for (orientation, (w, h), data) in shown {
            let px = stored().oriented(orientation);
            assert_eq!((px.width, px.height, px.data.as_slice()), (w, h, &data[..]), "orientation {orientation}");
        }
        assert_eq!(stored().oriented(0).data, vec![1, 2, 3, 4, 5, 6], "out of range: as stored");
        // RGB pixels move whole.
        let rgb = Pixels { width: 2, height: 1, gray: false, data: vec![1, 1, 1, 2, 2, 2] };
        assert_eq!(rgb.oriented(6).data, vec![1, 1, 1, 2, 2, 2]);
    }
}
