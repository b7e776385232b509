"""Run sweeps of one experiment in this process and print, one JSON line each, their predicted and
measured peak memory and seconds (tests/models/experiments/test_sweep_cost.py runs it per experiment).

    python tests/models/experiments/peak_probe.py '[{"experiment": "efficiency", "reps": 50}, ...]'

Measured: the peak resident memory (VmHWM) above the resident memory just before the sweep, after a
tiny sweep of the same experiment has loaded everything lazy (kernels, Adam's imports) and the peak
was reset (/proc/self/clear_refs, Linux ≥ 4.0): what the sweep itself added at its worst moment.
glibc's malloc is told to map every block of 256 KB or more on its own (M_MMAP_THRESHOLD), so a freed
tensor leaves at once and the peak is the sweep's live memory: with the default, the heap may keep
what many chunks freed (measured: a 512² view of two_moons peaks at 20 MB with it, 77–190 MB without).
"""
from __future__ import annotations

import ctypes
import gc
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

WARM_UP = {  # the smallest sweep of each experiment: every code path, little memory
    "efficiency": {"reps": 2, "sample_size": 50, "nr": [1.0], "noises": [{"noise": "data"}]},
    "ranking": {"reps": 2, "sample_size": 50, "k": [1], "noises": [{"noise": "data"}]},
    "cpc_ceiling": {"reps": 1, "mi": [1.0], "batch_size": [8], "steps": 10, "hidden": 4, "depth": 1, "eval_batches": 1},
    "nr_budget": {"reps": 1, "nr": [1.0], "steps": 2, "sample_size": 16, "grid": 16},
}


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)


def main() -> None:
    configs = json.loads(sys.argv[1])
    ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, 256 * 1024)
    import torch
    torch.set_num_threads(1)
    from models.experiments import SweepContext, parse_sweep, predict, run_sweep

    experiment = configs[0]["experiment"]
    run_sweep(parse_sweep({"experiment": experiment, "device": "cpu", **WARM_UP[experiment]}))
    for raw in configs:
        cfg = parse_sweep({"device": "cpu", **raw})
        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # what came before goes back: the sweep cannot reuse it unseen
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        before = status_kb("VmRSS")
        started = time.perf_counter()
        run_sweep(cfg, SweepContext())
        seconds = time.perf_counter() - started
        cost = predict(cfg, "cpu")
        print(json.dumps({"config": raw, "predicted_mb": cost.peak_bytes / 2 ** 20,
                          "measured_mb": (status_kb("VmHWM") - before) / 1024, "predicted_s": cost.seconds,
                          "seconds": seconds, "driver": cost.driver}), flush=True)


if __name__ == "__main__":
    main()
