//! The qetag (protocols.md §5), computed here independently of the server: SHA-1 of each 4 MiB
//! block; one block → `0x16 || sha1`, more → `0x96 || sha1(concatenated block digests)`;
//! URL-safe base64. Streaming, so a 64 MiB test never holds its data twice.

use base64::Engine as _;
use sha1::{Digest, Sha1};

/// The qetag block size.
pub const BLOCK: usize = 4 * 1024 * 1024;

/// An incremental qetag.
#[derive(Default)]
pub struct Qetag {
    block: Sha1,
    in_block: usize,
    digests: Vec<[u8; 20]>,
}

impl Qetag {
    /// A new hasher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let n = (BLOCK - self.in_block).min(data.len());
            self.block.update(&data[..n]);
            self.in_block += n;
            data = &data[n..];
            if self.in_block == BLOCK {
                let d = std::mem::take(&mut self.block).finalize();
                self.digests.push(d.into());
                self.in_block = 0;
            }
        }
    }

    /// The etag text (28 characters).
    pub fn finish(mut self) -> String {
        if self.in_block > 0 || self.digests.is_empty() {
            self.digests.push(self.block.finalize().into());
        }
        let mut raw = Vec::with_capacity(21);
        if self.digests.len() == 1 {
            raw.push(0x16);
            raw.extend_from_slice(&self.digests[0]);
        } else {
            raw.push(0x96);
            let mut h = Sha1::new();
            for d in &self.digests {
                h.update(d);
            }
            raw.extend_from_slice(&h.finalize());
        }
        base64::engine::general_purpose::URL_SAFE.encode(raw)
    }
}

/// The qetag of `data`.
pub fn qetag(data: &[u8]) -> String {
    let mut q = Qetag::new();
    q.update(data);
    q.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_vectors() {
        assert_eq!(qetag(b""), "Fto5o-5ea0sNMlW_75VgGJCv2AcJ");
        assert_eq!(qetag(b"hello"), "Fqr0xh3cxeii2r7eDztILNmuqUNN");
        assert_eq!(qetag(b"etag"), "FpLiADEaVoALPkdb8tJEJyRTXoe_");
        assert_eq!(qetag(&vec![0u8; BLOCK]), "FivMvS848VwT631aif2dhfWV4jvD");
        assert_eq!(qetag(&vec![0u8; BLOCK + 1]), "lhCFgki5yzon0rjN9uJusf6qtsF6");
        assert_eq!(qetag(&vec![0u8; 2 * BLOCK]), "lsCVE24-Immdd6zm-ffVVhsWYcDG");
        let mut wcs = vec![b'U'; 2 << 20];
        wcs.extend(std::iter::repeat_n(b'M', 2 << 20));
        wcs.push(b'0');
        assert_eq!(qetag(&wcs), "ljQoZqmvLKtOnK_5OHnMRw1djggC");
        // Fed in odd pieces, same answer.
        let mut q = Qetag::new();
        for piece in wcs.chunks(1_000_003) {
            q.update(piece);
        }
        assert_eq!(q.finish(), "ljQoZqmvLKtOnK_5OHnMRw1djggC");
    }
}
