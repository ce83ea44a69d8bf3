//! Byte sizes on the command line: `65536`, `64KiB`, `1MiB`, `100MiB`, `1GiB` (also `B`, `KB`,
//! `MB`, `GB` = powers of ten), and their human rendering for tables.

use std::fmt;
use std::str::FromStr;

/// A size in bytes, parsed from `<number>[suffix]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, suffix) = t.split_at(split);
        if digits.is_empty() {
            return Err(format!("size {s:?}: expected a number, e.g. 64KiB"));
        }
        let n: u64 = digits.parse().map_err(|e| format!("size {s:?}: {e}"))?;
        let mult: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kib" => 1 << 10,
            "m" | "mib" => 1 << 20,
            "g" | "gib" => 1 << 30,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            other => return Err(format!("size {s:?}: unknown suffix {other:?} (use B, KiB, MiB or GiB)")),
        };
        n.checked_mul(mult).map(ByteSize).ok_or_else(|| format!("size {s:?}: too large"))
    }
}

impl fmt::Display for ByteSize {
    /// Exact binary units when the size is a whole multiple (`64 KiB`), bytes otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, m) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if n >= m && n.is_multiple_of(m) {
                return write!(f, "{} {unit}", n / m);
            }
        }
        write!(f, "{n} B")
    }
}

/// Approximate rendering for measured memory figures: `12.3 MiB`.
pub fn human_bytes(n: u64) -> String {
    let f = n as f64;
    if n >= 1 << 30 {
        format!("{:.2} GiB", f / (1u64 << 30) as f64)
    } else if n >= 1 << 20 {
        format!("{:.1} MiB", f / (1u64 << 20) as f64)
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", f / 1024.0)
    } else {
        format!("{n} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<u64, String> {
        s.parse::<ByteSize>().map(ByteSize::bytes)
    }

    #[test]
    fn parses_binary_suffixes() {
        assert_eq!(p("65536"), Ok(65536));
        assert_eq!(p("17B"), Ok(17));
        assert_eq!(p("64KiB"), Ok(64 * 1024));
        assert_eq!(p("64kib"), Ok(64 * 1024));
        assert_eq!(p("1MiB"), Ok(1 << 20));
        assert_eq!(p("100MiB"), Ok(100 << 20));
        assert_eq!(p("1GiB"), Ok(1 << 30));
        assert_eq!(p("4 GiB"), Ok(4 << 30));
        assert_eq!(p("64k"), Ok(64 << 10));
    }

    #[test]
    fn parses_decimal_suffixes() {
        assert_eq!(p("1KB"), Ok(1000));
        assert_eq!(p("2MB"), Ok(2_000_000));
        assert_eq!(p("1GB"), Ok(1_000_000_000));
    }

    #[test]
    fn rejects_garbage() {
        assert!(p("").is_err());
        assert!(p("KiB").is_err());
        assert!(p("1.5MiB").is_err());
        assert!(p("12XB").is_err());
        assert!(p("-1").is_err());
        assert!(p("99999999999999GiB").is_err());
    }

    #[test]
    fn displays_exact_units() {
        assert_eq!(ByteSize(64 << 10).to_string(), "64 KiB");
        assert_eq!(ByteSize(1 << 20).to_string(), "1 MiB");
        assert_eq!(ByteSize(100 << 20).to_string(), "100 MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000 B");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
    }
}
