//! Key encoding. Composite keys join their parts with a 0x00 byte, which no part may contain
//! (checked by [`check_part`]), so prefix scans never bleed into a neighbour:
//!
//! | cf | key | value |
//! |---|---|---|
//! | files | `bucket 00 key` | `FileRecord` |
//! | blobs | 32-byte BLAKE3 | `BlobRecord` |
//! | links | `collection 00 member` | `bucket 00 key` |

/// Separator between key parts.
pub const SEP: u8 = 0;

/// Why a key part is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The part is empty.
    #[error("empty {0}")]
    Empty(&'static str),
    /// The part contains a NUL byte.
    #[error("{0} contains a NUL byte")]
    Nul(&'static str),
    /// The part is too long.
    #[error("{what} longer than {max} bytes")]
    TooLong {
        /// Which part.
        what: &'static str,
        /// The limit.
        max: usize,
    },
}

/// Longest bucket name.
pub const MAX_BUCKET_BYTES: usize = 255;
/// Longest object key.
pub const MAX_KEY_BYTES: usize = 4096;

/// Checks one key part.
pub fn check_part(what: &'static str, part: &str, max: usize) -> Result<(), KeyError> {
    if part.is_empty() {
        return Err(KeyError::Empty(what));
    }
    if part.len() > max {
        return Err(KeyError::TooLong { what, max });
    }
    if part.as_bytes().contains(&SEP) {
        return Err(KeyError::Nul(what));
    }
    Ok(())
}

/// `a 00 b`.
pub fn join(a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + 1 + b.len());
    k.extend_from_slice(a.as_bytes());
    k.push(SEP);
    k.extend_from_slice(b.as_bytes());
    k
}

/// The scan prefix of everything under `a`: `a 00`.
pub fn prefix(a: &str) -> Vec<u8> {
    let mut k = a.as_bytes().to_vec();
    k.push(SEP);
    k
}

/// Splits `a 00 b` back into its parts.
pub fn split(key: &[u8]) -> Option<(&str, &str)> {
    let i = key.iter().position(|b| *b == SEP)?;
    Some((std::str::from_utf8(&key[..i]).ok()?, std::str::from_utf8(&key[i + 1..]).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_prefix_isolation() {
        let k = join("weidu", "2021/a b/ü.jpg");
        assert_eq!(split(&k), Some(("weidu", "2021/a b/ü.jpg")));
        assert!(k.starts_with(&prefix("weidu")));
        assert!(!join("weidu2", "x").starts_with(&prefix("weidu")));
    }

    #[test]
    fn part_checks_at_n_and_n_plus_1() {
        assert!(check_part("key", &"a".repeat(MAX_KEY_BYTES), MAX_KEY_BYTES).is_ok());
        assert!(check_part("key", &"a".repeat(MAX_KEY_BYTES + 1), MAX_KEY_BYTES).is_err());
        assert_eq!(check_part("key", "", 10), Err(KeyError::Empty("key")));
        assert_eq!(check_part("key", "a\0b", 10), Err(KeyError::Nul("key")));
    }
}
