"""Load test: N WebSocket clients, each training its own session for T seconds against one server.

Prints frames/s per client (min and median), steps/s (sum over clients), errors, and the server's
resident memory before, at peak, and after the clients leave.

    python bench/load_test.py --clients 16 --seconds 10            # starts its own server
    python bench/load_test.py --url ws://127.0.0.1:8000/api/ws --clients 30 --seconds 20

With --url the server is someone else's and its memory is not reported.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field

import websockets

DEFAULT_CONFIG = {"method": "nce", "data": "bimodal", "steps": 1_000_000}


@dataclass
class ClientResult:
    frames: int = 0
    first_step: int | None = None
    last_step: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


async def _client(url: str, config: dict, seconds: float) -> ClientResult:
    result = ClientResult()
    try:
        async with websockets.connect(url, max_size=None, open_timeout=30) as ws:
            await ws.send(json.dumps({"type": "start", "config": config}))
            began = time.monotonic()
            while (remaining := seconds - (time.monotonic() - began)) > 0:
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=remaining)
                except asyncio.TimeoutError:
                    break
                message = json.loads(raw)
                if message["type"] == "frame":
                    result.frames += 1
                    result.first_step = message["step"] if result.first_step is None else result.first_step
                    result.last_step = message["step"]
                elif message["type"] == "error" or (message["type"] == "status"
                                                    and message["state"] in ("error", "diverged")):
                    result.errors.append(message.get("message") or message["state"])
            result.seconds = time.monotonic() - began
    except Exception as error:  # a refused or dropped socket is an error of the run, not of the script
        result.errors.append(f"{type(error).__name__}: {error}")
    return result


async def run_clients(url: str, clients: int, seconds: float, config: dict) -> list[ClientResult]:
    return await asyncio.gather(*(_client(url, config, seconds) for _ in range(clients)))


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    """A loopback port nothing listens on now (the other bench scripts use it too)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(max_sessions: int, **settings) -> tuple[subprocess.Popen, str]:
    """`nce-playground serve` on a free port; settings as NCE_<NAME> variables (e.g. train_slots=1)."""
    port = free_port()
    env = {**os.environ, "NCE_PORT": str(port), "NCE_MAX_SESSIONS": str(max_sessions),
           **{f"NCE_{name.upper()}": str(value) for name, value in settings.items()}}
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2)
            return proc, f"ws://127.0.0.1:{port}/api/ws"
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("server exited on start")
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not become healthy in 60 s")


def wait_for_sessions_to_end(http_base: str, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{http_base}/api/health", timeout=2) as response:
            if json.loads(response.read()).get("sessions", 0) == 0:
                return True
        time.sleep(0.1)
    return False


def summarise(results: list[ClientResult], rounds: int = 1) -> dict:
    rates = [r.frames / r.seconds if r.seconds else 0.0 for r in results]
    steps = [(r.last_step - (r.first_step or 0)) / r.seconds if r.seconds else 0.0 for r in results]
    return {
        "clients": len(results),
        "frames_per_s_min": min(rates),
        "frames_per_s_median": statistics.median(rates),
        "steps_per_s_total": sum(steps) / rounds,  # all clients of one round together
        "steps_per_s_median": statistics.median(steps),
        "errors": [e for r in results for e in r.errors],
    }


def load_test(clients: int, seconds: float, config: dict | None = None, url: str | None = None,
              rounds: int = 1, **settings) -> dict:
    """Run the load `rounds` times in a row; with no url, start a server of our own (with these
    server settings) and report its memory too (after each round, so growth across rounds shows a leak)."""
    config = config or DEFAULT_CONFIG
    proc = None
    if url is None:
        proc, url = start_server(max_sessions=max(clients, 32), **settings)
    http_base = url.replace("ws://", "http://").rsplit("/api/ws", 1)[0]
    try:
        before = rss_mb(proc.pid) if proc else None
        peak = [before or 0.0]
        after_rounds: list[float] = []

        async def one_round():
            async def sample_memory():
                while True:
                    peak[0] = max(peak[0], rss_mb(proc.pid))
                    await asyncio.sleep(0.5)
            sampler = asyncio.create_task(sample_memory()) if proc else None
            try:
                return await run_clients(url, clients, seconds, config)
            finally:
                if sampler:
                    sampler.cancel()

        results: list[ClientResult] = []
        sessions_ended = True
        for _ in range(rounds):
            results += asyncio.run(one_round())
            sessions_ended &= wait_for_sessions_to_end(http_base)
            if proc:
                after_rounds.append(rss_mb(proc.pid))
        summary = summarise(results, rounds)
        summary["sessions_ended"] = sessions_ended
        if proc:
            summary.update(rss_before_mb=before, rss_peak_mb=peak[0], rss_after_rounds_mb=after_rounds)
        return summary
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--url", help="ws://host:port/api/ws of a running server (default: start one)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the load; memory is read after each")
    parser.add_argument("--config", default=json.dumps(DEFAULT_CONFIG), help="JSON config each client starts")
    args = parser.parse_args()
    summary = load_test(args.clients, args.seconds, json.loads(args.config), args.url, args.rounds)
    print(f"{args.clients} clients x {args.seconds:.0f} s x {args.rounds} round(s)")
    print(f"frames/s per client: min {summary['frames_per_s_min']:.1f}, median {summary['frames_per_s_median']:.1f}")
    print(f"steps/s: total {summary['steps_per_s_total']:.0f}, median per client {summary['steps_per_s_median']:.0f}")
    print(f"errors: {len(summary['errors'])} {summary['errors'][:3]}")
    print(f"sessions ended after the clients left: {summary['sessions_ended']}")
    if "rss_before_mb" in summary:
        after = ", ".join(f"{mb:.0f}" for mb in summary["rss_after_rounds_mb"])
        print(f"server memory (RSS): before {summary['rss_before_mb']:.0f} MB, peak {summary['rss_peak_mb']:.0f} MB, "
              f"after each round {after} MB")


if __name__ == "__main__":
    main()
