//! `IngestSink`: where one object's bytes go while they arrive.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use monoio::task::JoinHandle;

use super::digest::{DigestSet, DigestSums, Digests};
use super::Error;
use crate::blobs::{BlobStore, TmpBlob};
use crate::media::PROBE_PREFIX_BYTES;
use crate::stats::Stats;
use crate::Durability;

/// Writes allowed in flight per object: enough to keep the disk busy while the worker hashes,
/// few enough that memory stays flat (each holds one body chunk).
pub(crate) const MAX_WRITES_IN_FLIGHT: usize = 4;

/// An object being received.
pub struct IngestSink {
    tmp: TmpBlob,
    digests: Digests,
    offset: u64,
    limit: u64,
    inflight: VecDeque<JoinHandle<std::io::Result<()>>>,
    head: Vec<Bytes>,
    head_len: usize,
    durability: Durability,
    stats: std::sync::Arc<Stats>,
}

/// A fully received object, synced per the durability mode, not yet published.
pub struct Ingested {
    /// The tmp file holding the bytes.
    pub tmp: TmpBlob,
    /// Its digests.
    pub sums: DigestSums,
    /// The first bytes of the object (up to `PROBE_PREFIX_BYTES`).
    pub head: Bytes,
}

impl IngestSink {
    pub(crate) async fn new(
        store: &BlobStore,
        set: DigestSet,
        limit: u64,
        stats: std::sync::Arc<Stats>,
    ) -> Result<Self, Error> {
        Ok(Self {
            tmp: store.create_tmp().await?,
            digests: Digests::new(set),
            offset: 0,
            limit,
            inflight: VecDeque::with_capacity(MAX_WRITES_IN_FLIGHT),
            head: Vec::new(),
            head_len: 0,
            durability: store.durability(),
            stats,
        })
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        self.offset
    }

    /// True when nothing was received.
    pub fn is_empty(&self) -> bool {
        self.offset == 0
    }

    /// Takes the next chunk: starts its write, hashes it while the write is in flight.
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), Error> {
        if chunk.is_empty() {
            return Ok(());
        }
        let len = chunk.len() as u64;
        if self.offset + len > self.limit {
            return Err(Error::TooLarge { limit: self.limit });
        }
        if self.inflight.len() >= MAX_WRITES_IN_FLIGHT {
            if let Some(oldest) = self.inflight.pop_front() {
                oldest.await?;
            }
        }
        let file = self.tmp.file().clone();
        let offset = self.offset;
        let data = chunk.clone();
        self.inflight.push_back(monoio::spawn(async move {
            let (r, _) = file.write_all_at(data, offset).await;
            r
        }));
        self.digests.update(&chunk);
        if self.head_len < PROBE_PREFIX_BYTES {
            let take = chunk.len().min(PROBE_PREFIX_BYTES - self.head_len);
            self.head.push(chunk.slice(..take));
            self.head_len += take;
        }
        self.offset += len;
        self.stats.add_bytes_ingested(len);
        Ok(())
    }

    /// Waits for every write, syncs per the durability mode, finishes the digests.
    pub async fn finish(mut self) -> Result<Ingested, Error> {
        while let Some(w) = self.inflight.pop_front() {
            w.await?;
        }
        if self.durability != Durability::None {
            let started = Instant::now();
            self.tmp.sync_data().await?;
            self.stats.observe_fsync(started.elapsed());
        }
        let head = match self.head.len() {
            0 => Bytes::new(),
            1 => self.head.pop().unwrap_or_default(),
            _ => {
                let mut b = BytesMut::with_capacity(self.head_len);
                for part in &self.head {
                    b.extend_from_slice(part);
                }
                b.freeze()
            }
        };
        Ok(Ingested { tmp: self.tmp, sums: self.digests.finish(), head })
    }
}
