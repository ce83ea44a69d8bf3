//! The start-up garbage sweep: gives back the space of bytes no index record keeps alive.
//!
//! Bytes are written before the record that names them (the durability order of design.md), so
//! a crash between the two, a request refused or cut off after one of its files was published,
//! a commit that failed (a full disk) or the loser of a dedup race leaves bytes nothing names: a file blob without a record, a pack range no blob record points at. A blob whose
//! last reference went (an overwrite) keeps a record at zero references. While the server runs,
//! bytes without a record cannot be told from bytes whose commit is on its way, so the sweep
//! runs at start-up — after the index has recovered, before any worker accepts — when every
//! byte on disk is either named by a record or garbage.
//!
//! The order keeps every step crash-safe: (1) blob records at zero references are deleted, the
//! deletion synced; (2) file blobs with no record, or whose record says the blob lives in a
//! pack, are removed; (3) each pack an earlier run wrote gets holes punched between the ranges
//! records name, or is removed when none is left. A crash after (1) leaves bytes without a
//! record, which the next sweep takes. A byte a record names is never touched: a record at zero
//! references still makes an upload of the same bytes a dedup, so its bytes go only after it.
//! Nor is a reference count trusted alone: a blob at zero references that a file record still
//! names (a refcount bug somewhere) is kept, and said at `error`. Any failure stops the sweep
//! where it is (the server starts anyway, the garbage waits).
//!
//! The cost is one scan of the `blobs` column family (holding 16 bytes per packed blob while
//! it runs), one directory walk of `blobs/` and a few `lseek`s per pack: docs/operations.md has
//! the figures.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use crate::blobs::BlobStore;
use crate::error::Result;
use crate::index::records::{self, BlobRecord, FileRecord};
use crate::index::{Batch, Cf, Index};

/// Blob records read per step of the scan.
const SCAN_PAGE: usize = 4096;
/// Zero-reference records deleted per index write.
const DELETE_BATCH: usize = 1024;

/// What one start-up sweep gave back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GarbageSwept {
    /// Blob records at zero references deleted (with their bytes).
    pub zero_ref_records: u64,
    /// File blobs removed.
    pub files_removed: u64,
    /// Packs removed (nothing in them was named any more).
    pub packs_removed: u64,
    /// Packs that got holes punched between the ranges still named.
    pub packs_punched: u64,
    /// Disk space given back, in bytes (blocks the filesystem reported freed).
    pub bytes_freed: u64,
    /// How long the sweep took.
    pub took: Duration,
}

/// Runs the sweep over `store` and its (recovered, persistent) `index`. Start-up only:
/// nothing else may write either while it runs.
pub(crate) fn sweep(store: &BlobStore, index: &dyn Index) -> Result<GarbageSwept> {
    let started = Instant::now();
    let mut swept = GarbageSwept::default();
    let (mut live, mut dead) = scan_blob_records(index)?;
    if !dead.is_empty() {
        let named = named_by_files(index, &dead)?;
        dead.retain(|(b3, record)| {
            if !named.contains(b3) {
                return true;
            }
            tracing::error!(blob = %hex::encode(b3), "a blob at zero references is named by a file record; kept");
            if let Some(loc) = record.pack {
                live.entry(loc.pack).or_default().push((loc.offset, loc.offset + record.size));
            }
            false
        });
    }

    // (1) Records at zero references go first, durably; their bytes then count as unnamed.
    let dead: Vec<[u8; 32]> = dead.into_iter().map(|(b3, _)| b3).collect();
    for keys in dead.chunks(DELETE_BATCH) {
        let mut batch = Batch::default();
        for key in keys {
            batch.delete(Cf::Blobs, key.to_vec());
        }
        index.write(&batch, true)?;
        swept.zero_ref_records += keys.len() as u64;
    }

    // (2) A file blob stays only while a record names it as a file of its own.
    for b3 in store.file_blobs_blocking()? {
        let named_as_file = match index.get(Cf::Blobs, &b3)? {
            Some(v) => BlobRecord::decode(&v)?.pack.is_none(),
            None => false,
        };
        if !named_as_file {
            swept.bytes_freed += store.remove_file_blob_blocking(&b3)?;
            swept.files_removed += 1;
        }
    }

    // (3) Packs: only the ranges records name stay.
    for pack in store.earlier_packs()? {
        let mut ranges = live.remove(&pack).unwrap_or_default();
        let freed = store.reclaim_pack_blocking(pack, &mut ranges)?;
        if ranges.is_empty() {
            swept.packs_removed += 1;
        } else if freed > 0 {
            swept.packs_punched += 1;
        }
        swept.bytes_freed += freed;
    }
    swept.took = started.elapsed();
    Ok(swept)
}

