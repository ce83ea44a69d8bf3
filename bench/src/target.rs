//! The server address under load, parsed from `http://HOST:PORT` and refused unless it is
//! loopback (127.0.0.0/8, ::1 or `localhost`): this tool never sends load anywhere else.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use anyhow::{bail, Context, Result};

/// A resolved loopback address plus the `Host` header value to send.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    pub host_header: String,
}

impl Target {
    pub fn from_addr(addr: SocketAddr) -> Result<Self> {
        if !addr.ip().is_loopback() {
            bail!("refusing non-loopback target {addr}");
        }
        Ok(Target { addr, host_header: addr.to_string() })
    }
}

/// Parses `http://HOST[:PORT][/]`. Only plain HTTP; no path (requests carry their own).
pub fn parse_target(url: &str) -> Result<Target> {
    let rest =
        url.strip_prefix("http://").with_context(|| format!("target {url:?}: only http:// URLs are supported"))?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains('/') || authority.contains('@') {
        bail!("target {url:?}: expected http://HOST:PORT with no path");
    }
    let (host, port) = split_host_port(authority).with_context(|| format!("target {url:?}: bad host or port"))?;
    let is_name_localhost = host.eq_ignore_ascii_case("localhost");
    if !is_name_localhost {
        let ip: IpAddr =
            host.parse().with_context(|| format!("target {url:?}: host must be an IP literal or localhost"))?;
        if !ip.is_loopback() {
            bail!("refusing non-loopback target {url:?} (only 127.0.0.0/8, ::1, localhost)");
        }
        return Target::from_addr(SocketAddr::new(ip, port));
    }
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().with_context(|| format!("resolving {host}"))?.collect();
    let addr = addrs
        .iter()
        .copied()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first().copied())
        .with_context(|| format!("{host} resolved to nothing"))?;
    let mut t = Target::from_addr(addr)?;
    t.host_header = authority.to_string();
    Ok(t)
}

fn split_host_port(authority: &str) -> Option<(&str, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => 80,
            None => return None,
        };
        return Some((host, port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h, p.parse().ok()?)),
        Some(_) => None,
        None => Some((authority, 80)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_loopback() {
        let t = parse_target("http://127.0.0.1:9004").unwrap();
        assert_eq!(t.addr, "127.0.0.1:9004".parse().unwrap());
        assert_eq!(t.host_header, "127.0.0.1:9004");
        assert!(parse_target("http://127.3.2.1:80/").is_ok());
        assert!(parse_target("http://[::1]:8080").is_ok());
        assert!(parse_target("http://localhost:8080").is_ok());
        assert_eq!(parse_target("http://127.0.0.1").unwrap().addr.port(), 80);
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "http://10.0.0.1:80",
            "http://0.0.0.0:80",
            "http://192.168.1.1:9004",
            "http://[2001:db8::1]:80",
            "http://example.com:80",
            "https://127.0.0.1:443",
            "127.0.0.1:9004",
            "http://127.0.0.1:9004/path",
            "http://user@127.0.0.1:9004",
            "http://127.0.0.1:notaport",
        ] {
            assert!(parse_target(bad).is_err(), "{bad} should be refused");
        }
    }
}
