//! One `SO_REUSEPORT` listening socket per worker, so the kernel spreads connections across
//! cores without a shared accept queue.
//!
//! With port 0 every socket would get a port of its own, so the first socket is bound first and
//! the others are bound to the port it got (design.md, "Known pitfalls").

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Backlog of each listening socket.
pub(crate) const LISTEN_BACKLOG: i32 = 4096;

/// Binds `count` reuse-port listeners on `addr`; returns them and the address they share.
pub fn bind_listeners(addr: SocketAddr, count: usize) -> io::Result<(Vec<std::net::TcpListener>, SocketAddr)> {
    let first = bind_one(addr)?;
    let bound = first.local_addr()?;
    let mut out = vec![first];
    for _ in 1..count {
        out.push(bind_one(bound)?);
    }
    Ok((out, bound))
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
    fn port_zero_gives_one_shared_port() {
        let (ls, addr) = bind_listeners("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        assert_ne!(addr.port(), 0);
        for l in &ls {
            assert_eq!(l.local_addr().unwrap(), addr);
        }
    }
}
