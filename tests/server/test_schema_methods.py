"""/api/schema publishes each method's capabilities and the constants the page needs, read from the
one home of each (models/methods.py, models/coverage.py, server/messages.py), so the page need not
re-derive them."""
from __future__ import annotations

import httpx

from models.coverage import COVERAGE_WARN
from models.methods import MAX_NEGATIVES, METHODS
from server.messages import MAX_STEP_N


def test_the_schema_publishes_method_capabilities_and_the_pages_constants(live_server):
    body = httpx.get(f"{live_server}/api/schema").json()
    methods = body["methods"]
    assert set(methods) == set(METHODS)
    assert methods["nce"]["learns_log_z"] and methods["nce"]["uses_nr"] and not methods["nce"]["uses_k"]
    assert methods["infonce"]["uses_k"] and not methods["infonce"]["learns_log_z"]
    assert methods["mle"]["has_density"] and methods["mle"]["integrates_log_z"] and not methods["mle"]["uses_noise"]
    assert not methods["cpc"]["has_density"] and not methods["cpc"]["has_gradient_comparison"]
    assert methods["nce"]["fixed_noise_knob"] == "nr" and methods["infonce"]["fixed_noise_knob"] == "k"
    assert all(entry["description"] == METHODS[name].description for name, entry in methods.items())
    constants = body["constants"]
    assert constants["COVERAGE_WARN"] == COVERAGE_WARN == 0.95
    assert constants["MAX_STEP_N"] == MAX_STEP_N and constants["MAX_NEGATIVES"] == MAX_NEGATIVES
    assert constants["FIXED_NOISE_ROUNDING"] == "half_even"
