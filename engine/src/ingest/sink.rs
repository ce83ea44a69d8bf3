//! `IngestSink`: where one object's bytes go while they arrive.
//!
//! Chunks are hashed on the worker up to `hasher::OFFLOAD_AFTER` bytes; past that, when a core
//! is idle, the digest state moves to a hash thread, which hashes the windows as they are
//! written. While an object is smaller than one window its chunks are only kept (shared
//! `Bytes`, no copy) and no file exists for it: a small object ends in memory and is appended
//! to a pack when published (`blobs::packs`). Once it outgrows a window, a tmp
//! file is created and bytes are copied into 4 KiB-aligned 256 KiB windows written with
//! `O_DIRECT` (the page-cache copy would otherwise cost the same CPU that hashes), up to
//! [`MAX_WRITES_IN_FLIGHT`] at a time so hashing overlaps the disk; the unaligned tail is written
//! buffered. Filesystems without `O_DIRECT` get buffered writes.

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use monoio::task::JoinHandle;

use super::budget::{Charge, SMALL_OBJECT_MAX_BYTES};
use super::digest::{DigestSet, DigestSums, Digests};
use super::hasher::{Hashers, OffloadedDigests, Receiving, MAX_WINDOWS_HASHING, OFFLOAD_AFTER};
use super::window::{AlignedWindow, SmallObject, DIRECT_ALIGN, WINDOW_BYTES};
use super::Error;
use crate::blobs::{BlobStore, TmpBlob};
use crate::media::PROBE_PREFIX_BYTES;
use crate::stats::Stats;
use crate::Durability;

/// Writes allowed in flight per object: enough to keep the disk busy while the worker hashes,
/// few enough that memory stays flat (each holds one 256 KiB window).
pub(crate) const MAX_WRITES_IN_FLIGHT: usize = 4;

// A windowed object's head is its first window: it must hold the whole probe prefix.
const _: () = assert!(PROBE_PREFIX_BYTES <= WINDOW_BYTES);

enum Direct {
    /// Not tried yet (the object has not filled a window).
    Untried,
    /// Open with `O_DIRECT`.
    Open(Rc<monoio::fs::File>),
    /// Refused by the filesystem.
    Unavailable,
}

/// An object being received.
pub struct IngestSink {
    store: BlobStore,
    /// Created when the object outgrows one window.
    tmp: Option<TmpBlob>,
    direct: Direct,
    /// Chunks of an object that is still small (packed at `finish`).
    small: Vec<Bytes>,
    small_len: usize,
    /// What `small` holds against the shared memory budget (`None` once windowed).
    charge: Option<Charge>,
    /// The object outgrew [`SMALL_OBJECT_MAX_BYTES`] or the memory budget: its bytes go through
    /// aligned windows into a tmp file.
    windowed: bool,
    window: AlignedWindow,
    /// File offset of the window's first byte.
    window_offset: u64,
    /// On the worker until the object passes [`OFFLOAD_AFTER`]; `None` once offloaded.
    digests: Option<Digests>,
    /// A hash thread's, from then on.
    offloaded: Option<OffloadedDigests>,
    /// Windows the hash thread has not hashed yet (oldest first).
    hashing: VecDeque<futures::channel::oneshot::Receiver<()>>,
    hashers: Hashers,
    _receiving: Receiving,
    received: u64,
    limit: u64,
    inflight: VecDeque<JoinHandle<std::io::Result<()>>>,
    /// A windowed object's first bytes: its first window, shared with that window's write.
    head: Bytes,
    stats: std::sync::Arc<Stats>,
}

/// A fully received object, not yet published.
pub struct Ingested {
    /// Where its bytes are.
    pub(crate) bytes: IngestedBytes,
    /// Its digests.
    pub sums: DigestSums,
    /// The first bytes of the object (up to `PROBE_PREFIX_BYTES`), a view of bytes the sink
    /// holds anyway (no copy of their own).
    pub head: Bytes,
}

impl Ingested {
    /// All of the object's bytes when it was small enough to be kept in memory (a preview can
    /// then be rendered without reading the blob back).
    pub fn in_memory(&self) -> Option<&Bytes> {
        match &self.bytes {
            IngestedBytes::InMemory { small, .. } => Some(small.bytes()),
            IngestedBytes::Tmp(_) => None,
        }
    }
}

