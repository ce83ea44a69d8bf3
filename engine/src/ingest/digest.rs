//! Incremental digests of one object: the Qiniu/WCS `qetag` (SHA-1 per 4 MiB block), BLAKE3
//! (content address), and CRC32 / MD5 when a caller asks for them.

use base64::Engine as _;
use md5::Digest as _;
use sha1::Sha1;

/// The qetag block size: 4 MiB, whatever slice size was used to upload (protocols.md §5).
pub const QETAG_BLOCK: u64 = 4 * 1024 * 1024;

/// Which optional digests to compute besides qetag and BLAKE3.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DigestSet {
    /// CRC32 (IEEE), as Qiniu's `crc32` form field.
    pub crc32: bool,
    /// MD5, as WCS `checksum` / Qiniu v2 `Content-MD5`.
    pub md5: bool,
}

/// Running digests.
pub struct Digests {
    block: Sha1,
    block_fill: u64,
    block_sums: Vec<[u8; 20]>,
    blake3: blake3::Hasher,
    crc32: Option<crc32fast::Hasher>,
    md5: Option<md5::Md5>,
    len: u64,
}

/// Finished digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestSums {
    /// Total bytes hashed.
    pub len: u64,
    /// The qetag, 28 characters of URL-safe base64.
    pub qetag: String,
    /// BLAKE3 of the content.
    pub blake3: [u8; 32],
    /// CRC32 if asked for.
    pub crc32: Option<u32>,
    /// MD5 if asked for.
    pub md5: Option<[u8; 16]>,
}

impl Digests {
    /// Starts empty digests.
    pub fn new(set: DigestSet) -> Self {
        Self {
            block: Sha1::new(),
            block_fill: 0,
            block_sums: Vec::new(),
            blake3: blake3::Hasher::new(),
            crc32: set.crc32.then(crc32fast::Hasher::new),
            md5: set.md5.then(md5::Md5::new),
            len: 0,
        }
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        self.blake3.update(data);
        if let Some(c) = &mut self.crc32 {
            c.update(data);
        }
        if let Some(m) = &mut self.md5 {
            m.update(data);
        }
        self.len += data.len() as u64;
        while !data.is_empty() {
            let room = (QETAG_BLOCK - self.block_fill) as usize;
            let n = room.min(data.len());
            self.block.update(&data[..n]);
            self.block_fill += n as u64;
            data = &data[n..];
            if self.block_fill == QETAG_BLOCK {
                let sum = std::mem::replace(&mut self.block, Sha1::new()).finalize();
                self.block_sums.push(sum.into());
                self.block_fill = 0;
            }
        }
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing has been fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Finishes all digests.
    pub fn finish(mut self) -> DigestSums {
        if self.block_fill > 0 || self.block_sums.is_empty() {
            self.block_sums.push(self.block.finalize().into());
        }
        DigestSums {
            len: self.len,
            qetag: qetag_from_block_sums(&self.block_sums),
            blake3: *self.blake3.finalize().as_bytes(),
            crc32: self.crc32.map(|c| c.finalize()),
            md5: self.md5.map(|m| m.finalize().into()),
        }
    }
}

/// The qetag from the SHA-1 digests of consecutive 4 MiB blocks (protocols.md §5).
pub fn qetag_from_block_sums(sums: &[[u8; 20]]) -> String {
    let mut raw = Vec::with_capacity(21);
    if sums.len() <= 1 {
        raw.push(0x16);
        raw.extend_from_slice(sums.first().map_or(&EMPTY_SHA1, |s| s));
    } else {
        raw.push(0x96);
        let mut h = Sha1::new();
        for s in sums {
            h.update(s);
        }
        raw.extend_from_slice(&h.finalize());
    }
    base64::engine::general_purpose::URL_SAFE.encode(raw)
}

const EMPTY_SHA1: [u8; 20] = [
    0xda, 0x39, 0xa3, 0xee, 0x5e, 0x6b, 0x4b, 0x0d, 0x32, 0x55, 0xbf, 0xef, 0x95, 0x60, 0x18, 0x90, 0xaf, 0xd8, 0x07,
    0x09,
];

/// The qetag of bytes in memory.
pub fn qetag(data: &[u8]) -> String {
    let mut d = Digests::new(DigestSet::default());
    d.update(data);
    d.finish().qetag
}

#[cfg(test)]
mod tests {
    use super::*;

    /// protocols.md §5 test vectors.
    #[test]
    fn qetag_vectors() {
        let mib = 1024 * 1024;
        let mut umu = vec![b'U'; 2 * mib];
        umu.extend(vec![b'M'; 2 * mib]);
        umu.push(b'0');
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"".to_vec(), "Fto5o-5ea0sNMlW_75VgGJCv2AcJ"),
            (b"hello".to_vec(), "Fqr0xh3cxeii2r7eDztILNmuqUNN"),
            (b"etag".to_vec(), "FpLiADEaVoALPkdb8tJEJyRTXoe_"),
            (b"hello retry!".to_vec(), "FlYu0iBR1WpvYi4whKXiBuQpyLLk"),
            (b"UMUTech@qq.com".to_vec(), "FpAEzHGOWdh-QAYhattxl1vqHLMw"),
            (vec![0; 4 * mib], "FivMvS848VwT631aif2dhfWV4jvD"),
            (vec![0; 4 * mib + 1], "lhCFgki5yzon0rjN9uJusf6qtsF6"),
            (vec![0; 8 * mib], "lsCVE24-Immdd6zm-ffVVhsWYcDG"),
            (vec![0; 10 * mib], "lrgta7Rm8vkyiaBmECBeS8jIYEuw"),
            (umu, "ljQoZqmvLKtOnK_5OHnMRw1djggC"),
        ];
        for (data, want) in &cases {
            assert_eq!(qetag(data), *want, "len {}", data.len());
        }
    }

    #[test]
    fn split_invariant_and_optional_sums() {
        let data: Vec<u8> = (0..(9 * 1024 * 1024 + 7)).map(|i| (i * 31 % 251) as u8).collect();
        let set = DigestSet { crc32: true, md5: true };
        let mut whole = Digests::new(set);
        whole.update(&data);
        let whole = whole.finish();
        for piece in [1usize << 10, 65_537, 4 << 20, 3 << 20] {
            let mut d = Digests::new(set);
            for c in data.chunks(piece) {
                d.update(c);
            }
            assert_eq!(d.finish(), whole, "piece {piece}");
        }
        assert_eq!(whole.blake3, *blake3::hash(&data).as_bytes());
        assert_eq!(whole.crc32, Some(crc32fast::hash(&data)));
        assert_eq!(whole.len, data.len() as u64);
    }
}