/// The byte ranges live blob records name in each pack, and the records at zero references
/// (whose ranges are left out).
type Scan = (BTreeMap<u64, Vec<(u64, u64)>>, Vec<([u8; 32], BlobRecord)>);

fn scan_blob_records(index: &dyn Index) -> Result<Scan> {
    let (mut live, mut dead) = (BTreeMap::<u64, Vec<(u64, u64)>>::new(), Vec::new());
    for_each_record(index, Cf::Blobs, |key, value| {
        let record = BlobRecord::decode(value)?;
        match <[u8; 32]>::try_from(key) {
            Ok(b3) if record.refs == 0 => dead.push((b3, record)),
            _ => {
                if let Some(loc) = record.pack {
                    live.entry(loc.pack).or_default().push((loc.offset, loc.offset + record.size));
                }
            }
        }
        Ok(())
    })?;
    Ok((live, dead))
}

/// Which of `dead` some file record names (read through every file record; only when there
/// are zero-reference records at all, which takes an overwrite).
fn named_by_files(index: &dyn Index, dead: &[([u8; 32], BlobRecord)]) -> Result<HashSet<[u8; 32]>> {
    let dead: HashSet<[u8; 32]> = dead.iter().map(|(b3, _)| *b3).collect();
    let mut named = HashSet::new();
    for_each_record(index, Cf::Files, |_, value| {
        let record: FileRecord = records::decode(value)?;
        if dead.contains(&record.blake3) {
            named.insert(record.blake3);
        }
        Ok(())
    })?;
    Ok(named)
}

/// Calls `f` with every key and value of `cf`, in key order, [`SCAN_PAGE`] at a time.
fn for_each_record(index: &dyn Index, cf: Cf, f: impl FnMut(&[u8], &[u8]) -> Result<()>) -> Result<()> {
    for_each_record_paged(index, cf, SCAN_PAGE, f)
}

