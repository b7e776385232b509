"""Message flood: what one socket sending as fast as it can costs another session's frames.

Starts a server (a subprocess, so neither client shares its GIL), opens a watching session that trains
and counts its frames for --seconds alone, then for --seconds while a flooder (another process) sends
`--kind` messages as fast as its socket takes them and reads whatever comes back. Prints both frame
counts, their ratio, and what the flooder saw (messages sent, replies, error replies, the close).

    python bench/socket_flood_bench.py                          # ping flood, the server's defaults
    python bench/socket_flood_bench.py --kind set --seconds 5
    NCE_MESSAGE_RATE=10000 python bench/socket_flood_bench.py   # the limiter out of the way

Environment variables NCE_* reach the server.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = {  # what a flooder sends
    "ping": {"type": "ping"},
    "set": {"type": "set", "config": {"nr": 3}},       # a live patch: parsed, validated, applied each time
    "bad": {"type": "set", "config": {"nr": "many"}},  # refused: an error reply each time (before the limiter)
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(port: int) -> subprocess.Popen:
    env = {**os.environ, "NCE_PORT": str(port), "NCE_HOST": "127.0.0.1"}
    server = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1) as reply:
                if reply.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the server did not start: " + server.stderr.read().decode()[-2000:])


async def _count_frames(ws, seconds: float) -> int:
    frames, end = 0, time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), left))
        except asyncio.TimeoutError:
            break
        frames += message["type"] == "frame"
    return frames


async def flood(url: str, kind: str, seconds: float) -> dict:
    """Send `kind` messages for `seconds` as fast as the socket takes them; count what comes back."""
    text = json.dumps(MESSAGES[kind])
    seen = {"sent": 0, "replies": 0, "errors": 0, "first_error": None, "close": None, "closed_after_s": None}
    async with websockets.connect(url, max_size=None, max_queue=None, compression=None) as ws:
        await ws.send(json.dumps({"type": "start", "config": {"steps": 1_000_000}, "paused": True}))
        began = time.monotonic()

        async def read():
            try:
                async for raw in ws:
                    message = json.loads(raw)
                    seen["replies"] += message["type"] != "frame"
                    if message["type"] == "error":
                        seen["errors"] += 1
                        seen["first_error"] = seen["first_error"] or message["message"]
            except websockets.ConnectionClosed:
                pass
            seen["closed_after_s"] = round(time.monotonic() - began, 2)

        reader = asyncio.create_task(read())
        try:
            while time.monotonic() - began < seconds:
                await ws.send(text)
                seen["sent"] += 1
                if seen["sent"] % 64 == 0:
                    await asyncio.sleep(0)  # let the reader see replies (send() rarely waits)
        except websockets.ConnectionClosed:
            pass
        close = ws.protocol.close_rcvd
        if close is not None:
            seen["close"] = [close.code, close.reason]
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    return seen


async def watch(url: str, flood_cmd: list[str], seconds: float) -> dict:
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "start", "config": {"steps": 1_000_000}}))
        while json.loads(await ws.recv())["type"] != "frame":
            pass
        alone = await _count_frames(ws, seconds)
        flooder = await asyncio.create_subprocess_exec(*flood_cmd, stdout=asyncio.subprocess.PIPE)
        await asyncio.sleep(0.5)  # the flooder's interpreter and its socket are up
        flooded = await _count_frames(ws, seconds)
        out, _ = await flooder.communicate()
    return {"frames_alone": alone, "frames_flooded": flooded, "ratio": round(flooded / max(alone, 1), 2),
            "flooder": json.loads(out)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=sorted(MESSAGES), default="ping")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--flood-url", help=argparse.SUPPRESS)  # the flooder process
    args = parser.parse_args()
    if args.flood_url:
        print(json.dumps(asyncio.run(flood(args.flood_url, args.kind, args.seconds + 1))))
        return
    port = _free_port()
    server = _start_server(port)
    url = f"ws://127.0.0.1:{port}/api/ws"
    try:
        flood_cmd = [sys.executable, __file__, "--flood-url", url, "--kind", args.kind, "--seconds", str(args.seconds)]
        result = asyncio.run(watch(url, flood_cmd, args.seconds))
    finally:
        server.terminate()
        server.wait(10)
    print(json.dumps({"kind": args.kind, "seconds": args.seconds,
                      "message_rate": os.environ.get("NCE_MESSAGE_RATE", "default"), **result}, indent=1))


if __name__ == "__main__":
    main()
