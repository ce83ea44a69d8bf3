//! One `SO_REUSEPORT` listening socket per worker, so the kernel spreads connections across
//! cores without a shared accept queue.
//!
//! With port 0 every socket would get a port of its own, so the first socket is bound first and
//! the others are bound to the port it got (design.md, "Known pitfalls").
//!
//! `SO_REUSEPORT` also lets *another process* of the same user join the group: a second server
//! started on the same address would silently get half the connections (and serve its own data
//! directory to them). So a given port is first probed with a plain bind, which fails while
//! anybody listens there — "address in use", as any server says.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Backlog of each listening socket.
pub(crate) const LISTEN_BACKLOG: i32 = 4096;

/// Binds `count` reuse-port listeners on `addr`; returns them and the address they share.
pub fn bind_listeners(addr: SocketAddr, count: usize) -> io::Result<(Vec<std::net::TcpListener>, SocketAddr)> {
    if addr.port() != 0 {
        ensure_nobody_listens(addr)?;
    }
    let first = bind_one(addr)?;
    let bound = first.local_addr()?;
    let mut out = vec![first];
    for _ in 1..count {
        out.push(bind_one(bound)?);
    }
    Ok((out, bound))
}

/// Binds (without listening, without `SO_REUSEPORT`) a socket to `addr` and lets it go: that
/// fails while a socket listens there, reuse-port or not. (Whoever binds in the moment between
/// this probe and the real binds is not caught; a server started twice at once is.)
fn ensure_nobody_listens(addr: SocketAddr) -> io::Result<()> {
    let probe = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // Lets the probe bind over connections of an earlier run still in TIME_WAIT, as the real
    // sockets do; it does not let it bind over a listener.
    probe.set_reuse_address(true)?;
    match probe.bind(&addr.into()) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            Err(io::Error::new(io::ErrorKind::AddrInUse, format!("{addr} is in use by another listener")))
        }
        r => r,
    }
}

fn bind_one(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_group_on_an_address_in_use_is_refused() {
        let (first, addr) = bind_listeners("127.0.0.1:0".parse().unwrap(), 2).unwrap();
        // Another server's listeners would join the reuse-port group without the probe.
        let err = bind_listeners(addr, 2).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        assert!(err.to_string().contains("in use by another listener"), "{err}");
        // A plain listener is refused the same way.
        let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert_eq!(bind_listeners(plain.local_addr().unwrap(), 1).unwrap_err().kind(), io::ErrorKind::AddrInUse);
        // Once they are gone, the address is free again.
        drop(first);
        bind_listeners(addr, 2).expect("free again");
    }

    #[test]
    fn port_zero_gives_one_shared_port() {
        let (ls, addr) = bind_listeners("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        assert_ne!(addr.port(), 0);
        for l in &ls {
            assert_eq!(l.local_addr().unwrap(), addr);
        }
    }
}
