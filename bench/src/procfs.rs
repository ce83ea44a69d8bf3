//! Server accounting from /proc: CPU time (utime + stime of a process and its descendants, in
//! clock ticks), resident memory (VmRSS, VmHWM), the process tree (children by ppid), and the
//! machine's available memory and page-cache dropping (`compare` reports the one and can do
//! the other before each run, so a run says what memory its servers had).

use std::fs;

/// Clock ticks per second for /proc/<pid>/stat times.
pub fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions; it only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Fields of /proc/<pid>/stat we use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatLine {
    pub ppid: i32,
    /// utime + stime, clock ticks.
    pub cpu_ticks: u64,
}

/// Parses a /proc/<pid>/stat line; the command name may hold spaces and parentheses.
pub fn parse_stat(line: &str) -> Option<StatLine> {
    let after = &line[line.rfind(')')? + 1..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // After the comm: state(0) ppid(1) ... utime(11) stime(12) (fields 3, 4, 14, 15 of proc(5)).
    let ppid = f.get(1)?.parse().ok()?;
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(StatLine { ppid, cpu_ticks: utime + stime })
}

pub fn read_stat(pid: i32) -> Option<StatLine> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// VmRSS and VmHWM of a process, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mem {
    pub rss: u64,
    pub hwm: u64,
}

pub fn parse_status(text: &str) -> Mem {
    let kib = |key: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    Mem { rss: kib("VmRSS:"), hwm: kib("VmHWM:") }
}

pub fn read_mem(pid: i32) -> Mem {
    fs::read_to_string(format!("/proc/{pid}/status")).map(|t| parse_status(&t)).unwrap_or_default()
}

/// `root` and all its live descendants.
pub fn process_tree(root: i32) -> Vec<i32> {
    let mut all: Vec<(i32, i32)> = Vec::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if let Some(s) = read_stat(pid) {
                all.push((pid, s.ppid));
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(all.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    tree
}

/// A snapshot over a process tree.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    pub cpu_ticks: u64,
    pub rss: u64,
    pub hwm: u64,
}

pub fn sample_tree(root: i32) -> Sample {
    let mut s = Sample::default();
    for pid in process_tree(root) {
        if let Some(st) = read_stat(pid) {
            s.cpu_ticks += st.cpu_ticks;
        }
        let m = read_mem(pid);
        s.rss += m.rss;
        s.hwm += m.hwm;
    }
    s
}

/// `MemAvailable` of /proc/meminfo, in bytes.
pub fn mem_available() -> Option<u64> {
    parse_mem_available(&fs::read_to_string("/proc/meminfo").ok()?)
}

fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Writes dirty pages out and drops the clean page cache, dentries and inodes
/// (`/proc/sys/vm/drop_caches`; needs root).
pub fn drop_caches() -> std::io::Result<()> {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    fs::write("/proc/sys/vm/drop_caches", "3\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mem_available_and_reads_this_machines() {
        let text = "MemTotal:       24683520 kB\nMemFree:        1000 kB\nMemAvailable:   2048 kB\n";
        assert_eq!(parse_mem_available(text), Some(2 << 20));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
        assert!(mem_available().is_some_and(|b| b > 0));
    }

    #[test]
    fn parses_stat_with_odd_comm() {
        let line = "1234 (nginx: worker) (x) S 1200 1234 1234 0 -1 4194560 100 0 0 0 \
                    250 75 0 0 20 0 1 0 123456 1000000 300 18446744073709551615";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.ppid, 1200);
        assert_eq!(s.cpu_ticks, 325);
    }

    #[test]
    fn parses_status() {
        let text = "Name:\tsluice\nVmPeak:\t  999 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(parse_status(text), Mem { rss: 1 << 20, hwm: 2 << 20 });
    }

    #[test]
    fn reads_own_process() {
        let me = std::process::id() as i32;
        assert!(read_stat(me).is_some());
        let m = read_mem(me);
        assert!(m.rss > 0 && m.hwm >= m.rss);
        assert!(process_tree(me).contains(&me));
        assert!(clock_ticks_per_sec() > 0.0);
    }
}
