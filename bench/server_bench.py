"""Server benchmark: prints numbers, passes or fails nothing.

    python bench/server_bench.py [--rounds 5] [--seconds 2] [--sets 30]

- latency from a `set` to the first frame carrying its config_rev (p50/p95 over --sets changes);
- frames/s and steps/s with one client attached, against a headless Trainer on the same config in
  the same process, in alternating windows (ratio = with client / headless; medians);
- bytes/s per client: the JSON payload, and what crossed the socket (after permessage-deflate).
Targets: p95 latency < 100 ms, steps/s ratio >= 0.9, < 150 KB/s per client.
"""
from __future__ import annotations

import argparse
import json
import socket
import statistics
import time

import torch
from websockets.sync.client import connect

from models.config import parse_config
from models.trainer import Trainer
from server.background import BackgroundServer

CONFIGS = {"1-D default": {}, "2-D default": {"data": "eight_gaussians"}}
LONG_RUN = 1_000_000  # steps (the most a config allows): the run never ends during a measurement


class CountingSocket(socket.socket):
    """Counts the bytes read from the wire (frames as sent, compressed)."""
    received = 0

    def recv(self, size, *args):
        data = super().recv(size, *args)
        self.received += len(data)
        return data


class Client:
    def __init__(self, ws_url: str, port: int):
        self.sock = CountingSocket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.connect(("127.0.0.1", port))
        self.ws = connect(ws_url, sock=self.sock, max_size=2 ** 23, max_queue=None, legacy=True)
        self.payload = 0

    def send(self, message: dict) -> None:
        self.ws.send(json.dumps(message))

    def recv(self, timeout: float = 30.0) -> dict:
        text = self.ws.recv(timeout=timeout)
        self.payload += len(text)
        return json.loads(text)

    def wait(self, predicate, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            message = self.recv(max(0.01, deadline - time.monotonic()))
            if message["type"] == "error":
                raise RuntimeError(f"the server refused a message: {message['message']}")
            if predicate(message):
                return message

    def close(self) -> None:
        self.ws.close()


def headless_rate(trainer: Trainer, seconds: float) -> float:
    """steps/s of a bare Trainer: what training runs at with no server around it."""
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        steps += trainer.step(10)
    return steps / (time.perf_counter() - start)


def throughput(server: BackgroundServer, port: int, config: dict, rounds: int, seconds: float) -> dict:
    """One client watching a run, against the headless Trainer, in alternating windows (the client's
    run paused meanwhile), so that drifting load on the machine hits both alike."""
    client = Client(server.url.replace("http", "ws") + "/api/ws", port)
    trainer = Trainer(parse_config({**config, "steps": LONG_RUN}))
    trainer.step(20)  # warm-up
    rows = []
    try:
        client.send({"type": "start", "config": {**config, "steps": LONG_RUN}})
        client.wait(lambda m: m["type"] == "frame" and m["step"] > 20)
        for _ in range(rounds):
            client.send({"type": "pause"})
            client.wait(lambda m: m["type"] == "frame" and m["state"] == "paused")
            headless = headless_rate(trainer, seconds)
            client.send({"type": "resume"})
            first = client.wait(lambda m: m["type"] == "frame" and m["state"] == "running")
            payload0, wire0, start, frames, last = client.payload, client.sock.received, time.monotonic(), 0, first
            while time.monotonic() - start < seconds:
                message = client.recv()
                if message["type"] == "frame":
                    frames, last = frames + 1, message
            elapsed = time.monotonic() - start
            steps_per_s = (last["step"] - first["step"]) / elapsed
            rows.append({"headless": headless, "steps_per_s": steps_per_s, "ratio": steps_per_s / headless,
                         "frames_per_s": frames / elapsed,
                         "payload_kb_s": (client.payload - payload0) / elapsed / 1000,
                         "wire_kb_s": (client.sock.received - wire0) / elapsed / 1000})
    finally:
        client.close()
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


def set_latencies(server: BackgroundServer, port: int, config: dict, count: int) -> list[float]:
    """Seconds from sending `set` to the first frame that carries its config_rev."""
    client = Client(server.url.replace("http", "ws") + "/api/ws", port)
    try:
        client.send({"type": "start", "config": {**config, "steps": LONG_RUN}})
        rev = client.wait(lambda m: m["type"] == "config")["config_rev"]
        client.wait(lambda m: m["type"] == "frame" and m["step"] > 20)
        latencies = []
        for i in range(count):
            time.sleep(0.1 + 0.013 * (i % 7))  # land at different points of the frame cadence
            sent = time.perf_counter()
            client.send({"type": "set", "config": {"nr": 5.0 if i % 2 else 20.0}})
            rev += 1
            client.wait(lambda m, rev=rev: m["type"] == "frame" and m["config_rev"] >= rev)
            latencies.append(time.perf_counter() - sent)
        return latencies
    finally:
        client.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each throughput window")
    parser.add_argument("--rounds", type=int, default=5, help="alternating headless / with-client windows")
    parser.add_argument("--sets", type=int, default=30, help="set messages for the latency measurement")
    args = parser.parse_args()

    server = BackgroundServer()
    server.start()
    torch.set_num_threads(server.settings.torch_threads)  # per thread: the headless runs get what sessions get
    port = int(server.url.rsplit(":", 1)[1])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op thread(s), "
          f"frame_rate {server.settings.frame_rate}/s, byte budget {server.settings.max_bytes_per_s / 1000:.0f} KB/s")
    try:
        for name, config in CONFIGS.items():
            latencies = [1000 * s for s in set_latencies(server, port, config, args.sets)]
            print(f"\n[{name}] set -> frame with its config_rev over {len(latencies)} sets: "
                  f"p50 {statistics.median(latencies):.1f} ms, p95 {percentile(latencies, 0.95):.1f} ms, "
                  f"max {max(latencies):.1f} ms")
            result = throughput(server, port, config, args.rounds, args.seconds)
            print(f"[{name}] medians of {args.rounds} alternating {args.seconds:g} s windows: headless "
                  f"{result['headless']:.0f} steps/s, with a client {result['steps_per_s']:.0f} steps/s "
                  f"(ratio {result['ratio']:.2f}), {result['frames_per_s']:.1f} frames/s")
            print(f"[{name}] per client: {result['payload_kb_s']:.1f} KB/s of JSON, "
                  f"{result['wire_kb_s']:.1f} KB/s on the wire (permessage-deflate)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
