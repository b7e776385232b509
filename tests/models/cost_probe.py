"""Run configs as a server session does, one after another in this process, and print as JSON lines their
predicted cost (models/cost.py) and their measured peak memory and seconds per step
(tests/models/test_cost.py runs it in a subprocess). Each config runs in a fork of the warmed-up process,
so none inherits what an earlier one left in glibc's heap (measured one after another in one process,
a config's peak came out at half of its peak in a fresh one).

    python tests/models/cost_probe.py '[{"method": "infonce", "k": 64}, {"data": "custom", "rows": 1000}]'

("rows": 2-D custom data of that many rows, drawn here.) As a session: build the Trainer, prepare the
frames' grids (server/render.prepare_views), then train steps while a second thread makes a frame and a
gradient comparison on a snapshot (the render pools do that beside the step). Measured: the peak resident
memory (VmHWM) above the resident memory just before the build, after a tiny run has loaded everything
lazy, the previous config's objects are gone, glibc has returned what was freed (malloc_trim) and the peak
was reset (/proc/self/clear_refs, Linux >= 4.0). glibc's malloc keeps its defaults, as the server's does:
its retained heap is part of what the machine sees. Seconds per step: the faster of two timed stretches.
"""
from __future__ import annotations

import ctypes
import gc
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

MB = 2 ** 20


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(raw: dict) -> dict:
    import torch
    from models.config import RunConfig
    from models.cost import predict
    from models.trainer import Trainer
    from server import render

    raw = dict(raw)
    rows = raw.pop("rows", None)
    config = RunConfig(**({"data_file": "upload:probe"} if rows else {}), **raw)
    samples = None
    if rows:
        samples = torch.randn(rows, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    # the same code paths at a tiny size first: a fork maps no library code until it runs (the first run of
    # a path faults in its pages of libtorch, ~30 MB that belong to the process, not to this config)
    tiny = config.model_copy(update={"hidden": 4, "depth": 1, "batch_size": 16, "grid": 16, "k": 2, "nr": 1.0,
                                     "sample_size": 16 if config.sample_size else None})
    warm = Trainer(tiny, samples)
    warm.step(2)
    warm.snapshot().frame(with_grad=config.method != "cpc")
    del warm
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = status_kb("VmRSS")

    trainer = Trainer(config, samples)
    render.prepare_views(trainer, 48)
    snapshot = trainer.snapshot()
    resolution = render.frame_resolution(trainer, 48)

    def frame() -> None:
        torch.set_num_threads(1)
        snapshot.frame(resolution=resolution, with_grad=False)
        if config.method != "cpc":
            snapshot.gradient_frame()

    framing = threading.Thread(target=frame)
    framing.start()
    steps, started = 0, time.perf_counter()
    while steps < 3 or framing.is_alive():
        steps += trainer.step(1)
    seconds = (time.perf_counter() - started) / steps
    framing.join()
    started = time.perf_counter()
    timed = trainer.step(3)
    seconds = min(seconds, (time.perf_counter() - started) / timed)
    measured = (status_kb("VmHWM") - before) / 1024
    cost = predict(config, rows, 2 if rows else None)
    return {"config": raw, "rows": rows, "predicted_mb": cost.memory_bytes / MB, "measured_mb": measured,
            "predicted_s": cost.seconds_per_step, "seconds": seconds, "driver": cost.driver}


def main() -> None:
    import torch
    torch.set_num_threads(1)
    from models.config import RunConfig
    from models.trainer import Trainer

    warm = Trainer(RunConfig(hidden=8, depth=1, grid=16, batch_size=16, steps=10))
    warm.step(2)
    warm.frame(with_grad=True)
    del warm
    for raw in json.loads(sys.argv[1]):
        child = os.fork()  # each config in a copy of this warmed-up process: a heap no earlier config has used
        if child == 0:
            try:
                print(json.dumps(measure(raw)), flush=True)
            finally:
                os._exit(0)
        _, status = os.waitpid(child, 0)
        if status != 0:
            raise SystemExit(f"the probe of {raw} failed (status {status})")


if __name__ == "__main__":
    main()
