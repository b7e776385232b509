"""The cost model of a run (models/cost.py): its predicted peak memory against peaks measured in a fresh
process across the knob space (within 2×), and the refusal over a budget, which names the knobs that drive
the cost. (Predicted against measured seconds per step: bench/cost_bench.py; timings stay out of tests.)"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from models.config import ConfigError, RunConfig
from models.cost import MB, check_budget, human_bytes, knob_list, predict

PROBE = Path(__file__).with_name("cost_probe.py")
ROOT = Path(__file__).resolve().parents[2]

# small and large batch, k, N_r, hidden, depth; 1-D and 2-D; MLE, NCE, InfoNCE, CPC; fixed samples; uploads;
# fused steps and steps in chunks
ACROSS_THE_KNOBS = [
    {},
    {"data": "rings", "hidden": 256, "depth": 4, "batch_size": 512},
    {"data": "bimodal", "batch_size": 4096, "nr": 16},
    {"method": "infonce", "data": "two_moons", "hidden": 128, "depth": 2, "batch_size": 512, "k": 64},
    {"method": "infonce", "data": "bimodal", "batch_size": 64, "k": 128},
    {"method": "mle", "data": "correlated_gaussian", "hidden": 128, "depth": 3},
    {"method": "mle", "data": "custom", "grid": 256, "rows": 1000},
    {"method": "cpc", "batch_size": 2048, "hidden": 128},
    {"method": "infonce", "data": "rings", "sample_size": 2000, "k": 500, "noise": "student_t"},
]


@pytest.fixture(scope="module")
def measured() -> list[dict]:
    run = subprocess.run([sys.executable, str(PROBE), json.dumps(ACROSS_THE_KNOBS)], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    return [json.loads(line) for line in run.stdout.splitlines()]


def _table(rows: list[dict]) -> str:
    return "\n".join(f"{json.dumps(r['config'])}: predicted {r['predicted_mb']:.0f} MB, measured "
                     f"{r['measured_mb']:.0f} MB; {r['predicted_s'] * 1e3:.1f} ms against {r['seconds'] * 1e3:.1f} ms"
                     for r in rows)


def test_the_predicted_peak_is_within_2x_of_the_measured_one_across_the_knobs(measured):
    assert len(measured) == len(ACROSS_THE_KNOBS)
    off = [r for r in measured if not 0.5 <= r["predicted_mb"] / r["measured_mb"] <= 2.0]
    assert not off, "off by more than 2×:\n" + _table(off) + "\nall:\n" + _table(measured)
    assert max(r["measured_mb"] for r in measured) > 100  # the heavy ones were heavy: a real comparison


def test_the_issues_infonce_message_is_priced_in_chunks():
    """4,194,304 negatives per step: ~50 GB as one fused pass (the issue saw 24 GB before the OOM killer);
    in chunks of whole rows it fits the default 512 MB, at about a minute a step."""
    killer = RunConfig(method="infonce", data="rings", batch_size=4096, k=1024, hidden=256, depth=4)
    cost = check_budget(killer, 512)
    assert cost.memory_bytes < 512 * MB and cost.parts["step"].bytes < 128 * MB
    assert "(in chunks of 3,075 points)" in cost.parts["step"].driver
    assert 20 < cost.seconds_per_step < 200  # measured: ~50 s on one core of the reference VM


def test_a_config_over_the_budget_is_refused_naming_its_knobs():
    fused = RunConfig(method="infonce", batch_size=128, k=120, hidden=128)  # 15,488 points in one pass
    with pytest.raises(ConfigError) as refused:
        check_budget(fused, 16)
    message = str(refused.value)
    assert message.startswith("k × batch_size = 15,360 negatives per step needs ~")
    assert message.endswith("; this server allows 16 MB per session (NCE_SESSION_MEMORY_MB): "
                            "lower k, batch_size, hidden or depth")
    assert check_budget(fused, 64).memory_bytes > 16 * MB  # within a larger budget: the same cost, no refusal

    drawn = RunConfig(method="nce", sample_size=100_000, nr=40, noise="student_t")  # 4,000,000 noise points
    with pytest.raises(ConfigError) as refused:
        check_budget(drawn, 256)
    assert ("drawing a fixed sample of 4,000,000 noise points (N_r × sample_size, student_t noise) needs ~"
            in str(refused.value))
    assert str(refused.value).endswith("lower sample_size, nr or noise")


def test_the_cost_grows_with_the_knobs_that_drive_it():
    base = RunConfig(method="infonce", data="rings", batch_size=64, k=16)
    memory = lambda **knobs: predict(base.model_copy(update=knobs)).memory_bytes  # noqa: E731
    assert memory(k=128) > memory()  # fused: more negatives, more activations
    assert memory(hidden=256) > memory(hidden=64) and memory(depth=4) > memory(depth=1)
    assert memory(grid=512) > memory()
    seconds = lambda **knobs: predict(base.model_copy(update=knobs)).seconds_per_step  # noqa: E731
    assert seconds(k=1024, batch_size=4096) > 1000 * seconds()
    custom = RunConfig(data="custom", data_file="upload:x", grid=256)
    assert predict(custom, rows=50_000, dim=2).memory_bytes > predict(custom, rows=100, dim=2).memory_bytes


def test_public_carries_what_the_route_and_the_page_show():
    cost = predict(RunConfig())
    public = cost.public(512)
    assert set(public) == {"memory_mb", "seconds_per_step", "budget_mb", "max_step_seconds", "ok", "message", "driver"}
    assert public["ok"] is True and public["message"] is None and public["budget_mb"] == 512
    assert 1 < public["memory_mb"] < 64 and 0 < public["seconds_per_step"] < 0.05
    refused = cost.public(cost.memory_bytes / MB / 2)
    assert refused["ok"] is False and "NCE_SESSION_MEMORY_MB" in refused["message"]


def test_sizes_and_knob_lists_read_well():
    assert human_bytes(9.2 * 2 ** 30) == "9.2 GB" and human_bytes(512 * MB) == "512 MB"
    assert human_bytes(3.24 * MB) == "3.2 MB"
    assert knob_list(("k",)) == "k" and knob_list(("k", "batch_size", "hidden")) == "k, batch_size or hidden"
