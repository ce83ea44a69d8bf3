//! The `Engine` facade: the only door the API layer uses to store, find and read objects.
//!
//! Storing is three steps the caller strings together: [`Engine::begin_ingest`] (stream bytes
//! into an [`IngestSink`]), [`Engine::publish`] (make the bytes a content-addressed blob),
//! [`Engine::commit`] (write the file records, refcounts and listings in one index batch). A
//! response may claim success only after `commit` returned.

use std::path::PathBuf;
use std::sync::Arc;

use crate::blobs::{BlobStore, Layout, PackLoc};
use crate::dir_lock::DirLock;
use crate::error::{Error, ErrorClass, Result};
use crate::full_gate::FullGate;
use crate::garbage::{self, GarbageSwept};
use crate::http::FileBody;
use crate::index::keys::{self, MAX_BUCKET_BYTES, MAX_KEY_BYTES};
use crate::index::mem::MemIndex;
use crate::index::records::{self, BlobRecord, FileRecord};
use crate::index::rocks::RocksIndex;
use crate::index::writer::{DataSync, IndexWriter};
use crate::index::{Batch, Cf, Index};
use crate::ingest::{DigestSet, DigestSums, Hashers, IngestSink, Ingested, IngestedBytes, MemoryBudget};
use crate::media::BlockingPool;
use crate::stats::Stats;
use crate::{EngineConfig, IndexBackend};

/// A blob whose bytes are on disk (a file named by its BLAKE3, or a range of a pack), not yet
/// referenced by a record.
#[derive(Debug, Clone)]
pub struct PublishedBlob {
    /// Its digests (and size).
    pub sums: DigestSums,
    /// The blob already existed (dedup): no bytes were written.
    pub deduplicated: bool,
    /// Where the bytes were written when they went into a pack (`None`: a file of its own, or
    /// deduplicated). Goes into [`NewObject::pack`].
    pub pack: Option<PackLoc>,
}

/// A file record to write.
#[derive(Debug, Clone)]
pub struct NewObject {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// The record.
    pub record: FileRecord,
    /// Replace an existing object under the same key.
    pub overwrite: bool,
    /// Listings to add it to: `(collection, member)`.
    pub links: Vec<(String, String)>,
    /// [`PublishedBlob::pack`] of the blob the record points at: recorded with the blob when
    /// this commit is the one that makes it known.
    pub pack: Option<PackLoc>,
}

/// An object as stored.
#[derive(Debug, Clone)]
pub struct StoredObject {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Its record.
    pub record: FileRecord,
}

/// The storage engine of one data directory. Shared by all workers (`Arc`).
pub struct Engine {
    store: BlobStore,
    index: Arc<dyn Index>,
    writer: IndexWriter,
    media: BlockingPool,
    hashers: Hashers,
    small_objects: MemoryBudget,
    full: FullGate,
    stats: Arc<Stats>,
    swept_tmp: usize,
    swept_garbage: Option<GarbageSwept>,
    /// Last, so it is let go only after everything above has closed.
    _lock: DirLock,
}

