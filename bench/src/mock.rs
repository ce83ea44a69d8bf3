//! A stand-in server for testing the bench itself (hidden `mock-server` command): speaks just
//! enough of `serve --listen ADDR` to be started like sluice, answers the weidu upload (parsing
//! the multipart part to report its real size, alternating Content-Length and chunked answers)
//! and WebDAV PUT. Blocking, one thread per connection; stores nothing.

use std::io::{self, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use anyhow::{Context, Result};

use crate::cli::MockArgs;

pub fn serve(a: &MockArgs) -> Result<()> {
    let listener = TcpListener::bind(&a.listen).with_context(|| format!("bind {}", a.listen))?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        anyhow::bail!("mock server binds loopback only");
    }
    println!("listening on http://{addr}");
    io::stdout().flush()?;
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        thread::spawn(move || {
            let _ = handle(conn);
        });
    }
    Ok(())
}

fn handle(mut s: TcpStream) -> io::Result<()> {
    s.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::new();
    let mut served = 0u64;
    loop {
        // Head.
        let (head_len, method, path, len, boundary) = loop {
            let mut hs = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut hs);
            if let httparse::Status::Complete(n) =
                req.parse(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            {
                let header = |name: &str| {
                    req.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .and_then(|h| std::str::from_utf8(h.value).ok())
                        .map(str::to_string)
                };
                let len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                let boundary = header("content-type").and_then(|v| v.split("boundary=").nth(1).map(str::to_string));
                break (n, req.method.unwrap_or("").to_string(), req.path.unwrap_or("").to_string(), len, boundary);
            }
            if !fill(&mut s, &mut buf)? {
                return Ok(());
            }
        };
        while buf.len() < head_len + len {
            if !fill(&mut s, &mut buf)? {
                return Ok(());
            }
        }
        let body = &buf[head_len..head_len + len];
        let mut out = BufWriter::new(&mut s);
        if method == "PUT" && path.starts_with("/up/") {
            out.write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")?;
        } else if method == "POST" && path.starts_with("/weidu/api/v1/files") {
            match boundary.and_then(|b| part_size(body, &b)) {
                Some(size) => {
                    let json = format!(
                        r#"{{"code":200,"result":"ok","data":{{"file_infos":[{{"id":"m{served}","size":{size}}}],"client_ids":[]}}}}"#
                    );
                    if served.is_multiple_of(2) {
                        write!(
                            out,
                            "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n\
                             Content-Length: {}\r\n\r\n{json}",
                            json.len()
                        )?;
                    } else {
                        let (a, b) = json.split_at(json.len() / 2);
                        write!(
                            out,
                            "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n\
                             Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                            a.len(),
                            b.len()
                        )?;
                    }
                }
                None => out.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\n\r\nbad request")?,
            }
        } else {
            out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?;
        }
        out.flush()?;
        drop(out);
        buf.drain(..head_len + len);
        served += 1;
    }
}

/// Reads more bytes; false at end of stream.
fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = [0u8; 64 * 1024];
    let n = s.read(&mut chunk)?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n > 0)
}

/// Size of the single file part of a multipart body, if well-formed.
fn part_size(body: &[u8], boundary: &str) -> Option<usize> {
    let first = format!("--{boundary}\r\n");
    let close = format!("\r\n--{boundary}--\r\n");
    if !body.starts_with(first.as_bytes()) || !body.ends_with(close.as_bytes()) {
        return None;
    }
    let inner = &body[first.len()..body.len() - close.len()];
    let sep = inner.windows(4).position(|w| w == b"\r\n\r\n")?;
    let headers = std::str::from_utf8(&inner[..sep]).ok()?;
    headers.contains("name=\"files\"").then_some(inner.len() - sep - 4)
}
