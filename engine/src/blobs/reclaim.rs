//! Giving back the space of bytes no record points at: listing the file blobs and packs on
//! disk, removing a file blob or a pack, and punching holes in a pack between the ranges that
//! are still referenced. The filesystem half of the start-up garbage sweep (`garbage.rs` decides
//! what is garbage from the index); start-up only, blocking, nothing else writes then.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::layout::Layout;
use super::prealloc::{seek, to_off};
use crate::ingest::DIRECT_ALIGN;

/// Every file under `blobs/ab/cd/` whose name is a BLAKE3 digest in hex and sits in the
/// fan-out directory that digest picks; anything else there is not ours and is left alone.
pub(crate) fn file_blobs(layout: &Layout) -> io::Result<Vec<[u8; 32]>> {
    let mut out = Vec::new();
    for top in std::fs::read_dir(layout.blobs_dir())? {
        let top = top?;
        if !top.file_type()?.is_dir() {
            continue;
        }
        for fan in std::fs::read_dir(top.path())? {
            let fan = fan?;
            if !fan.file_type()?.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(fan.path())? {
                let entry = entry?;
                let Some(b3) = entry.file_name().to_str().and_then(parse_digest) else { continue };
                if entry.file_type()?.is_file() && entry.path() == layout.blob_path(&b3) {
                    out.push(b3);
                }
            }
        }
    }
    Ok(out)
}

fn parse_digest(name: &str) -> Option<[u8; 32]> {
    let mut b3 = [0u8; 32];
    hex::decode_to_slice(name, &mut b3).ok()?;
    // Only the lower-case spelling the layout writes, so a name maps to one digest and back.
    (hex::encode(b3) == name).then_some(b3)
}