fn for_each_record_paged(
    index: &dyn Index,
    cf: Cf,
    page_len: usize,
    mut f: impl FnMut(&[u8], &[u8]) -> Result<()>,
) -> Result<()> {
    let mut from: Option<Vec<u8>> = None;
    loop {
        let page = index.scan_prefix(cf, &[], from.as_deref(), page_len)?;
        for (key, value) in &page {
            f(key, value)?;
        }
        match page.last() {
            Some((last, _)) if page.len() == page_len => {
                // The smallest key after `last`.
                let mut next = last.clone();
                next.push(0);
                from = Some(next);
            }
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt;

    use bytes::Bytes;

    use super::*;
    use crate::index::records::FileRecord;
    use crate::ingest::{DigestSet, SMALL_OBJECT_MAX_BYTES};
    use crate::{Durability, Engine, EngineConfig, IndexBackend, NewObject, PublishedBlob};

    fn open(dir: &std::path::Path) -> Engine {
        let mut cfg = EngineConfig::new(dir);
        (cfg.index, cfg.durability) = (IndexBackend::Rocks, Durability::None);
        Engine::open(&cfg).unwrap()
    }

    fn bytes(len: usize, salt: u8) -> Bytes {
        (0..len).map(|i| (i % 251) as u8 ^ salt).collect()
    }

    async fn publish(engine: &Engine, data: &Bytes) -> PublishedBlob {
        let mut sink = engine.begin_ingest(DigestSet::default(), u64::MAX).await.unwrap();
        sink.write(data.clone()).await.unwrap();
        engine.publish(sink.finish().await.unwrap()).await.unwrap()
    }

    async fn commit(engine: &Engine, key: &str, blob: &PublishedBlob, overwrite: bool) {
        let record = FileRecord::plain(blob.sums.blake3, blob.sums.len);
        let object =
            NewObject { bucket: "b".into(), key: key.into(), record, overwrite, links: Vec::new(), pack: blob.pack };
        engine.commit(vec![object]).await.unwrap();
    }

    async fn read(engine: &Engine, key: &str) -> Vec<u8> {
        let record = engine.stat("b", key).unwrap().unwrap();
        let body = engine.open_range(&record, 0, record.size).await.unwrap();
        let (r, back) = body.file.read_exact_at(vec![0u8; record.size as usize], body.offset).await;
        r.unwrap();
        back
    }

    /// The bytes at a pack location as they are on disk now.
    fn pack_bytes(dir: &std::path::Path, blob: &PublishedBlob, len: usize) -> Vec<u8> {
        let loc = blob.pack.unwrap();
        let path = dir.join("packs").join(format!("{:016x}.pack", loc.pack));
        let mut b = vec![0xEE; len];
        std::fs::File::open(path).unwrap().read_exact_at(&mut b, loc.offset).unwrap();
        b
    }

    fn file_blob_exists(dir: &std::path::Path, blob: &PublishedBlob) -> bool {
        crate::blobs::Layout::new(dir).blob_path(&blob.sums.blake3).exists()
    }

    #[test]
    fn what_no_record_names_is_given_back_at_the_next_start_and_nothing_named_is_touched() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let large = SMALL_OBJECT_MAX_BYTES as usize + 5000;
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().build().unwrap();
        let (kept_small, kept_large, lost_small, lost_large, old_small, old_large, new) = (
            bytes(10_000, 1),
            bytes(large, 2),
            bytes(20_000, 3),
            bytes(large, 4),
            bytes(30_000, 5),
            bytes(large, 6),
            bytes(40_000, 7),
        );

        // Run 1: two objects committed; two published whose commit never came (a crash, a
        // refused commit); two committed, then overwritten (their blobs drop to zero refs).
        let engine = open(dir);
        assert_eq!(
            engine.swept_garbage(),
            Some(&GarbageSwept { took: engine.swept_garbage().unwrap().took, ..Default::default() })
        );
        let (lost_small_blob, lost_large_blob, old_small_blob) = rt.block_on(async {
            commit(&engine, "kept-small", &publish(&engine, &kept_small).await, false).await;
            commit(&engine, "kept-large", &publish(&engine, &kept_large).await, false).await;
            let lost_small_blob = publish(&engine, &lost_small).await;
            let lost_large_blob = publish(&engine, &lost_large).await;
            let old_small_blob = publish(&engine, &old_small).await;
            commit(&engine, "old-small", &old_small_blob, false).await;
            commit(&engine, "old-large", &publish(&engine, &old_large).await, false).await;
            let new_blob = publish(&engine, &new).await;
            commit(&engine, "old-small", &new_blob, true).await;
            commit(&engine, "old-large", &new_blob, true).await;
            (lost_small_blob, lost_large_blob, old_small_blob)
        });
        let old_large_blob_path = crate::blobs::Layout::new(dir).blob_path(&blake3::hash(&old_large).into());
        assert!(file_blob_exists(dir, &lost_large_blob) && old_large_blob_path.exists());
        assert!(pack_bytes(dir, &lost_small_blob, 20_000) == lost_small);
        drop(engine);

        // Run 2: the sweep gives back all four, and the named objects read back whole.
        let engine = open(dir);
        let swept = engine.swept_garbage().unwrap().clone();
        assert_eq!(swept.zero_ref_records, 2, "{swept:?}");
        assert_eq!(swept.files_removed, 2, "{swept:?}");
        assert_eq!((swept.packs_removed, swept.packs_punched), (0, 1), "{swept:?}");
        let at_least = 2 * large as u64 + 20_000 + 30_000;
        assert!(swept.bytes_freed >= at_least, "{swept:?} freed less than {at_least}");
        assert!(!file_blob_exists(dir, &lost_large_blob) && !old_large_blob_path.exists());
        assert!(pack_bytes(dir, &lost_small_blob, 20_000) == vec![0; 20_000], "a hole now");
        assert!(pack_bytes(dir, &old_small_blob, 30_000) == vec![0; 30_000], "a hole now");
        rt.block_on(async {
            assert!(read(&engine, "kept-small").await == kept_small);
            assert!(read(&engine, "kept-large").await == kept_large);
            assert!(read(&engine, "old-small").await == new);
            assert!(read(&engine, "old-large").await == new);
            // The bytes of a dropped zero-reference record are stored afresh, not deduplicated
            // against a record whose bytes are gone.
            let again = publish(&engine, &old_small).await;
            assert!(!again.deduplicated);
            commit(&engine, "again", &again, false).await;
            assert!(read(&engine, "again").await == old_small);
            // Left uncommitted in this run's pack, the only thing in it.
            publish(&engine, &bytes(5000, 8)).await;
        });
        drop(engine);

        // Run 3: run 2's pack still names "again" and is punched; nothing else is left to do.
        let engine = open(dir);
        let swept = engine.swept_garbage().unwrap().clone();
        assert_eq!((swept.zero_ref_records, swept.files_removed, swept.packs_removed), (0, 0, 0), "{swept:?}");
        assert_eq!(swept.packs_punched, 1, "{swept:?}");
        rt.block_on(async {
            // Run 3 leaves a pack holding nothing named.
            publish(&engine, &bytes(6000, 9)).await;
        });
        drop(engine);

        // Run 4: run 3's pack goes; every named object is still whole.
        let engine = open(dir);
        let swept = engine.swept_garbage().unwrap().clone();
        assert_eq!((swept.packs_removed, swept.packs_punched, swept.files_removed), (1, 0, 0), "{swept:?}");
        rt.block_on(async {
            for (key, want) in [("kept-small", &kept_small), ("kept-large", &kept_large), ("again", &old_small)] {
                assert!(read(&engine, key).await == *want, "{key}");
            }
        });
    }

    #[test]
    fn a_zero_reference_blob_a_file_record_still_names_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let data = bytes(10_000, 1);
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().build().unwrap();
        let engine = open(tmp.path());
        let blob = rt.block_on(async {
            let blob = publish(&engine, &data).await;
            commit(&engine, "k", &blob, false).await;
            blob
        });
        drop(engine);
        // A refcount bug's result, made by hand: the blob at zero references, its file record there.
        let index = crate::index::rocks::RocksIndex::open(&crate::blobs::Layout::new(tmp.path()).index_dir()).unwrap();
        let b3 = blob.sums.blake3;
        let mut record = BlobRecord::decode(&index.get(Cf::Blobs, &b3).unwrap().unwrap()).unwrap();
        record.refs = 0;
        let mut batch = Batch::default();
        batch.put(Cf::Blobs, b3.to_vec(), record.encode());
        index.write(&batch, true).unwrap();
        drop(index);

        let engine = open(tmp.path());
        let swept = engine.swept_garbage().unwrap().clone();
        assert_eq!((swept.zero_ref_records, swept.bytes_freed), (0, 0), "{swept:?}");
        assert!(rt.block_on(read(&engine, "k")) == data);
    }

    #[test]
    fn records_are_read_page_by_page_each_once_in_key_order() {
        let index = crate::index::mem::MemIndex::new();
        let mut batch = Batch::default();
        for i in 0..10u8 {
            batch.put(Cf::Blobs, vec![i], vec![i]);
            // A key that extends the previous one: the next page starts right after `[i]`.
            batch.put(Cf::Blobs, vec![i, 0], vec![i]);
        }
        batch.put(Cf::Files, vec![0], vec![0]);
        index.write(&batch, false).unwrap();
        for page_len in [1, 3, 20, 21, SCAN_PAGE] {
            let mut seen = Vec::new();
            for_each_record_paged(&index, Cf::Blobs, page_len, |k, _| {
                seen.push(k.to_vec());
                Ok(())
            })
            .unwrap();
            let want: Vec<Vec<u8>> = (0..10u8).flat_map(|i| [vec![i], vec![i, 0]]).collect();
            assert_eq!(seen, want, "pages of {page_len}");
        }
    }

    #[test]
    fn an_in_memory_index_sweeps_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let mut cfg = EngineConfig::new(tmp.path());
        cfg.index = IndexBackend::Memory;
        let engine = Engine::open(&cfg).unwrap();
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().build().unwrap();
        let blob = rt.block_on(publish(&engine, &bytes(1000, 1)));
        drop(engine);
        // The next open's index knows nothing, so it must not take the bytes for garbage.
        let engine = Engine::open(&cfg).unwrap();
        assert_eq!(engine.swept_garbage(), None);
        assert!(pack_bytes(tmp.path(), &blob, 1000) == bytes(1000, 1));
    }
}