impl Engine {
    /// Opens the data directory: its lock (another process holding it is an error), directories,
    /// index, tmp sweep, garbage sweep, writer thread, media pool. Blocking; call before the
    /// workers start.
    pub fn open(cfg: &EngineConfig) -> Result<Self> {
        // An I/O error here names the directory: "File exists" alone (a data_dir that is a
        // regular file) or "Permission denied" left the operator guessing which path.
        let named = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::WouldBlock => e, // the lock's message names it already
            kind => std::io::Error::new(kind, format!("{}: {e}", cfg.data_dir.display())),
        };
        let lock = DirLock::acquire(&cfg.data_dir).map_err(named)?;
        let layout = Layout::new(cfg.data_dir.clone());
        let (store, swept_tmp) = BlobStore::open(layout.clone(), cfg.durability).map_err(named)?;
        let index: Arc<dyn Index> = match cfg.index {
            IndexBackend::Rocks => Arc::new(RocksIndex::open(&layout.index_dir())?),
            IndexBackend::Memory => Arc::new(MemIndex::new()),
        };
        // Only a persistent index can tell garbage: the in-memory one starts empty, so every
        // byte an earlier run left would look unnamed.
        let swept_garbage = match cfg.index {
            IndexBackend::Rocks => match garbage::sweep(&store, index.as_ref()) {
                Ok(swept) => Some(swept),
                Err(e) => {
                    tracing::warn!(error = %e, "the start-up garbage sweep stopped; unreferenced bytes stay until the next start");
                    None
                }
            },
            IndexBackend::Memory => None,
        };
        let stats = Arc::new(Stats::default());
        let data_sync: Option<DataSync> = match cfg.durability {
            crate::Durability::Group => {
                let (store, stats) = (store.clone(), stats.clone());
                Some(Box::new(move || {
                    let started = std::time::Instant::now();
                    // Groups with nothing to sync (deduplicated uploads) are not observed.
                    if store.sync_pending_blocking()? {
                        stats.observe_fsync(started.elapsed());
                    }
                    Ok(())
                }))
            }
            _ => None,
        };
        let writer = IndexWriter::start_with_data_sync(index.clone(), cfg.durability, data_sync);
        Ok(Self {
            store,
            index,
            writer,
            media: BlockingPool::new(cfg.media_threads.max(1), cfg.media_queue.max(1)),
            hashers: Hashers::new(crate::ingest::hasher::default_threads()),
            small_objects: MemoryBudget::new(cfg.small_objects_memory),
            full: FullGate::default(),
            stats,
            swept_tmp,
            swept_garbage,
            _lock: lock,
        })
    }

    /// How many leftover tmp files the start-up sweep removed.
    pub fn swept_tmp_files(&self) -> usize {
        self.swept_tmp
    }

    /// What the start-up garbage sweep gave back (`None`: it did not run, or stopped on an
    /// error it logged).
    pub fn swept_garbage(&self) -> Option<&GarbageSwept> {
        self.swept_garbage.as_ref()
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.store.layout().root().to_path_buf()
    }

    /// Shared counters.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// The bounded pool for blocking media work.
    pub fn media_pool(&self) -> &BlockingPool {
        &self.media
    }

    /// The on-disk path of a published blob that is a file of its own (for blocking readers on
    /// the media pool only); `None` for a packed blob, or one that was deduplicated into a pack.
    pub fn blob_file(&self, blob: &PublishedBlob) -> Result<Option<PathBuf>> {
        if blob.pack.is_some() || self.blob_pack(&blob.sums.blake3)?.is_some() {
            return Ok(None);
        }
        Ok(Some(self.store.layout().blob_path(&blob.sums.blake3)))
    }

    /// Where a recorded blob sits in a pack; `None` for a file of its own (or an unknown blob).
    fn blob_pack(&self, b3: &[u8; 32]) -> Result<Option<PackLoc>> {
        match self.index.get(Cf::Blobs, b3)? {
            Some(v) => Ok(BlobRecord::decode(&v)?.pack),
            None => Ok(None),
        }
    }

    /// Starts receiving an object of at most `limit` bytes.
    pub async fn begin_ingest(&self, digests: DigestSet, limit: u64) -> Result<IngestSink> {
        Ok(IngestSink::new(&self.store, &self.hashers, digests, limit, self.small_objects.charge(), self.stats.clone()))
    }

    /// Stores bytes already in memory (small objects such as previews).
    pub async fn ingest_bytes(&self, data: bytes::Bytes) -> Result<Ingested> {
        let mut sink = self.begin_ingest(DigestSet::default(), u64::MAX).await?;
        sink.write(data).await?;
        Ok(sink.finish().await?)
    }

    /// Makes received bytes a blob (or drops them if it exists): small objects are appended to
    /// a pack, large ones renamed to a file named by their BLAKE3.
    ///
    /// A blob record is written only after its bytes were published, so a record means the bytes
    /// are there (the start-up garbage sweep, `garbage.rs`, removes a record before its bytes).
    /// Without a record the bytes are (re)published: renaming over an orphan with the same name
    /// replaces identical bytes; a pack append lands in fresh space.
    ///
    /// While the store is full, new bytes are refused here before they are written, but for a
    /// probe now and then (`full_gate.rs`).
    pub async fn publish(&self, ingested: Ingested) -> Result<PublishedBlob> {
        let b3 = ingested.sums.blake3;
        let deduplicated = self.index.get(Cf::Blobs, &b3)?.is_some();
        if !deduplicated && !self.full.admit() {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "storage full: new bytes are refused until space is back",
            )));
        }
        let result = self.publish_bytes(ingested, deduplicated).await;
        if let Err(e) = &result {
            if e.class() == ErrorClass::Full {
                self.full.close();
            }
        }
        result
    }

    async fn publish_bytes(&self, ingested: Ingested, deduplicated: bool) -> Result<PublishedBlob> {
        let b3 = ingested.sums.blake3;
        let mut pack = None;
        match ingested.bytes {
            _ if deduplicated => {}
            IngestedBytes::InMemory { small, .. } => {
                let started = std::time::Instant::now();
                pack = Some(self.store.append_packed(small).await?);
                if self.store.durability() == crate::Durability::Strict {
                    self.stats.observe_fsync(started.elapsed());
                }
            }
            IngestedBytes::Tmp(tmp) => self.store.publish(tmp, &b3).await?,
        }
        Ok(PublishedBlob { sums: ingested.sums, deduplicated, pack })
    }

    /// Writes the records of `objects` in one atomic index batch: file records, blob refcounts
    /// (an overwritten object's old blob loses a reference), listings.
    pub async fn commit(&self, objects: Vec<NewObject>) -> Result<Vec<StoredObject>> {
        for o in &objects {
            keys::check_part("bucket", &o.bucket, MAX_BUCKET_BYTES)?;
            keys::check_part("key", &o.key, MAX_KEY_BYTES)?;
            for (c, m) in &o.links {
                keys::check_part("collection", c, MAX_KEY_BYTES)?;
                keys::check_part("member", m, MAX_KEY_BYTES)?;
            }
        }
        let stored: Vec<StoredObject> = objects
            .iter()
            .map(|o| StoredObject { bucket: o.bucket.clone(), key: o.key.clone(), record: o.record.clone() })
            .collect();
        let result = self
            .writer
            .apply(move |view| {
                let mut batch = Batch::default();
                // Refcount changes accumulate here so two objects sharing a blob count twice.
                let mut refs: std::collections::BTreeMap<[u8; 32], (i64, u64, Option<PackLoc>)> = Default::default();
                for o in &objects {
                    let fkey = keys::join(&o.bucket, &o.key);
                    if let Some(old) = view.get(Cf::Files, &fkey)? {
                        if !o.overwrite {
                            return Err(crate::index::Error::Conflict(format!("exists:{}\0{}", o.bucket, o.key)));
                        }
                        let old: FileRecord = records::decode(&old)?;
                        refs.entry(old.blake3).or_insert((0, old.size, None)).0 -= 1;
                    }
                    let entry = refs.entry(o.record.blake3).or_insert((0, o.record.size, o.pack));
                    entry.0 += 1;
                    entry.2 = entry.2.or(o.pack);
                    batch.put(Cf::Files, fkey.clone(), records::encode(&o.record));
                    for (c, m) in &o.links {
                        batch.put(Cf::Links, keys::join(c, m), fkey.clone());
                    }
                }
                for (b3, (delta, size, pack)) in refs {
                    if delta == 0 {
                        continue;
                    }
                    // The first commit of a blob records where its bytes are; later ones (dedup,
                    // or the loser of a race whose bytes become garbage) only count.
                    let current = match view.get(Cf::Blobs, &b3)? {
                        Some(v) => BlobRecord::decode(&v)?,
                        None => BlobRecord { size, refs: 0, pack },
                    };
                    let refs = (current.refs as i64 + delta).max(0) as u64;
                    // A blob at zero references stays recorded (a later upload of the same bytes is
                    // still a dedup) until the next start's garbage sweep removes it, then its bytes.
                    batch.put(Cf::Blobs, b3.to_vec(), BlobRecord { refs, ..current }.encode());
                }
                Ok(batch)
            })
            .await;
        match &result {
            Ok(()) => self.full.open(),
            Err(crate::index::Error::Full(_)) => self.full.close(),
            Err(_) => {}
        }
        match result {
            Ok(()) => Ok(stored),
            Err(crate::index::Error::Conflict(msg)) if msg.starts_with("exists:") => {
                let (bucket, key) = msg["exists:".len()..].split_once('\0').unwrap_or(("", ""));
                Err(Error::Exists { bucket: bucket.to_owned(), key: key.to_owned() })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The record of `bucket/key`.
    pub fn stat(&self, bucket: &str, key: &str) -> Result<Option<FileRecord>> {
        if keys::check_part("bucket", bucket, MAX_BUCKET_BYTES).is_err()
            || keys::check_part("key", key, MAX_KEY_BYTES).is_err()
        {
            return Ok(None);
        }
        match self.index.get(Cf::Files, &keys::join(bucket, key))? {
            Some(v) => Ok(Some(records::decode(&v)?)),
            None => Ok(None),
        }
    }

    /// The reference count of a blob (0 when unknown).
    pub fn blob_refs(&self, b3: &[u8; 32]) -> Result<u64> {
        match self.index.get(Cf::Blobs, b3)? {
            Some(v) => Ok(BlobRecord::decode(&v)?.refs),
            None => Ok(0),
        }
    }

    /// Opens bytes `offset .. offset + len` of a record's content as a response body, after
    /// checking that the file holding them is there and long enough: a record whose bytes are
    /// gone is [`Error::Damaged`] (a server fault), never a 404 or a body cut short after its
    /// headers went out.
    pub async fn open_range(&self, record: &FileRecord, offset: u64, len: u64) -> Result<FileBody> {
        let pack = self.blob_pack(&record.blake3)?;
        let damaged = |what: String| Error::Damaged(format!("blob {}: {what}", hex::encode(record.blake3)));
        let (file, base) = match self.store.open_blob(&record.blake3, pack).await {
            Ok(opened) => opened,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(damaged("its file is missing".into())),
            Err(e) => return Err(e.into()),
        };
        let have = file.metadata().await?.len();
        if have < base + record.size {
            return Err(damaged(format!("{have} bytes on disk, {} needed", base + record.size)));
        }
        Ok(FileBody { file, offset: base + offset, len })
    }

    /// The objects listed under `collection` whose member starts with `member_prefix`, in
    /// member order, at most `limit`.
    pub fn list(&self, collection: &str, member_prefix: &str, limit: usize) -> Result<Vec<StoredObject>> {
        let mut prefix = keys::prefix(collection);
        prefix.extend_from_slice(member_prefix.as_bytes());
        let mut out = Vec::new();
        for (_, fkey) in self.index.scan_prefix(Cf::Links, &prefix, None, limit)? {
            let Some((bucket, key)) = keys::split(&fkey) else { continue };
            if let Some(v) = self.index.get(Cf::Files, &fkey)? {
                out.push(StoredObject { bucket: bucket.to_owned(), key: key.to_owned(), record: records::decode(&v)? });
            }
        }
        Ok(out)
    }

    /// Commits what is queued, flushes the index and stops the writer (shutdown).
    pub fn close(&self) {
        self.writer.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Durability;

    fn object(key: &str) -> NewObject {
        NewObject {
            bucket: "b".into(),
            key: key.into(),
            record: FileRecord::plain([1; 32], 1),
            overwrite: false,
            links: vec![("c".into(), key.into())],
            pack: None,
        }
    }

    fn open(durability: Durability) -> (tempfile::TempDir, Engine) {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = EngineConfig::new(dir.path());
        cfg.index = IndexBackend::Memory;
        cfg.durability = durability;
        let engine = Engine::open(&cfg).unwrap();
        (dir, engine)
    }

    #[test]
    fn group_mode_syncs_new_data_before_its_commit_and_none_never() {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().build().unwrap();
        let (_dir, engine) = open(Durability::Group);
        rt.block_on(async {
            // A packed blob written, then committed: one data sync, observed, before the commit.
            let ingested = engine.ingest_bytes(bytes::Bytes::from_static(b"new bytes")).await.unwrap();
            let blob = engine.publish(ingested).await.unwrap();
            assert!(blob.pack.is_some());
            let mut o = object("k1");
            (o.record.blake3, o.pack) = (blob.sums.blake3, blob.pack);
            engine.commit(vec![o]).await.unwrap();
            assert_eq!(engine.stats().fsync_histogram().count, 1);
            // Nothing written since: the next group syncs only the WAL.
            engine.commit(vec![object("k2")]).await.unwrap();
            assert_eq!(engine.stats().fsync_histogram().count, 1);
        });

        let (_dir, engine) = open(Durability::None);
        rt.block_on(async {
            let ingested = engine.ingest_bytes(bytes::Bytes::from_static(b"new bytes")).await.unwrap();
            engine.publish(ingested).await.unwrap();
            engine.commit(vec![object("k1")]).await.unwrap();
        });
        assert_eq!(engine.stats().fsync_histogram().count, 0);
    }

    #[test]
    fn commit_counts_references_and_refuses_overwrites_unless_asked() {
        let (_dir, engine) = open(Durability::None);
        futures::executor::block_on(engine.commit(vec![object("k1"), object("k2")])).unwrap();
        assert_eq!(engine.blob_refs(&[1; 32]).unwrap(), 2);
        let err = futures::executor::block_on(engine.commit(vec![object("k1")])).unwrap_err();
        assert!(matches!(err, Error::Exists { ref key, .. } if key == "k1"), "{err}");
        let mut again = object("k1");
        again.overwrite = true;
        again.record.blake3 = [2; 32];
        futures::executor::block_on(engine.commit(vec![again])).unwrap();
        assert_eq!(engine.blob_refs(&[1; 32]).unwrap(), 1);
        assert_eq!(engine.blob_refs(&[2; 32]).unwrap(), 1);
        assert_eq!(engine.list("c", "", 10).unwrap().len(), 2);
        assert_eq!(engine.stat("b", "k1").unwrap().unwrap().blake3, [2; 32]);
    }

    #[test]
    fn the_head_is_the_objects_first_bytes_and_the_stored_bytes_are_whole_however_they_arrived() {
        use crate::ingest::WINDOW_BYTES as WINDOW;
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().build().unwrap();
        let (_dir, engine) = open(Durability::None);
        // (object size, sizes of the pieces it arrives in; the last piece takes the rest)
        let shapes: &[(usize, &[usize])] = &[
            (0, &[]),
            (10, &[10]),
            (70_000, &[70_000]),
            (70_000, &[1, 4096, 30_000]),
            (WINDOW - 1, &[100, WINDOW - 101]),
            (WINDOW, &[WINDOW - 5]),
            (WINDOW + 1, &[3, 70_000, 70_000]),
            (3 * WINDOW + 5, &[65_536, 1, 200_000, 300_001]),
            (SMALL, &[WINDOW, 1, WINDOW]),
            (SMALL + 1, &[SMALL]),
            (SMALL + 1, &[3, SMALL - 10]),
            (3 * SMALL + 5, &[65_536, 1, 2 * SMALL]),
        ];
        rt.block_on(async {
            for (n, &(len, pieces)) in shapes.iter().enumerate() {
                let data = test_bytes(len, n);
                let ingested = ingest_in_pieces(&engine, &data, pieces).await;
                assert_eq!(ingested.in_memory().is_some(), len <= SMALL, "{len}");
                let blob = engine.publish(ingested).await.unwrap();
                assert_eq!(blob.pack.is_some(), len <= SMALL, "{len}");
                assert_stored(&engine, &format!("k{n}"), &blob, &data).await;
            }
        });
        assert_eq!(engine.small_objects.held(), 0, "every charge was given back");
    }

    #[test]
    fn small_objects_past_the_memory_budget_go_to_tmp_files_and_lose_nothing() {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = EngineConfig::new(dir.path());
        (cfg.index, cfg.durability, cfg.small_objects_memory) = (IndexBackend::Memory, Durability::None, 100_000);
        let engine = Engine::open(&cfg).unwrap();
        rt.block_on(async {
            let (a, b) = (test_bytes(70_000, 1), test_bytes(40_000, 2));
            // `a` holds 70 000 bytes of the budget while `b` arrives: b's first 20 000 fit
            // (90 000), its next 20 000 would not (110 000), so b goes to a tmp file.
            let mut sink_a = engine.begin_ingest(DigestSet::default(), u64::MAX).await.unwrap();
            sink_a.write(bytes::Bytes::copy_from_slice(&a)).await.unwrap();
            let ingested_b = ingest_in_pieces(&engine, &b, &[20_000]).await;
            assert!(ingested_b.in_memory().is_none(), "past the budget");
            let ingested_a = sink_a.finish().await.unwrap();
            assert!(ingested_a.in_memory().is_some());
            assert_eq!(engine.small_objects.held(), 70_000, "b gave its charge back");
            let blob_b = engine.publish(ingested_b).await.unwrap();
            let blob_a = engine.publish(ingested_a).await.unwrap();
            assert!(blob_a.pack.is_some() && blob_b.pack.is_none());
            assert_stored(&engine, "a", &blob_a, &a).await;
            assert_stored(&engine, "b", &blob_b, &b).await;
            assert_eq!(engine.small_objects.held(), 0);
            // The whole budget, exactly, is there again.
            let c = test_bytes(100_000, 3);
            let ingested_c = ingest_in_pieces(&engine, &c, &[50_000]).await;
            assert!(ingested_c.in_memory().is_some(), "N fits");
            drop(ingested_c);
            let d = test_bytes(100_001, 4);
            assert!(ingest_in_pieces(&engine, &d, &[50_000]).await.in_memory().is_none(), "N + 1 does not");
        });
    }

    #[test]
    fn bytes_gone_behind_the_servers_back_are_damage_not_a_missing_object() {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().build().unwrap();
        let (dir, engine) = open(Durability::None);
        rt.block_on(async {
            let (small, large) = (test_bytes(5000, 1), test_bytes(SMALL + 10, 2));
            let mut blobs = Vec::new();
            for (key, data) in [("small", &small), ("large", &large)] {
                let blob = engine.publish(ingest_in_pieces(&engine, data, &[]).await).await.unwrap();
                assert_stored(&engine, key, &blob, data).await;
                blobs.push(blob);
            }
            // A pack cut short, a blob file deleted.
            let loc = blobs[0].pack.unwrap();
            let pack = dir.path().join("packs").join(format!("{:016x}.pack", loc.pack));
            std::fs::OpenOptions::new().write(true).open(&pack).unwrap().set_len(loc.offset + 100).unwrap();
            std::fs::remove_file(crate::blobs::Layout::new(dir.path()).blob_path(&blobs[1].sums.blake3)).unwrap();
            for key in ["small", "large"] {
                let record = engine.stat("b", key).unwrap().unwrap();
                let err = engine.open_range(&record, 0, 10).await.err().expect("damage is an error");
                assert!(matches!(err, Error::Damaged(_)), "{key}: {err}");
                assert_eq!(err.class(), ErrorClass::Storage, "{key}: a server fault");
            }
        });
    }

    #[test]
    fn a_data_directory_that_cannot_be_one_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        for path in [file.clone(), file.join("sub")] {
            let mut cfg = EngineConfig::new(&path);
            cfg.index = IndexBackend::Memory;
            let err = Engine::open(&cfg).err().expect("not a directory");
            assert!(err.to_string().contains(&path.display().to_string()), "{err}");
        }
    }

    /// Objects up to this size are packed (`SMALL_OBJECT_MAX_BYTES`).
    const SMALL: usize = crate::ingest::SMALL_OBJECT_MAX_BYTES as usize;

    fn test_bytes(len: usize, salt: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + salt) as u8).collect()
    }

    /// Ingests `data` in pieces of the given sizes (the last piece takes the rest) and checks
    /// the head the sink gives back.
    async fn ingest_in_pieces(engine: &Engine, data: &[u8], pieces: &[usize]) -> Ingested {
        let len = data.len();
        let mut sink = engine.begin_ingest(DigestSet::default(), u64::MAX).await.unwrap();
        let mut at = 0;
        for &piece in pieces.iter().chain(std::iter::once(&usize::MAX)) {
            let end = at + piece.min(len - at);
            sink.write(bytes::Bytes::copy_from_slice(&data[at..end])).await.unwrap();
            at = end;
        }
        let ingested = sink.finish().await.unwrap();
        let want_head = &data[..len.min(crate::media::PROBE_PREFIX_BYTES)];
        assert!(&ingested.head[..] == want_head, "head of a {len}-byte object in {pieces:?}");
        ingested
    }

    /// Commits `blob` under `key` and checks that reading it back gives `data`.
    async fn assert_stored(engine: &Engine, key: &str, blob: &PublishedBlob, data: &[u8]) {
        let mut o = object(key);
        (o.record.blake3, o.record.size, o.pack) = (blob.sums.blake3, data.len() as u64, blob.pack);
        engine.commit(vec![o.clone()]).await.unwrap();
        let body = engine.open_range(&o.record, 0, data.len() as u64).await.unwrap();
        let (r, back) = body.file.read_exact_at(vec![0u8; data.len()], body.offset).await;
        r.unwrap();
        assert!(back == data, "stored bytes of {key} ({} bytes)", data.len());
    }
}