/// Removes a file; one already gone counts as removed. Returns the bytes it occupied on disk.
pub(crate) fn remove_file(path: &Path) -> io::Result<u64> {
    let allocated = match std::fs::metadata(path) {
        Ok(m) => m.blocks() * 512,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    match std::fs::remove_file(path) {
        Ok(()) => Ok(allocated),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

/// Punches holes in the file at `path` wherever it holds data outside `live` (byte ranges
/// `start..end` still referenced, in any order, overlapping or not). Each live range is widened
/// to whole [`DIRECT_ALIGN`] blocks (a packed blob starts on a block and owns the padding after
/// it), so a hole never touches a block a live range uses. Returns the bytes freed on disk.
///
/// A filesystem without hole punching (or without `SEEK_DATA`) frees nothing and says so with
/// `Unsupported`; the file is left as it was.
pub(crate) fn punch_outside(path: &Path, live: &mut [(u64, u64)]) -> io::Result<u64> {
    let file = std::fs::OpenOptions::new().write(true).open(path)?;
    let meta = file.metadata()?;
    let (len, before) = (meta.len(), meta.blocks() * 512);
    let align = DIRECT_ALIGN as u64;
    live.sort_unstable();
    let mut at = 0; // everything before `at` is live or already looked at
    for &(start, end) in live.iter().chain(std::iter::once(&(len, len))) {
        let start = start / align * align;
        if start > at {
            punch_data_in(&file, at, start.min(len))?;
        }
        at = at.max(end.div_ceil(align) * align);
    }
    Ok(before.saturating_sub(file.metadata()?.blocks() * 512))
}

/// Punches a hole over every data range of `file` within `from..to` (skipping what already is
/// a hole, so a second sweep costs a few `lseek`s).
fn punch_data_in(file: &File, from: u64, to: u64) -> io::Result<()> {
    let mut at = from;
    while at < to {
        let data = match seek(file, at, libc::SEEK_DATA) {
            Ok(Some(d)) if d < to => d,
            Ok(_) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Err(unsupported(e)),
            Err(e) => return Err(e),
        };
        let hole = seek(file, data, libc::SEEK_HOLE)?.unwrap_or(to).min(to);
        punch(file, data, hole - data)?;
        at = hole;
    }
    Ok(())
}

fn punch(file: &File, offset: u64, len: u64) -> io::Result<()> {
    let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
    // SAFETY: a plain syscall on a descriptor `file` keeps open for the call's duration.
    if unsafe { libc::fallocate(file.as_raw_fd(), mode, to_off(offset)?, to_off(len)?) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EOPNOTSUPP) {
        return Err(unsupported(e));
    }
    Err(e)
}

fn unsupported(e: io::Error) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, format!("no hole punching here: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    const BLOCK: u64 = DIRECT_ALIGN as u64;

    /// A file of `blocks` blocks, block `i` filled with byte `i + 1`.
    fn numbered_blocks(dir: &Path, blocks: u64) -> std::path::PathBuf {
        let path = dir.join("p.pack");
        let f = File::create(&path).unwrap();
        for i in 0..blocks {
            f.write_all_at(&vec![i as u8 + 1; BLOCK as usize], i * BLOCK).unwrap();
        }
        f.sync_all().unwrap();
        path
    }

    fn block_bytes(path: &Path, i: u64) -> Vec<u8> {
        let mut b = vec![0xEE; BLOCK as usize];
        File::open(path).unwrap().read_exact_at(&mut b, i * BLOCK).unwrap();
        b
    }

    #[test]
    fn holes_go_only_where_no_live_range_touches_a_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = numbered_blocks(dir.path(), 8);
        // Live: block 1 (its first byte only: the rest is its padding), blocks 3-4 (a range
        // ending one byte into 4), and block 3 again, given out of order.
        let mut live = vec![(3 * BLOCK, 4 * BLOCK + 1), (BLOCK, BLOCK + 1), (3 * BLOCK, 3 * BLOCK + 10)];
        // Every filesystem a test's temp dir lands on here (ext4, xfs, btrfs, tmpfs) punches.
        let freed = punch_outside(&path, &mut live).unwrap();
        for i in 0..8 {
            let want = if [1, 3, 4].contains(&i) { vec![i as u8 + 1; BLOCK as usize] } else { vec![0; BLOCK as usize] };
            assert!(block_bytes(&path, i) == want, "block {i}");
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 8 * BLOCK, "the size stays");
        assert_eq!(freed, 5 * BLOCK, "blocks 0, 2, 5, 6, 7");
        // Nothing left to free the second time.
        assert_eq!(punch_outside(&path, &mut live).unwrap(), 0);
    }

    #[test]
    fn no_live_range_frees_the_whole_file_and_an_empty_file_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let path = numbered_blocks(dir.path(), 3);
        assert_eq!(punch_outside(&path, &mut []).unwrap(), 3 * BLOCK);
        assert!(block_bytes(&path, 2) == vec![0; BLOCK as usize]);
        let empty = dir.path().join("e.pack");
        File::create(&empty).unwrap();
        assert_eq!(punch_outside(&empty, &mut [(0, 0)]).unwrap(), 0);
    }

    #[test]
    fn only_well_formed_digest_names_in_their_own_fan_out_directory_are_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let b3 = [0xab; 32];
        std::fs::create_dir_all(layout.blob_dir(&b3)).unwrap();
        std::fs::write(layout.blob_path(&b3), b"x").unwrap();
        // Misplaced, upper-case, short, and a stray file: none is a blob.
        let other = [0x01; 32];
        std::fs::write(layout.blob_dir(&b3).join(hex::encode(other)), b"x").unwrap();
        std::fs::write(layout.blob_dir(&b3).join(hex::encode_upper([0xab; 32])), b"x").unwrap();
        std::fs::write(layout.blob_dir(&b3).join("abab"), b"x").unwrap();
        std::fs::write(layout.blobs_dir().join("README"), b"x").unwrap();
        assert_eq!(file_blobs(&layout).unwrap(), vec![b3]);
        assert!(remove_file(&layout.blob_path(&b3)).unwrap() > 0);
        assert!(!layout.blob_path(&b3).exists());
        assert_eq!(remove_file(&layout.blob_path(&b3)).unwrap(), 0, "already gone");
    }
}