/// Where an ingested object's bytes are.
pub(crate) enum IngestedBytes {
    /// Small: in memory (published into a pack), charged to the memory budget until dropped.
    InMemory {
        /// The bytes.
        small: SmallObject,
        /// Given back when the bytes are (after the pack write).
        _charge: Charge,
    },
    /// A tmp file, synced per the durability mode (published by rename).
    Tmp(TmpBlob),
}

impl IngestSink {
    pub(crate) fn new(
        store: &BlobStore,
        hashers: &Hashers,
        set: DigestSet,
        limit: u64,
        charge: Charge,
        stats: std::sync::Arc<Stats>,
    ) -> Self {
        Self {
            store: store.clone(),
            tmp: None,
            direct: if store.direct_io() { Direct::Untried } else { Direct::Unavailable },
            small: Vec::new(),
            small_len: 0,
            charge: Some(charge),
            windowed: false,
            window: AlignedWindow::new(),
            window_offset: 0,
            digests: Some(Digests::new(set)),
            offloaded: None,
            hashing: VecDeque::with_capacity(MAX_WINDOWS_HASHING),
            hashers: hashers.clone(),
            _receiving: hashers.receiving(),
            received: 0,
            limit,
            inflight: VecDeque::with_capacity(MAX_WRITES_IN_FLIGHT),
            head: Bytes::new(),
            stats,
        }
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        self.received
    }

    /// True when nothing was received.
    pub fn is_empty(&self) -> bool {
        self.received == 0
    }

