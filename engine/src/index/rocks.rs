//! `RocksIndex`: the index on RocksDB — the only file that imports `rocksdb`.
//!
//! One column family per [`Cf`]. Writes arrive only from the writer thread, as one
//! `WriteBatch` per group; `sync` maps to `WriteOptions::set_sync` (one WAL fsync per group).

use std::path::Path;

use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};

use super::{Batch, Cf, Error, Index, Op, Pairs};

/// The index in a RocksDB database.
pub struct RocksIndex {
    db: DB,
}

fn store_err(e: rocksdb::Error) -> Error {
    classify(e.into_string())
}

/// RocksDB reports a full disk as an I/O error whose message carries the `kNoSpace` subcode's
/// fixed text (not the locale's `strerror`); that is the only way to tell it apart. RocksDB
/// refuses writes after such an error and resumes by itself once space is back.
fn classify(message: String) -> Error {
    if message.contains(NO_SPACE) {
        Error::Full(message)
    } else {
        Error::Store(message)
    }
}

/// RocksDB's message for `Status::SubCode::kNoSpace`.
const NO_SPACE: &str = "No space left on device";

/// Options of every column family. A memtable bloom filter over whole keys: most point reads
/// miss (a new file's key, a new body's hash), and without it each miss walks the memtable's
/// skiplist, a cache miss per level (8 % of the server's CPU on 64 KiB uploads; with the
/// filter 2.03 instead of 2.11 CPU-s/GB, docs/benchmarks.md).
fn cf_options() -> Options {
    let mut opts = Options::default();
    opts.set_memtable_whole_key_filtering(true);
    opts.set_memtable_prefix_bloom_ratio(MEMTABLE_BLOOM_RATIO);
    opts
}

/// Share of each memtable given to its bloom filter.
const MEMTABLE_BLOOM_RATIO: f64 = 0.02;

impl RocksIndex {
    /// Opens (creating if missing) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        opts.set_keep_log_file_num(4);
        let cfs = Cf::ALL.iter().map(|cf| ColumnFamilyDescriptor::new(cf.name(), cf_options()));
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(store_err)?;
        Ok(Self { db })
    }

    fn handle(&self, cf: Cf) -> Result<&rocksdb::ColumnFamily, Error> {
        self.db.cf_handle(cf.name()).ok_or_else(|| Error::Store(format!("missing column family {}", cf.name())))
    }
}

impl Index for RocksIndex {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        self.db.get_cf(self.handle(cf)?, key).map_err(store_err)
    }

    fn scan_prefix(&self, cf: Cf, prefix: &[u8], start: Option<&[u8]>, limit: usize) -> Result<Pairs, Error> {
        let from = match start {
            Some(s) if s > prefix => s,
            _ => prefix,
        };
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.handle(cf)?, IteratorMode::From(from, Direction::Forward)) {
            let (k, v) = item.map_err(store_err)?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((k.into_vec(), v.into_vec()));
        }
        Ok(out)
    }

    fn write(&self, batch: &Batch, sync: bool) -> Result<(), Error> {
        let mut wb = WriteBatch::default();
        for op in &batch.ops {
            match op {
                Op::Put { cf, key, value } => wb.put_cf(self.handle(*cf)?, key, value),
                Op::Delete { cf, key } => wb.delete_cf(self.handle(*cf)?, key),
            }
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(sync);
        self.db.write_opt(wb, &wo).map_err(store_err)
    }

    fn flush(&self) -> Result<(), Error> {
        self.db.flush_wal(true).map_err(store_err)?;
        for cf in Cf::ALL {
            self.db.flush_cf(self.handle(cf)?).map_err(store_err)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_told_apart_from_other_store_errors() {
        let full = "IO error: No space left on device: While appending to file: /d/index/000004.log: \
                    No space left on device";
        assert!(matches!(classify(full.into()), Error::Full(m) if m == full));
        assert!(matches!(classify("Corruption: bad block".into()), Error::Store(_)));
    }
}
