//! Generated ids: 26 characters of `[a-z0-9]` (about 134 random bits), the shape the weidu
//! contract shows (`apqbhonw8p8h7k1zueakcre14w`).

use rand::Rng;

/// Length of an id.
pub const ID_LEN: usize = 26;
const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A new random id.
pub fn new_id() -> String {
    let mut rng = rand::thread_rng();
    (0..ID_LEN).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn shape() {
        let a = super::new_id();
        assert_eq!(a.len(), 26);
        assert!(a.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        assert_ne!(a, super::new_id());
    }
}