    /// Takes the next chunk: hashes it, keeps it (small objects) or copies it into the window,
    /// writing full windows.
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), Error> {
        if chunk.is_empty() {
            return Ok(());
        }
        let len = chunk.len() as u64;
        if self.received + len > self.limit {
            return Err(Error::TooLarge { limit: self.limit });
        }
        if self.windowed && self.received >= OFFLOAD_AFTER && self.digests.is_some() && self.hashers.has_idle_core() {
            if let Some(digests) = self.digests.take() {
                // Everything received so far is hashed; the windows hold it all from offset 0.
                self.offloaded = Some(self.hashers.start(digests, self.received));
            }
        }
        if let Some(digests) = &mut self.digests {
            digests.update(&chunk);
        }
        self.received += len;
        self.stats.add_bytes_ingested(len);
        if !self.windowed {
            let stays_small = self.small_len as u64 + len <= SMALL_OBJECT_MAX_BYTES
                && self.charge.as_mut().is_some_and(|c| c.grow(len));
            if stays_small {
                self.small_len += chunk.len();
                self.small.push(chunk);
                return Ok(());
            }
            // Too large to pack, or the memory budget is spent: from here on the object's
            // bytes go through windows into a tmp file.
            self.tmp = Some(self.store.create_tmp().await?);
            self.windowed = true;
            for piece in std::mem::take(&mut self.small) {
                self.fill_window(&piece).await?;
            }
            self.charge = None;
        }
        self.fill_window(&chunk).await
    }

    /// Copies `data` into the window, writing each window that fills.
    async fn fill_window(&mut self, data: &[u8]) -> Result<(), Error> {
        let mut rest = data;
        while !rest.is_empty() {
            let n = self.window.fill(rest);
            rest = &rest[n..];
            if self.window.room() == 0 {
                self.flush_window().await?;
            }
        }
        Ok(())
    }

    /// The tmp file (exists once the object is windowed).
    fn tmp(&self) -> Result<&TmpBlob, Error> {
        self.tmp
            .as_ref()
            .ok_or_else(|| Error::Io(std::io::Error::other("ingest sink: window written before its tmp file")))
    }

    /// Writes the full window (direct when possible).
    async fn flush_window(&mut self) -> Result<(), Error> {
        if let Direct::Untried = self.direct {
            self.direct = match self.tmp()?.open_direct().await? {
                Some(f) => Direct::Open(f),
                None => {
                    self.store.disable_direct_io();
                    Direct::Unavailable
                }
            };
        }
        let data = self.window.take();
        let offset = self.window_offset;
        if offset == 0 {
            // A full first window holds the whole probe prefix.
            self.head = data.slice(..data.len().min(PROBE_PREFIX_BYTES));
        }
        self.window_offset += data.len() as u64;
        let file = match &self.direct {
            Direct::Open(f) => f.clone(),
            _ => self.tmp()?.file().clone(),
        };
        self.send_to_hasher(&data, offset).await?;
        self.spawn_write(file, data, offset).await
    }

    /// Once offloaded, queues the window for the hash thread, first waiting for the oldest
    /// window still being hashed when [`MAX_WINDOWS_HASHING`] are.
    async fn send_to_hasher(&mut self, data: &Bytes, offset: u64) -> Result<(), Error> {
        let Some(offloaded) = &mut self.offloaded else { return Ok(()) };
        let hashed = offloaded.send(data.clone(), offset)?;
        if self.hashing.len() >= MAX_WINDOWS_HASHING {
            if let Some(oldest) = self.hashing.pop_front() {
                oldest.await.map_err(|_| std::io::Error::other("the hash thread is gone"))?;
            }
        }
        self.hashing.push_back(hashed);
        Ok(())
    }

    /// The finished digests, from the worker or the hash thread.
    async fn finish_digests(&mut self) -> Result<DigestSums, Error> {
        if let Some(digests) = self.digests.take() {
            return Ok(digests.finish());
        }
        let offloaded =
            self.offloaded.take().ok_or_else(|| std::io::Error::other("ingest sink: digests already finished"))?;
        self.hashing.clear(); // `finish` answers after every queued window
        Ok(offloaded.finish().await?)
    }

    async fn spawn_write(&mut self, file: Rc<monoio::fs::File>, data: Bytes, offset: u64) -> Result<(), Error> {
        if self.inflight.len() >= MAX_WRITES_IN_FLIGHT {
            if let Some(oldest) = self.inflight.pop_front() {
                oldest.await?;
            }
        }
        self.inflight.push_back(monoio::spawn(async move {
            let (r, _) = file.write_all_at(data, offset).await;
            r
        }));
        Ok(())
    }

    /// Finishes the digests; a windowed object's writes are completed and synced per the
    /// durability mode, a small one stays in memory.
    pub async fn finish(mut self) -> Result<Ingested, Error> {
        if !self.windowed {
            let small = SmallObject::gather(std::mem::take(&mut self.small), self.small_len);
            let head = small.bytes().slice(..self.small_len.min(PROBE_PREFIX_BYTES));
            let sums = self.finish_digests().await?;
            let charge =
                self.charge.take().ok_or_else(|| std::io::Error::other("ingest sink: small object uncharged"))?;
            return Ok(Ingested { bytes: IngestedBytes::InMemory { small, _charge: charge }, sums, head });
        }
        let rest = self.window.take();
        // An object windowed for want of memory budget may end inside its first window.
        let head = if self.window_offset == 0 {
            rest.slice(..rest.len().min(PROBE_PREFIX_BYTES))
        } else {
            std::mem::take(&mut self.head)
        };
        if !rest.is_empty() {
            let offset = self.window_offset;
            let aligned = rest.len() / DIRECT_ALIGN * DIRECT_ALIGN;
            let direct = match &self.direct {
                Direct::Open(f) if aligned > 0 => Some(f.clone()),
                _ => None,
            };
            self.send_to_hasher(&rest, offset).await?;
            match direct {
                Some(f) => {
                    self.spawn_write(f, rest.slice(..aligned), offset).await?;
                    if aligned < rest.len() {
                        let file = self.tmp()?.file().clone();
                        self.spawn_write(file, rest.slice(aligned..), offset + aligned as u64).await?;
                    }
                }
                None => {
                    let file = self.tmp()?.file().clone();
                    self.spawn_write(file, rest, offset).await?;
                }
            }
        }
        while let Some(w) = self.inflight.pop_front() {
            w.await?;
        }
        // `group` leaves the data sync to the index writer (one syncfs per group); only
        // `strict` syncs each object here.
        let tmp = self.tmp.take().ok_or_else(|| Error::Io(std::io::Error::other("ingest sink: no tmp file")))?;
        if self.store.durability() == Durability::Strict {
            let started = Instant::now();
            tmp.sync_data().await?;
            self.stats.observe_fsync(started.elapsed());
        }
        let sums = self.finish_digests().await?;
        Ok(Ingested { bytes: IngestedBytes::Tmp(tmp), sums, head })
    }
}
