"""The Experiments view: sweeps run on the server, points land on the theory, links open the view;
and the live view's fixed-sample control (sample_size).

The tests take turns on one page (conftest.SharedDriver), each opening its link as a pasted one would;
the test of a link on a fresh page keeps a page of its own."""
from __future__ import annotations

import csv
import io
import json
import math
from urllib.parse import parse_qsl

import pytest

from .conftest import SMALL, hash_of

pytestmark = pytest.mark.timeout(120)

TINY = {"reps": "20", "sample_size": "200", "nr": "1, 10"}  # 40 models: well under a second
OTHER_NOISES = ["wide", "narrow", "laplace", "uniform", "shifted"]
# ~100 small groups: long as a whole (tens of seconds), yet each (noise, N_r) group, the unit a cancel waits for, is short
LONG = "#view=experiments&experiment=efficiency&reps=2000&sample_size=50&nr=" + ",".join(map(str, range(1, 17)))


def progress(page) -> tuple[str, str]:
    el = '[data-testid="experiment-progress"]'
    return page.get_attribute(el, "aria-valuenow"), page.text_content(el).strip()


def wait_done(page):
    page.wait_for_function(
        "() => document.querySelector('[data-testid=experiment-progress]').getAttribute('aria-valuenow') === '100'")


def plot_traces(page) -> list:
    return page.evaluate("""() => (document.querySelector('[data-testid=experiment-plot]').data || []).map(d =>
        JSON.parse(JSON.stringify({uid: d.uid, mode: d.mode, x: d.x, y: d.y, error_y: d.error_y || null,
                                   customdata: d.customdata || null})))""")


def hash_params(page) -> dict:
    return dict(parse_qsl(page.evaluate("location.hash").lstrip("#")))


def open_page(driver, base: str, hash_: str = ""):
    """Load the page and wait until the controller is up (the experiment menu is built); the live
    run's plots are not waited for."""
    driver.page.goto(f"{base}/{hash_}")
    driver.page.wait_for_selector('[data-testid="experiment-select"] option', state="attached")
    return driver.page


def open_link(shared, base: str, hash_: str):
    """An Experiments link on the shared page, as a pasted one: the hash in the address bar, then one
    hashchange (a live run is not restarted by it, so SharedDriver.open's wait does not apply); a first
    test loads the page."""
    if not shared.page.url.startswith(f"{base}/"):
        return open_page(shared, base, hash_)
    shared.paste_hash(hash_)
    shared.page.wait_for_selector('[data-testid="experiment-plot"]', state="visible")
    shared.dismiss_messages()
    return shared.page


def fill_tiny(page):
    for name, value in TINY.items():
        page.fill(f'[data-testid="experiment-{name}"]', value)
    page.check('[data-testid="experiment-noise-data"]')
    for preset in OTHER_NOISES:
        page.uncheck(f'[data-testid="experiment-noise-{preset}"]')


def test_an_efficiency_sweep_puts_its_points_on_the_theory_and_exports(module_server, shared):
    page = shared.open(module_server).page
    shared.click("experiments")
    page.wait_for_selector('[data-testid="experiment-plot"]', state="visible")
    assert not page.is_visible('[data-testid="density-plot"]')
    assert page.get_attribute('[data-testid="experiments"]', "aria-pressed") == "true"
    page.select_option('[data-testid="experiment-select"]', "efficiency")
    fill_tiny(page)
    assert shared.text("experiment-size") == "40 models"  # reps × N_r values × noises, before it runs
    shared.click("experiment-run")
    wait_done(page)
    value, text = progress(page)
    assert value == "100" and "40 models" in text
    assert page.get_attribute('[data-testid="experiment-progress"]', "role") == "progressbar"

    traces = {t["uid"]: t for t in plot_traces(page)}
    theory, measured = traces["theory-0"], traces["measured-0"]
    assert theory["mode"] == "lines" and measured["mode"] == "markers"
    at_one = theory["x"].index(1)
    assert theory["y"][at_one] == pytest.approx(2.0, abs=1e-3)  # 1 + 1/N_r at N_r = 1 (q = p_d)
    assert [row[5] for row in measured["customdata"]] == [1, 10]  # the N_r of each point
    assert len(measured["y"]) == 2
    for y, up, down in zip(measured["y"], measured["error_y"]["array"], measured["error_y"]["arrayminus"]):
        assert math.isfinite(y) and y > 0 and math.isfinite(up) and math.isfinite(down) and up >= 0 and down >= 0
    assert "95%" in shared.text("experiment-caption")

    params = hash_params(page)
    assert params["view"] == "experiments" and params["experiment"] == "efficiency"
    assert params["reps"] == "20" and params["nr"] == "1,10" and params["noises"] == "data"

    doc = json.loads(shared.download("experiment-export-json"))
    assert doc["experiment"] == "efficiency" and doc["config"]["reps"] == 20 and len(doc["points"]) == 2
    assert doc["theory_curves"] and "view=experiments" in doc["link"]
    rows = list(csv.DictReader(io.StringIO(shared.download("experiment-export-csv"))))
    assert [float(r["nr"]) for r in rows] == [1.0, 10.0]
    assert {"series", "measured", "ci_low", "ci_high", "theory", "reps"} <= set(rows[0])
    assert float(rows[0]["theory"]) == pytest.approx(2.0, abs=1e-3) and rows[0]["reps"] == "20"
    with page.expect_download() as info:
        shared.click("experiment-export-png")
    assert info.value.suggested_filename.endswith(".png")
    shared.shot("experiments-efficiency")


def wait_status(page, status: str):
    page.wait_for_function("s => document.querySelector('[data-testid=experiment-progress]').dataset.status === s", arg=status)


