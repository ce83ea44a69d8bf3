#!/usr/bin/env python3
"""Memory cost of idle connections: starts `sluice serve` on 127.0.0.1:0, opens N connections
(half of them after one keep-alive request, half never sending a byte), and prints the growth
of the server's VmRSS per connection. Loopback only; everything is closed at the end.

    python3 bench/scripts/idle_conns.py target/release/sluice 10000

Needs `ulimit -n` above N (the script raises its soft limit to the hard limit).
"""
import resource
import socket
import subprocess
import sys
import tempfile
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main():
    binary, n = sys.argv[1], int(sys.argv[2])
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < n + 100:
        sys.exit(f"ulimit -Hn is {hard}; need more than {n + 100}")
    with tempfile.TemporaryDirectory() as data:
        server = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            line = server.stdout.readline().decode()
            host, port = line.strip().split("http://")[1].rsplit(":", 1)
            addr = (host, int(port))
            request = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"
            warm = socket.create_connection(addr)
            warm.sendall(request)
            warm.recv(1000)
            warm.close()
            time.sleep(0.5)
            before = rss_kib(server.pid)
            conns = []
            for i in range(n):
                s = socket.create_connection(addr)
                if i % 2 == 0:
                    s.sendall(request)
                    s.recv(1000)
                conns.append(s)
            time.sleep(1.0)
            after = rss_kib(server.pid)
            print(f"connections={n} rss_before_kib={before} rss_after_kib={after} "
                  f"per_connection_kib={(after - before) / n:.1f}")
            for s in conns:
                s.close()
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
