//! Stored values: a version byte, then postcard. Adding a field means a new version and a
//! decoder for the old one; [`RECORD_VERSION`] is the one written today.

use serde::{Deserialize, Serialize};

use super::Error;
pub use crate::blobs::PackLoc;

/// The version byte written in front of every record.
pub const RECORD_VERSION: u8 = 1;

/// One stored object (a file in a bucket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// BLAKE3 of the content: the blob it points to.
    pub blake3: [u8; 32],
    /// Size in bytes.
    pub size: u64,
    /// The qetag.
    pub qetag: String,
    /// MIME type.
    pub mime: String,
    /// MD5, when computed.
    pub md5: Option<[u8; 16]>,
    /// CRC32, when computed.
    pub crc32: Option<u32>,
    /// Image width, when known.
    pub width: Option<u32>,
    /// Image height, when known.
    pub height: Option<u32>,
    /// Creation time, Unix milliseconds.
    pub created_ms: u64,
    /// Last update, Unix milliseconds.
    pub updated_ms: u64,
    /// Personality-defined attributes (the engine does not interpret them).
    pub attrs: Vec<(String, String)>,
}

impl FileRecord {
    /// A record of `size` bytes of blob `blake3` with every other field plain (tests).
    #[cfg(test)]
    pub(crate) fn plain(blake3: [u8; 32], size: u64) -> Self {
        FileRecord {
            blake3,
            size,
            qetag: String::new(),
            mime: "application/octet-stream".into(),
            md5: None,
            crc32: None,
            width: None,
            height: None,
            created_ms: 1,
            updated_ms: 1,
            attrs: Vec::new(),
        }
    }

    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// One blob: its size, how many file records point at it, and where its bytes are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRecord {
    /// Size in bytes.
    pub size: u64,
    /// Number of file records referencing it.
    pub refs: u64,
    /// Packed blobs: the pack and offset; `None` = a file of its own under `blobs/`.
    pub pack: Option<PackLoc>,
}

/// Version 1 of [`BlobRecord`] (before packs: every blob was a file of its own).
#[derive(Deserialize)]
struct BlobRecordV1 {
    size: u64,
    refs: u64,
}

/// The version byte written in front of a [`BlobRecord`] today (2 added `pack`).
pub const BLOB_RECORD_VERSION: u8 = 2;

impl BlobRecord {
    /// Encodes with [`BLOB_RECORD_VERSION`].
    pub fn encode(&self) -> Vec<u8> {
        encode_as(BLOB_RECORD_VERSION, self)
    }

    /// Decodes version 2, or version 1 (a blob with a file of its own).
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let corrupt = |e: postcard::Error| Error::Corrupt(e.to_string());
        match bytes.split_first() {
            Some((&BLOB_RECORD_VERSION, rest)) => postcard::from_bytes(rest).map_err(corrupt),
            Some((1, rest)) => {
                let v1: BlobRecordV1 = postcard::from_bytes(rest).map_err(corrupt)?;
                Ok(Self { size: v1.size, refs: v1.refs, pack: None })
            }
            Some((v, _)) => Err(Error::Corrupt(format!("unknown blob record version {v}"))),
            None => Err(Error::Corrupt("empty record".into())),
        }
    }
}

/// Encodes a record with the version byte.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    encode_as(RECORD_VERSION, value)
}

fn encode_as<T: Serialize>(version: u8, value: &T) -> Vec<u8> {
    let mut out = vec![version];
    // postcard into a Vec cannot fail for these plain types.
    out.extend(postcard::to_stdvec(value).unwrap_or_default());
    out
}

/// Decodes a record written by [`encode`].
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, Error> {
    match bytes.split_first() {
        Some((&RECORD_VERSION, rest)) => postcard::from_bytes(rest).map_err(|e| Error::Corrupt(e.to_string())),
        Some((v, _)) => Err(Error::Corrupt(format!("unknown record version {v}"))),
        None => Err(Error::Corrupt("empty record".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_version_check() {
        let r = FileRecord {
            blake3: [7; 32],
            size: 5,
            qetag: "Fqr0xh3cxeii2r7eDztILNmuqUNN".into(),
            mime: "text/plain".into(),
            md5: None,
            crc32: Some(1),
            width: None,
            height: None,
            created_ms: 1,
            updated_ms: 2,
            attrs: vec![("name".into(), "a.txt".into())],
        };
        let bytes = encode(&r);
        assert_eq!(bytes[0], RECORD_VERSION);
        assert_eq!(decode::<FileRecord>(&bytes).unwrap(), r);
        let mut bad = bytes.clone();
        bad[0] = 99;
        assert!(decode::<FileRecord>(&bad).is_err());
        assert!(decode::<FileRecord>(&[]).is_err());
        assert!(decode::<FileRecord>(&bytes[..bytes.len() - 3]).is_err());
    }

    #[test]
    fn blob_records_of_both_versions_decode() {
        for r in [
            BlobRecord { size: 9, refs: 2, pack: None },
            BlobRecord { size: 9, refs: 2, pack: Some(PackLoc { pack: 3, offset: 1 << 33 }) },
        ] {
            let bytes = r.encode();
            assert_eq!(bytes[0], BLOB_RECORD_VERSION);
            assert_eq!(BlobRecord::decode(&bytes).unwrap(), r);
            assert!(BlobRecord::decode(&bytes[..bytes.len() - 1]).is_err());
        }
        // A version-1 record (written before packs) is a blob with a file of its own.
        let mut v1 = vec![1];
        v1.extend(postcard::to_stdvec(&(9u64, 2u64)).unwrap());
        assert_eq!(BlobRecord::decode(&v1).unwrap(), BlobRecord { size: 9, refs: 2, pack: None });
        assert!(BlobRecord::decode(&[7, 0]).is_err());
    }
}
