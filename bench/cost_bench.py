"""The cost model (models/cost.py) against measurement: for configs across the knob space, the predicted
peak memory and seconds per step next to what a fresh process measured (tests/models/cost_probe.py: each
config trained as a session trains it, a frame and a gradient comparison beside the steps), and the ratios.

    python bench/cost_bench.py            # the test's nine configs and a few heavy ones

The memory ratio is also a test (tests/models/test_cost.py, within 2×); the time ratio is only printed here
(one core of a shared machine: compare it with the same run's other rows).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.models.test_cost import ACROSS_THE_KNOBS  # noqa: E402  (one list of configs, the test's)

HEAVY = [
    {"data": "rings", "batch_size": 4096, "nr": 16, "hidden": 256, "depth": 4},
    {"method": "cpc", "batch_size": 4096, "hidden": 256, "depth": 4},
    {"method": "infonce", "data": "rings", "batch_size": 1024, "k": 64, "hidden": 128, "depth": 2},
]


def main() -> None:
    configs = ACROSS_THE_KNOBS + HEAVY
    run = subprocess.run([sys.executable, str(ROOT / "tests/models/cost_probe.py"), json.dumps(configs)],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    print(f"{'config':<92} {'pred MB':>8} {'meas MB':>8} {'ratio':>6} {'pred ms':>9} {'meas ms':>9} {'ratio':>6}")
    for line in run.stdout.splitlines():
        row = json.loads(line)
        print(f"{json.dumps(row['config'])[:92]:<92} {row['predicted_mb']:8.0f} {row['measured_mb']:8.0f} "
              f"{row['predicted_mb'] / row['measured_mb']:6.2f} {row['predicted_s'] * 1e3:9.1f} "
              f"{row['seconds'] * 1e3:9.1f} {row['predicted_s'] / row['seconds']:6.2f}")


if __name__ == "__main__":
    main()
