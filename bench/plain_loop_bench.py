"""The app's Trainer against the plain loop a user would write in a notebook, side by side in one
process, idle and with one core kept busy by a second process.

    python bench/plain_loop_bench.py [--seconds 4] [--threads 1]

Both train the default 1-D NCE run (bimodal data, a Gaussian fitted to it as q, N_r = 10, batch 256,
a 64-wide 2-layer MLP, Adam 1e-2). The plain loop has no frames, no schedule and no checks: its
steps/s is what the engine's overhead is measured against.
"""
from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from models.config import RunConfig  # noqa: E402
from models.trainer import Trainer  # noqa: E402


def plain_loop_rate(seconds: float) -> float:
    """A notebook's NCE loop on the same data, noise and network."""
    trainer = Trainer(RunConfig())  # only for its data and noise densities
    data, noise = trainer.data, trainer.noise
    net = nn.Sequential(nn.Linear(1, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
    log_z = nn.Parameter(torch.zeros(()))
    optimizer = torch.optim.Adam([*net.parameters(), log_z], lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    nr, batch = 10.0, 256

    def step() -> None:
        x = data.sample(batch, gen).float()
        y = noise.sample(int(nr * batch), gen).float()
        h_x = net(x).squeeze(-1) - log_z - noise.log_prob(x) - math.log(nr)
        h_y = net(y).squeeze(-1) - log_z - noise.log_prob(y) - math.log(nr)
        loss = -(F.logsigmoid(h_x).mean() + nr * F.logsigmoid(-h_y).mean())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(10):
        step()
    start, taken = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        step()
        taken += 1
    return taken / (time.perf_counter() - start)


def trainer_rate(seconds: float) -> float:
    trainer = Trainer(RunConfig(steps=1_000_000))
    trainer.step(10)
    start, taken = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        taken += trainer.step(20)
    return taken / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for busy in (False, True):
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
        try:
            app, plain = trainer_rate(args.seconds), plain_loop_rate(args.seconds)
        finally:
            if hog is not None:
                hog.kill()
        what = "one core kept busy" if busy else "idle"
        print(f"{what:>20}, {args.threads} torch thread(s): Trainer {app:6.0f} steps/s, plain loop {plain:6.0f} "
              f"steps/s, ratio {app / plain:.2f}")


if __name__ == "__main__":
    main()
