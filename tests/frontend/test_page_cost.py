"""The page shows what a run costs on the server (its predicted memory against the per-session budget,
and its speed), and a change over the budget is refused in words next to the knobs, nothing applied."""
from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.timeout(120)

BUDGET_MB = 24  # the page's small run is predicted at ~10 MB; hidden 256 at ~35 MB


def test_the_cost_line_shows_the_prediction_and_a_refusal_over_the_budget(make_server, driver):
    server = make_server(session_memory_mb=BUDGET_MB)
    driver.open(server)
    page = driver.page
    page.wait_for_function("() => !document.querySelector('[data-testid=cost]').hidden")
    line = driver.text("cost")
    assert re.fullmatch(rf"~[\d.]+ MB of {BUDGET_MB} MB · ~[\d,.]+ steps/s", line), line
    assert float(re.match(r"~([\d.]+)", line).group(1)) < BUDGET_MB

    rev = driver.config_rev()
    driver.set_knob("hidden-input", "256", accepted=False)
    page.wait_for_function("() => document.querySelector('[data-testid=cost]').textContent.startsWith('Not applied')")
    refusal = driver.text("cost")
    assert f"this server allows {BUDGET_MB} MB per session (NCE_SESSION_MEMORY_MB)" in refusal, refusal
    assert "hidden" in refusal.split("lower", 1)[1], refusal
    assert driver.config_rev() == rev  # nothing applied: no new config from the server
    driver.click("play")  # the run goes on with its old knobs
    driver.wait_steps_above(5)