def test_cancel_a_refused_config_and_a_new_run_that_replaces_the_running_one(module_server, shared):
    page = open_link(shared, module_server, LONG)
    page.wait_for_selector('[data-testid="experiment-plot"]', state="visible")
    assert page.is_disabled('[data-testid="experiment-cancel"]')
    shared.click("experiment-run")
    wait_status(page, "running")
    # while it runs, the server's prediction of its time and memory (models/experiments: SweepCost)
    page.wait_for_function("() => /models \\(predicted ~\\d+ (s|min) on one core, ~[\\d.]+ MB\\)$/.test("
                           "document.querySelector('[data-testid=experiment-progress]').textContent.trim())")
    shared.click("experiment-cancel")
    wait_status(page, "cancelled")
    assert "cancelled" in progress(page)[1]

    shared.click("experiment-run")
    wait_status(page, "running")
    page.fill('[data-testid="experiment-reps"]', "1")
    shared.click("experiment-run")
    error = page.wait_for_selector('[data-testid="experiment-error"]:not([hidden])')
    assert error.get_attribute("role") == "alert"
    assert "reps" in error.text_content() and "2" in error.text_content()  # the field and its bound, in the server's words
    assert page.locator('#experiment-knobs [data-exp-knob="reps"].invalid').count() == 1
    assert page.get_attribute('[data-testid="experiment-progress"]', "data-status") == "running"  # the running one goes on

    fill_tiny(page)
    shared.click("experiment-run")  # replaces the running sweep: its late messages are ignored
    wait_done(page)
    assert page.is_hidden('[data-testid="experiment-error"]')
    assert page.locator('#experiment-knobs .invalid').count() == 0
    measured = [t for t in plot_traces(page) if t["uid"].startswith("measured-")]
    assert len(measured) == 1 and [row[5] for row in measured[0]["customdata"]] == [1, 10]
    assert page.is_disabled('[data-testid="experiment-cancel"]')


def test_an_experiments_link_opens_the_view_and_leaving_it_restores_the_live_hash(module_server, shared):
    page = shared.open(module_server).page
    before = hash_params(page)
    assert "grid" in before
    page.evaluate("h => { window.location.hash = h; }", "#view=experiments&experiment=ranking&k=1,4")  # a link
    page.wait_for_selector('[data-testid="experiment-plot"]', state="visible")
    assert shared.value("experiment-select") == "ranking"
    assert shared.value("experiment-k") == "1, 4"
    assert page.is_hidden('[data-testid="density-plot"]')
    assert progress(page) == ("0", "not run yet")  # opening a link does not run it
    assert hash_params(page) == {"view": "experiments", "experiment": "ranking", "k": "1,4"}
    assert shared.messages() == ""  # the hash code takes the view's keys without complaint
    assert page.get_attribute('[data-testid="experiments"]', "aria-pressed") == "true"

    shared.click("experiments")  # back to the live view, and its hash
    page.wait_for_selector('[data-testid="density-plot"]', state="visible")
    assert hash_params(page) == before
    shared.click("experiments")
    assert hash_params(page) == {"view": "experiments", "experiment": "ranking", "k": "1,4"}  # the form kept its knobs

    shared.click("lesson-nr-to-mle")  # lesson 2 ends with a way into the efficiency experiment
    page.wait_for_selector('[data-testid="density-plot"]', state="visible")
    shared.click("lesson-open-experiment")
    page.wait_for_selector('[data-testid="experiment-plot"]', state="visible")
    assert shared.value("experiment-select") == "efficiency"
    assert hash_params(page) == {"view": "experiments", "experiment": "efficiency"}


def test_an_experiments_link_opens_the_view_on_a_fresh_page_and_reports_what_it_cannot_use(live_server, driver):
    page = open_page(driver, live_server, "#view=experiments&experiment=ranking&bogus=1")
    page.wait_for_selector('[data-testid="experiment-plot"]', state="visible")
    assert driver.value("experiment-select") == "ranking"
    assert page.is_hidden('[data-testid="density-plot"]')
    assert "bogus" in driver.wait_message("bogus")
    assert hash_params(page) == {"view": "experiments", "experiment": "ranking"}  # the unknown name is dropped
    page.evaluate("h => { window.location.hash = h; }", "#view=experiments&experiment=nope")
    assert "nope" in driver.wait_message("nope")
    assert driver.value("experiment-select") == "ranking"


def test_the_fixed_sample_control_sets_sample_size_live_and_in_the_link(module_server, shared):
    page = shared.open(module_server).page
    assert not shared.checked("sample_size")
    assert "fresh" in page.text_content('[data-knob="sample_size"] .hint')
    rev = shared.config_rev()
    shared.click("sample_size")
    shared.wait_rev_above(rev)
    assert hash_params(page)["sample_size"] == "1000"
    assert "10,000 noise points" in page.text_content('[data-knob="sample_size"] .hint')  # N_r = 10 by default
    shared.set_knob("sample_size-input", "256")
    assert hash_params(page)["sample_size"] == "256"
    assert shared.checked("sample_size")

    rev = shared.config_rev()
    shared.click("sample_size")  # off again: fresh draws
    shared.wait_rev_above(rev)
    assert "sample_size" not in hash_params(page)
    assert not shared.checked("sample_size")
    assert "fresh" in page.text_content('[data-knob="sample_size"] .hint')

    rev = shared.config_rev()
    page.evaluate("h => { window.location.hash = h; }", hash_of(**SMALL, sample_size=256))  # a link with it
    shared.wait_rev_above(rev)  # the run started again with it: the server accepted 256
    assert shared.checked("sample_size") and shared.value("sample_size-input") == "256"
    assert hash_params(page)["sample_size"] == "256"
