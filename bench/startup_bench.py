"""Start-up of the CLI, side by side with `import torch` in the same minute (the floor a server that
needs torch before it listens cannot beat).

    python bench/startup_bench.py [--repeats 3]

Prints, per repeat: `nce-playground --help`, `serve` until its port accepts a connection, `serve` until
/api/health answers (the real app built: torch and the models loaded), and a bare `import torch`;
then the medians and each one's ratio to `import torch`.
"""
from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

from load_test import free_port  # bench/ is on the path of a script run from it


def _timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _serve_times() -> tuple[float, float]:
    """(seconds until the port accepts, seconds until /api/health answers 200)."""
    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError("serve exited before it listened")
                time.sleep(0.01)
        listening = time.perf_counter() - started
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=120) as reply:
            assert reply.status == 200
        return listening, time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, list[float]] = {"--help": [], "serve: port open": [], "serve: app ready": [],
                                    "import torch": []}
    for repeat in range(args.repeats):
        rows["--help"].append(_timed([sys.executable, "-m", "server.cli", "--help"]))
        listening, ready = _serve_times()
        rows["serve: port open"].append(listening)
        rows["serve: app ready"].append(ready)
        rows["import torch"].append(_timed([sys.executable, "-c", "import torch"]))
        print(f"repeat {repeat + 1}: " + ", ".join(f"{name} {times[-1]:.2f} s" for name, times in rows.items()))
    floor = statistics.median(rows["import torch"])
    print(f"\nmedians over {args.repeats} repeats (ratio to a bare `import torch`, {floor:.2f} s):")
    for name, times in rows.items():
        median = statistics.median(times)
        print(f"  {name:18s} {median:6.2f} s   x{median / floor:.2f}")


if __name__ == "__main__":
    main()
