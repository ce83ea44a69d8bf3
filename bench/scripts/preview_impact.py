#!/usr/bin/env python3
"""What does preview work alone cost non-image uploads?

Runs one sluice (durability none) under the 64 KiB non-image load of `sluice-bench run`
(16 connections, 10 s) while a side client uploads one image at a fixed rate over a keep-alive
connection. Each round runs twice, alternating:

  twin   the image's bytes behind one extra leading byte: same size, same upload path, but the
         content no longer sniffs as an image, so no preview is made;
  image  the image itself: every upload also decodes, scales and stores a preview.

The two differ only by the preview work, so the files/s ratio image/twin is its cost. (An
earlier shell script compared "alone" with "plus back-to-back curl uploads", which also
counted the uploads and curl's own process start-ups against the previews.) Each line also
shows the CPU the media pool used, read from /proc, and how many side uploads came back later
than the rate asked (previews wait for idle CPU).

  python3 bench/scripts/preview_impact.py target/release/sluice target/release/sluice-bench IMAGE \
      [--rate 20] [--rounds 3] [--duration 10]

IMAGE is any JPEG or PNG. docs/benchmarks.md used a 1280x960 one (517 KB), made with Pillow:
  python3 -c 'from PIL import Image; import os
  m = Image.effect_mandelbrot((1280, 960), (-2, -1.2, 1, 1.2), 100).convert("RGB")
  n = Image.frombytes("RGB", (1280, 960), os.urandom(1280 * 960 * 3))
  Image.blend(m, n, 0.3).save("p.jpg", quality=85)'
"""
import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

BOUNDARY = "sluicepreviewimpact"


def multipart(name, body):
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + body + f"\r\n--{BOUNDARY}--\r\n".encode()


class SideUploader(threading.Thread):
    """Uploads `payload` every 1/rate seconds until stopped; counts answers and previews."""

    def __init__(self, host, port, payload, rate, task):
        super().__init__(daemon=True)
        self.host, self.port, self.payload, self.period, self.task = host, port, payload, 1.0 / rate, task
        self.stop = threading.Event()
        self.done = self.previews = self.late = 0
        self.error = None

    def run(self):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        next_at = time.monotonic()
        try:
            while not self.stop.is_set():
                conn.request("POST", f"/weidu/api/v1/files?user_id=side&task_id={self.task}", body=self.payload,
                             headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 201:
                    raise RuntimeError(f"side upload answered {resp.status}: {body[:200]!r}")
                info = json.loads(body)["data"]["file_infos"][0]
                self.done += 1
                self.previews += bool(info["has_pre_img"])
                next_at += self.period
                wait = next_at - time.monotonic()
                if wait > 0:
                    self.stop.wait(wait)
                else:
                    self.late += 1  # the server answered slower than the rate asks
        except Exception as e:  # reported by the caller
            self.error = e
        finally:
            conn.close()


def media_cpu_seconds(pid):
    """CPU seconds the server's media pool threads have used so far."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = open(f"/proc/{pid}/task/{tid}/stat").read()
        except FileNotFoundError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        if comm.startswith("sluice-media"):
            fields = stat[stat.rindex(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def files_per_s(bench_output):
    m = re.search(r"([0-9.]+) files/s", bench_output)
    if not m:
        sys.exit(f"no files/s in sluice-bench output:\n{bench_output}")
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sluice")
    ap.add_argument("bench")
    ap.add_argument("image")
    ap.add_argument("--rate", type=float, default=20.0, help="side uploads per second")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10.0)
    args = ap.parse_args()

    image = open(args.image, "rb").read()
    payloads = {"twin": multipart("twin.jpg", b"\x00" + image), "image": multipart("side.jpg", image)}
    work = tempfile.mkdtemp(prefix="preview-impact-", dir="/var/tmp")
    env = dict(os.environ, SLUICE_DURABILITY="none")
    out = open(os.path.join(work, "out"), "w+")
    server = subprocess.Popen([args.sluice, "serve", "--listen", "127.0.0.1:0", "--data-dir",
                               os.path.join(work, "data")], stdout=out, stderr=subprocess.DEVNULL, env=env)
    try:
        addr = None
        for _ in range(300):
            out.seek(0)
            m = re.search(r"listening on http://([0-9.]+):([0-9]+)", out.read())
            if m:
                addr = (m.group(1), int(m.group(2)))
                break
            time.sleep(0.1)
        if addr is None:
            sys.exit("sluice did not start")
        results = {"twin": [], "image": []}
        # A first run fills the page cache and the first packs; its numbers are not kept.
        subprocess.run([args.bench, "run", "--target", f"http://{addr[0]}:{addr[1]}", "--size", "64KiB",
                        "--connections", "16", "--duration", "5", "--unique-bodies"],
                       capture_output=True, text=True, check=True)
        for r in range(args.rounds):
            for kind in ("twin", "image"):
                media_before = media_cpu_seconds(server.pid)
                side = SideUploader(addr[0], addr[1], payloads[kind], args.rate, f"{kind}{r}")
                side.start()
                time.sleep(0.5)  # the side load is running before the window opens
                bench = subprocess.run(
                    [args.bench, "run", "--target", f"http://{addr[0]}:{addr[1]}", "--size", "64KiB",
                     "--connections", "16", "--duration", str(args.duration), "--unique-bodies",
                     "--server-pid", str(server.pid)], capture_output=True, text=True, check=True)
                side.stop.set()
                side.join(30)
                if side.error:
                    sys.exit(f"side uploader failed: {side.error}")
                media_cpu = media_cpu_seconds(server.pid) - media_before
                fps = files_per_s(bench.stdout)
                results[kind].append(fps)
                print(f"round {r} {kind:5}: {fps:8.0f} non-image files/s; side uploads {side.done} "
                      f"({side.previews} with preview, {side.late} late); media pool {media_cpu:.2f} CPU-s", flush=True)
                if kind == "twin" and side.previews:
                    sys.exit("the twin got a preview: it must not sniff as an image")
                if kind == "image" and side.previews != side.done:
                    print("  note: some image uploads got no preview (media pool saturated)")
        twin = sum(results["twin"]) / len(results["twin"])
        img = sum(results["image"]) / len(results["image"])
        print(f"mean twin {twin:.0f}, mean image {img:.0f} files/s: previews cost {100 * (1 - img / twin):.1f} %")
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
