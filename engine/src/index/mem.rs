//! `MemIndex`: the in-memory twin of the RocksDB index, for tests and as a model.

use std::collections::BTreeMap;
use std::sync::RwLock;

use super::{Batch, Cf, Error, Index, Op, Pairs};

type Map = BTreeMap<(Cf, Vec<u8>), Vec<u8>>;

/// One `BTreeMap` keyed by (column family, key) behind one lock.
#[derive(Debug, Default)]
pub struct MemIndex {
    maps: RwLock<Map>,
}

impl MemIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Index for MemIndex {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let maps = self.maps.read().map_err(|_| Error::Store("poisoned".into()))?;
        Ok(maps.get(&(cf, key.to_vec())).cloned())
    }

    fn scan_prefix(&self, cf: Cf, prefix: &[u8], start: Option<&[u8]>, limit: usize) -> Result<Pairs, Error> {
        let maps = self.maps.read().map_err(|_| Error::Store("poisoned".into()))?;
        let from = match start {
            Some(s) if s > prefix => s.to_vec(),
            _ => prefix.to_vec(),
        };
        Ok(maps
            .range((cf, from)..)
            .take_while(|((c, k), _)| *c == cf && k.starts_with(prefix))
            .take(limit)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    fn write(&self, batch: &Batch, _sync: bool) -> Result<(), Error> {
        let mut maps = self.maps.write().map_err(|_| Error::Store("poisoned".into()))?;
        for op in &batch.ops {
            match op {
                Op::Put { cf, key, value } => {
                    maps.insert((*cf, key.clone()), value.clone());
                }
                Op::Delete { cf, key } => {
                    maps.remove(&(*cf, key.clone()));
                }
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), Error> {
        Ok(())
    }
}
