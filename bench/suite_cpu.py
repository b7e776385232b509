"""Where a command's CPU goes, by kind of process: the test suite by default.

    python bench/suite_cpu.py                                   # the README's test command
    python bench/suite_cpu.py -- python -m pytest -q tests/frontend/test_page_run.py

Polls /proc every 0.3 s while the command runs and sums each process's CPU time (user + system) by
kind: python (the pytest workers, their servers and subprocesses), chromium (browser, renderers, GPU
and utility processes together), node (Playwright's driver), other. Every process on the machine is
counted, so run it on an otherwise idle machine. `time` cannot do this: Chromium's processes are
re-parented and never reaped by the command, so their CPU is missing from its children's total.
A process is classified once, when first seen (an exited renderer's zombie has no command line).
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter

README_COMMAND = [sys.executable, "-m", "pytest", "-q", "-n", "auto", "-p", "no:cacheprovider"]
POLL_S = 0.3
TICKS = os.sysconf("SC_CLK_TCK")


def _kind(comm: str, cmdline: str) -> str:
    if comm == "chromium" or "chromium" in cmdline.split(" ", 1)[0]:
        return "chromium"
    if comm.startswith("node"):
        return "node"
    if comm.startswith("python") or comm in ("nce-playground", "pytest") or "python" in cmdline.split(" ", 1)[0]:
        return "python"
    return "other"


def _read(pid: str) -> tuple[str, str, float] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        with open(f"/proc/{pid}/cmdline") as f:
            cmdline = f.read().replace("\0", " ")
    except OSError:
        return None
    comm = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    return comm, cmdline, (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def measure(command: list[str]) -> tuple[int, float, Counter]:
    """Run the command; return its exit code, wall seconds and CPU seconds by kind."""
    baseline: dict[str, float] = {}   # CPU already spent by processes alive at the start
    kinds: dict[str, str] = {}
    latest: dict[str, float] = {}
    done = threading.Event()

    def poll(first: bool = False) -> None:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            seen = _read(pid)
            if seen is None:
                continue
            comm, cmdline, cpu = seen
            if pid not in kinds:
                kinds[pid] = _kind(comm, cmdline)
                baseline[pid] = cpu if first else 0.0
            latest[pid] = cpu - baseline[pid]

    def loop() -> None:
        while not done.wait(POLL_S):
            poll()

    poll(first=True)
    poller = threading.Thread(target=loop, daemon=True)
    poller.start()
    start = time.monotonic()
    code = subprocess.call(command)
    wall = time.monotonic() - start
    done.set()
    poller.join()
    poll()
    by_kind: Counter = Counter()
    for pid, cpu in latest.items():
        if pid != str(os.getpid()):
            by_kind[kinds[pid]] += cpu
    return code, wall, by_kind


def main() -> int:
    command = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else README_COMMAND
    code, wall, by_kind = measure(command)
    total = sum(by_kind.values())
    print(f"\n{' '.join(command)}\nexit {code}, wall {wall:.0f} s, CPU {total:.0f} s "
          f"({total / wall:.2f} cores busy on average)")
    for kind, cpu in by_kind.most_common():
        print(f"  {kind:9s} {cpu:7.1f} s  {cpu / total:5.1%}")
    return code


if __name__ == "__main__":
    sys.exit(main())
