"""The CUDA path in one short run (for a machine with a GPU): a live Trainer with a fixed sample, every
experiment on the GPU with its numbers, and the batched-vs-sequential ratio there.

    python bench/gpu_check.py          # prints one block per check; exits 1 if a check fails
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from models.config import RunConfig  # noqa: E402
from models.experiments import SweepContext, parse_sweep, run_sweep  # noqa: E402
from models.trainer import Trainer  # noqa: E402

failures: list[str] = []


def check(ok: bool, what: str) -> None:
    print(("  ok   " if ok else "  FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def sweep(raw: dict) -> dict:
    result = run_sweep(parse_sweep(raw), SweepContext())
    torch.cuda.synchronize()
    print(f"{raw['experiment']}: {result['models']} models in {result['seconds']:.2f} s on {result['device']}", flush=True)
    return result


def main() -> int:
    print(f"torch {torch.__version__}, cuda {torch.cuda.is_available()}, "
          f"{torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-'}", flush=True)
    if not torch.cuda.is_available():
        return 1
    torch.set_num_threads(4)
    # a live run on the GPU, fixed sample, frames with the gradient comparison
    for cfg in (RunConfig(sample_size=512, nr=10, steps=300), RunConfig(data="two_moons", steps=200),
                RunConfig(method="mle", data="two_moons", steps=100), RunConfig(method="infonce", sample_size=256, steps=100),
                RunConfig(method="cpc", steps=200)):
        trainer = Trainer(cfg)
        started = time.perf_counter()
        trainer.step(cfg.steps)
        torch.cuda.synchronize()
        rate = cfg.steps / (time.perf_counter() - started)
        frame = trainer.frame(with_grad=True)
        check(trainer.device.type == "cuda" and trainer.state == "done" and frame["loss"] is not None,
              f"Trainer {cfg.method} on {cfg.data} (sample_size {cfg.sample_size}): {rate:.0f} steps/s, "
              f"kl {frame['kl']}, gap {None if frame['log_z_est'] is None or frame['log_z_true'] is None else round(frame['log_z_est'] - frame['log_z_true'], 4)}")
    result = sweep({"experiment": "efficiency", "reps": 1000, "sample_size": 1000, "nr": [0.5, 1, 2, 5, 10, 100],
                    "noises": [{"noise": "data"}]})
    for point in result["points"]:
        expected = 1 + 1 / point["nr"]
        check(abs(point["measured"] / expected - 1) < 0.15,
              f"efficiency N_r {point['nr']:g}: {point['measured']:.3f} [{point['ci'][0]:.3f}, {point['ci'][1]:.3f}] "
              f"vs 1 + 1/N_r = {expected:.3f}")
    result = sweep({"experiment": "efficiency", "reps": 1000})
    for point in result["points"]:
        print(f"    {point['label']:<22} N_r {point['nr']:>5g}: {point['measured']:.3f} "
              f"[{point['ci'][0]:.3f}, {point['ci'][1]:.3f}] theory {point['theory']:.3f}")
    result = sweep({"experiment": "ranking", "reps": 1000})
    for point in result["points"]:
        print(f"    {point['label']:<22} k {point['k']:>4}: {point['measured']:.3f} "
              f"[{point['ci'][0]:.3f}, {point['ci'][1]:.3f}] theory {point['theory']:.3f}")
    result = sweep({"experiment": "cpc_ceiling"})
    for point in result["points"]:
        check(point["measured"] <= point["cap"] + 0.05,
              f"cpc MI {point['mi']:g} B {point['batch_size']}: {point['measured']:.3f} "
              f"(optimal critic {point['theory']:.3f}, cap {point['cap']:.3f})")
    result = sweep({"experiment": "nr_budget", "reps": 8, "nr": [0.1, 0.3, 1, 3, 10, 30, 100], "steps": 2000})
    for point in result["points"]:
        print(f"    N_r {point['nr']:>6g}: KL {point['measured']:.4f} [{point['ci'][0]:.4f}, {point['ci'][1]:.4f}] "
              f"|gap| {point['z_gap']:.4f}  {point['seconds_per_step'] * 1e3:.2f} ms/step (8 models)")
    from bench.sweep_bench import bench_batch  # noqa: E402
    bench_batch(64, 100)
    print("FAILED: " + "; ".join(failures) if failures else "all checks passed", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
