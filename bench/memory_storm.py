"""Memory after a socket storm: does the server give back what its sessions freed?

Starts one server per variant (a subprocess on a free loopback port, the variant's environment),
then sends each the same storm: N sockets in batches of B, each socket starting a run (1-D and 2-D
presets in turn), reading its first 3 frames and closing while it still trains. The batches go round the variants in turn,
so all of them run in the same minutes on the same (shared) machine. Prints, per variant, the
resident memory (RSS) cold, at start (after one warm-up socket per config: the lazy imports are
done), at peak, and after the storm once every session has ended and the server has sat idle for a
while, and the ratio after/start.

    python bench/memory_storm.py                                   # 200 sockets in batches of 20
    python bench/memory_storm.py --sockets 40 --batch 10 --variants default,trim

Variants: default (glibc as it comes), arena2 (MALLOC_ARENA_MAX=2), trim (malloc_trim(0) after each
session ends: server/memory.py), arena2+trim (both). Linux only (reads /proc/PID/status).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import websockets

from load_test import free_port  # bench/ is on the path of a script run from it

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [  # short runs, 1-D and 2-D, the methods with the most different work
    {"method": "nce", "data": "bimodal", "steps": 300},
    {"method": "mle", "data": "two_moons", "steps": 100},
    {"method": "infonce", "data": "bimodal", "steps": 300},
    {"method": "nce", "data": "rings", "steps": 100},
]
VARIANTS = {  # name: (extra environment, malloc_trim after each session)
    "default": ({}, False),
    "arena2": ({"MALLOC_ARENA_MAX": "2"}, False),
    "trim": ({}, True),
    "arena2+trim": ({"MALLOC_ARENA_MAX": "2"}, True),
}
# the server as `nce-playground serve` starts it, with server/memory.py switched on or off
LAUNCH = ("import sys, server.memory as memory; memory.ENABLED = sys.argv[1] == 'trim'; "
          "from server.cli import main; sys.exit(main(['serve']))")
FRAMES = 3  # frames a socket reads before it closes: the model is built, trained and drawn
SOCKET_TIMEOUT_S = 120.0


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _health(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5) as response:
        return json.loads(response.read())


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    port: int
    rss: dict[str, float] = field(default_factory=dict)
    peak: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/ws"

    def sample(self) -> float:
        mb = rss_mb(self.proc.pid)
        self.peak = max(self.peak, mb)
        return mb


def start_server(name: str, max_sessions: int) -> Server:
    extra, trim = VARIANTS[name]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "NCE_TOKEN", "NCE_ALLOWED_HOSTS")}
    env.update(extra, NCE_HOST="127.0.0.1", NCE_PORT=str(port), NCE_MAX_SESSIONS=str(max_sessions),
               PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, "trim" if trim else "off"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return Server(name, proc, port)


def wait_healthy(server: Server, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name}: the server exited on start ({server.proc.returncode})")
        try:
            if _health(server.port).get("status") == "ok":
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.name}: not healthy within {timeout:.0f} s")


def wait_sessions_ended(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while _health(server.port).get("sessions", 0) != 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name}: sessions still open {timeout:.0f} s after the storm")
        time.sleep(0.1)


async def one_socket(server: Server, config: dict) -> None:
    """Start a run, read its first FRAMES frames (or up to its end, if sooner), close mid-run."""
    try:
        async with websockets.connect(server.url, origin=f"http://127.0.0.1:{server.port}", max_size=None,
                                      open_timeout=60, close_timeout=5) as ws:
            await ws.send(json.dumps({"type": "start", "config": config}))
            deadline, frames = time.monotonic() + SOCKET_TIMEOUT_S, 0
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), max(0.0, deadline - time.monotonic())))
                if message["type"] == "error":
                    server.errors.append(message.get("message", "error"))
                    return
                frames += message["type"] == "frame"
                if frames >= FRAMES or (message["type"] == "status"
                                        and message["state"] in ("done", "diverged", "error")):
                    return
    except Exception as error:  # a refused or dropped socket is a finding of the storm, not a crash of it
        server.errors.append(f"{type(error).__name__}: {error}")


async def batch(server: Server, size: int, first: int) -> None:
    async def sample():
        while True:
            server.sample()
            await asyncio.sleep(0.25)
    sampler = asyncio.create_task(sample())
    try:
        await asyncio.gather(*(one_socket(server, CONFIGS[(first + i) % len(CONFIGS)]) for i in range(size)))
    finally:
        sampler.cancel()
    server.sample()


def storm(names: list[str], sockets: int, batch_size: int, idle_s: float) -> tuple[list[Server], float]:
    servers = [start_server(name, max_sessions=max(batch_size, 32)) for name in names]
    began = time.monotonic()
    try:
        for server in servers:
            wait_healthy(server)
            server.rss["cold"] = server.sample()
        for server in servers:  # warm-up: one socket per config, so the lazy imports are in "start"
            asyncio.run(batch(server, len(CONFIGS), 0))
            wait_sessions_ended(server)
        time.sleep(idle_s)
        for server in servers:
            server.rss["start"] = rss_mb(server.proc.pid)
            server.peak = server.rss["start"]
        sent = 0
        while sent < sockets:  # batches go round the variants: the same minutes for all of them
            size = min(batch_size, sockets - sent)
            for server in servers:
                asyncio.run(batch(server, size, sent))
            sent += size
            print(f"  {sent}/{sockets} sockets per variant, {time.monotonic() - began:.0f} s", file=sys.stderr)
        for server in servers:
            wait_sessions_ended(server)
        time.sleep(idle_s)
        for server in servers:
            server.rss["after"] = rss_mb(server.proc.pid)
        return servers, time.monotonic() - began
    finally:
        for server in servers:
            server.proc.terminate()
        for server in servers:
            try:
                server.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=200, help="sockets per variant (default 200)")
    parser.add_argument("--batch", type=int, default=20, help="sockets open at once (default 20)")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds idle before reading memory (default 10)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    args = parser.parse_args()
    names = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        parser.error(f"--variants: unknown {', '.join(unknown)} (choose from {', '.join(VARIANTS)})")
    if not 1 <= args.batch <= 1024 or args.sockets < 1:
        parser.error("--batch must be in 1..1024 and --sockets at least 1")
    servers, seconds = storm(names, args.sockets, args.batch, args.idle)
    print(f"{args.sockets} sockets per variant in batches of {args.batch}, {len(names)} variants side by side, "
          f"{seconds:.0f} s in all; RSS in MB (start: after warm-up and {args.idle:g} s idle)")
    print(f"{'variant':<13}{'cold':>8}{'start':>8}{'peak':>8}{'after':>8}{'after/start':>13}  errors")
    for s in servers:
        print(f"{s.name:<13}{s.rss['cold']:>8.0f}{s.rss['start']:>8.0f}{s.peak:>8.0f}{s.rss['after']:>8.0f}"
              f"{s.rss['after'] / s.rss['start']:>12.2f}x  {len(s.errors)} {s.errors[:2] if s.errors else ''}")


if __name__ == "__main__":
    main()
