//! One conformance suite, run on every [`Index`] implementation (RocksDB and the in-memory
//! twin): they must be indistinguishable to the rest of the engine.

use super::mem::MemIndex;
use super::rocks::RocksIndex;
use super::{Batch, Cf, Index};

fn suite(index: &dyn Index) {
    // Empty reads.
    assert_eq!(index.get(Cf::Files, b"nope").unwrap(), None);
    assert!(index.scan_prefix(Cf::Files, b"", None, 10).unwrap().is_empty());

    // Column families are separate namespaces.
    let mut b = Batch::default();
    b.put(Cf::Files, b"a\0x".to_vec(), b"1".to_vec());
    b.put(Cf::Files, b"a\0y".to_vec(), b"2".to_vec());
    b.put(Cf::Files, b"a\0z".to_vec(), b"3".to_vec());
    b.put(Cf::Files, b"ab\0q".to_vec(), b"4".to_vec());
    b.put(Cf::Links, b"a\0x".to_vec(), b"other".to_vec());
    index.write(&b, true).unwrap();
    assert_eq!(index.get(Cf::Files, b"a\0x").unwrap(), Some(b"1".to_vec()));
    assert_eq!(index.get(Cf::Links, b"a\0x").unwrap(), Some(b"other".to_vec()));
    assert_eq!(index.get(Cf::Blobs, b"a\0x").unwrap(), None);

    // Prefix scans: ordered, bounded by the prefix, by `limit`, resumable from `start`.
    let keys = |pairs: Vec<(Vec<u8>, Vec<u8>)>| pairs.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    assert_eq!(
        keys(index.scan_prefix(Cf::Files, b"a\0", None, 10).unwrap()),
        vec![b"a\0x".to_vec(), b"a\0y".to_vec(), b"a\0z".to_vec()]
    );
    assert_eq!(keys(index.scan_prefix(Cf::Files, b"a\0", None, 2).unwrap()).len(), 2);
    assert_eq!(
        keys(index.scan_prefix(Cf::Files, b"a\0", Some(b"a\0y"), 10).unwrap()),
        vec![b"a\0y".to_vec(), b"a\0z".to_vec()]
    );
    assert_eq!(keys(index.scan_prefix(Cf::Files, b"a", None, 10).unwrap()).len(), 4);

    // Overwrite and delete in one atomic batch, applied in order.
    let mut b = Batch::default();
    b.put(Cf::Files, b"a\0x".to_vec(), b"new".to_vec());
    b.delete(Cf::Files, b"a\0y".to_vec());
    b.put(Cf::Files, b"a\0w".to_vec(), b"tmp".to_vec());
    b.delete(Cf::Files, b"a\0w".to_vec());
    index.write(&b, false).unwrap();
    assert_eq!(index.get(Cf::Files, b"a\0x").unwrap(), Some(b"new".to_vec()));
    assert_eq!(index.get(Cf::Files, b"a\0y").unwrap(), None);
    assert_eq!(index.get(Cf::Files, b"a\0w").unwrap(), None);

    // Binary keys and values, including 0xff bytes and empty values.
    let mut b = Batch::default();
    b.put(Cf::Blobs, vec![0xff; 32], Vec::new());
    index.write(&b, false).unwrap();
    assert_eq!(index.get(Cf::Blobs, &[0xff; 32]).unwrap(), Some(Vec::new()));
    index.flush().unwrap();
}

#[test]
fn mem_index_conforms() {
    suite(&MemIndex::new());
}

#[test]
fn rocks_index_conforms_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let idx = RocksIndex::open(dir.path()).unwrap();
        suite(&idx);
    }
    let idx = RocksIndex::open(dir.path()).unwrap();
    assert_eq!(idx.get(Cf::Files, b"a\0x").unwrap(), Some(b"new".to_vec()));
    assert_eq!(idx.get(Cf::Blobs, &[0xff; 32]).unwrap(), Some(Vec::new()));
}
