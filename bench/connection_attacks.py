"""Issue 17's connection attacks against `nce-playground serve`, with the guards on and off.

Starts the server as a subprocess on a free loopback port under `ulimit -n 1024` and a 4 GB address
space limit, with the guards of server/connections.py and server/uploads.py on ("on") or switched off
("off": stock uvicorn options, a 1 MiB socket frame limit, no upload timeout, cap or trim: the server
as it was before issue 17), and runs one attack from a second loopback address (127.0.0.2):

  slowloris  1,100 connections that each send half a request header, then nothing. Prints
             /api/health (from 127.0.0.1) idle, during, and 12 s later, and the server's descriptors.
  uploads    120 connections each sending 3.9 MB of a declared 4 MB upload, then nothing. Prints the
             server's RSS at start, with them stalled, and after they were dropped (on) or left (off),
             and /api/health meanwhile.

    python bench/connection_attacks.py slowloris on      # and: slowloris off, uploads on, uploads off

Linux only (reads /proc/PID; 127.0.0.2 is loopback there). The server's log goes to stderr.
"""
from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from load_test import free_port  # bench/ is on the path of a script run from it

ROOT = Path(__file__).resolve().parents[1]
ATTACKER = "127.0.0.2"
# "off" switches the guards off in the server process before it starts
LAUNCH = """
import sys
if sys.argv[1] == "off":
    import server.connections as connections, server.uploads as uploads
    from server.settings import UVICORN_OPTIONS
    connections.uvicorn_options = lambda settings: {**UVICORN_OPTIONS, "ws_max_size": 1 << 20}
    original = uploads.UploadGate.__init__
    uploads.UploadGate.__init__ = lambda self, capacity, timeout: original(self, 10 ** 9, None)
    uploads.release_freed_memory = lambda: False
from server.cli import main
sys.exit(main(["serve"]))
"""


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def health(url: str, count: int, timeout: float = 5.0) -> str:
    """`count` GET /api/health, one connection each: how many answered 200, their median and max ms."""
    answered, failures = [], set()
    for _ in range(count):
        started = time.perf_counter()
        try:
            status = httpx.get(f"{url}/api/health", timeout=timeout).status_code
        except httpx.HTTPError as error:
            status = type(error).__name__
        if status == 200:
            answered.append((time.perf_counter() - started) * 1e3)
        else:
            failures.add(status)
    text = f"{len(answered)}/{count} answered 200"
    if answered:
        text += f", median {statistics.median(answered):.1f} ms, max {max(answered):.1f} ms"
    return text + (f", failures {sorted(map(str, failures))}" if failures else "")


def _connect_from_attacker(port: int) -> socket.socket:
    sock = socket.socket()
    sock.bind((ATTACKER, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def slowloris(url: str, port: int, pid: int) -> None:
    held = []
    for _ in range(1_100):
        try:
            sock = _connect_from_attacker(port)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            held.append(sock)
        except OSError:
            pass
    time.sleep(1)
    print(f"health during 1,100 half headers: {health(url, 20)}; "
          f"server descriptors {len(os.listdir(f'/proc/{pid}/fd'))}")
    time.sleep(11)
    print(f"health 12 s later: {health(url, 20)}; server descriptors {len(os.listdir(f'/proc/{pid}/fd'))}")
    for sock in held:
        sock.close()


def stalled_uploads(url: str, port: int, pid: int) -> None:
    body = b"".join(b"%.12f,%.12f\n" % (i % 977 * 0.01, i % 991 * 0.02) for i in range(100_000))
    assert httpx.post(f"{url}/api/upload", content=body, timeout=30).status_code == 200  # warm: parse path loaded
    start = rss_mb(pid)

    def stall(_) -> socket.socket:
        sock = _connect_from_attacker(port)
        sock.sendall(b"POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
                     b"Content-Length: 4000000\r\n\r\n" + b"1.5\n" * 975_000)
        return sock
    with ThreadPoolExecutor(16) as pool:
        held = list(pool.map(stall, range(120)))
    during = health(url, 10)
    peak = max(rss_mb(pid) for _ in range(20) if not time.sleep(0.05))
    print(f"RSS at start {start:.0f} MB; with 120 stalled 3.9 MB uploads {peak:.0f} MB; health meanwhile: {during}")
    time.sleep(8)  # past NCE_BODY_TIMEOUT_S=5
    for sock in held:
        sock.close()
    time.sleep(2)
    print(f"RSS 8 s later and 2 s after the clients left: {rss_mb(pid):.0f} MB; health: {health(url, 10)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("attack", choices=["slowloris", "uploads"])
    parser.add_argument("guards", choices=["on", "off"])
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("NCE_TOKEN", "NCE_STUDENT_TOKENS", "NCE_ALLOWED_HOSTS")}
    env.update(NCE_HOST="127.0.0.1", NCE_PORT=str(port), NCE_BODY_TIMEOUT_S="5", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, args.guards], cwd=ROOT, env=env, preexec_fn=_limits,
                            stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        print(f"guards {args.guards}; health idle: {health(url, 20)}")
        (slowloris if args.attack == "slowloris" else stalled_uploads)(url, port, proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
