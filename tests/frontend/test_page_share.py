"""Links, lessons and exports: the config travels in the URL hash; lessons set knobs; runs download.

The lesson and export tests take turns on one page (conftest.SharedDriver): each opens its config as a link
would. The link tests keep pages of their own: they check what a page loaded from a link shows."""
from __future__ import annotations

import csv
import io
import json

import pytest

pytestmark = pytest.mark.timeout(120)


def test_a_share_link_opened_in_a_new_page_restores_the_config(live_server, driver, context):
    page = driver.open(live_server).page
    driver.set_knob("method", "infonce")
    driver.set_knob("data", "laplace")
    driver.set_knob("k-input", "32")
    driver.set_knob("nr-input", "50")
    driver.click("share")
    link = page.input_value('[data-testid="share-link"]')
    assert link.startswith(live_server) and "#" in link
    for part in ("method=infonce", "data=laplace", "k=32", "nr=50", "grid=32"):
        assert part in link

    other = type(driver)(context.new_page())
    other.page.goto(link)
    other.wait_ready()
    assert other.value("method") == "infonce"
    assert other.value("data") == "laplace"
    assert other.value("k-input") == "32"
    assert other.value("nr-input") == "50"
    assert other.value("grid-input") == "32"
    assert other.page.evaluate("location.hash") == page.evaluate("location.hash")
    other.wait_trace("z-plot", "zest-main")
    other.shot("share-restored-infonce")
    # InfoNCE: the knobs that mean little for it say so where they are
    hints = other.page.evaluate("""() => Object.fromEntries(['learn_log_z', 'nr'].map(name =>
        [name, document.querySelector(`[data-knob="${name}"] .hint`).textContent]))""")
    assert "no gradient" in hints["learn_log_z"] and "Only the gradient and weight panels" in hints["nr"]
    other.set_knob("method", "nce")
    other.page.wait_for_function("() => document.querySelector('[data-knob=learn_log_z] .hint').textContent === ''")


def test_a_bad_hash_is_reported_and_the_page_stays_usable(live_server, driver):
    page = driver.page
    page.goto(f"{live_server}/#nr=5000&bogus=1&grid=32&hidden=16")
    driver.wait_ready()
    text = driver.wait_message("nr")
    assert "bogus" in text  # unknown names are reported by the page
    assert "1000" in text  # the server's bound for nr, in its own words
    assert driver.value("nr-input") == "10"  # the refused value is not kept
    assert "nr=5000" not in page.evaluate("location.hash")
    assert page.locator('[data-knob="nr"].invalid').count() == 1
    driver.click("play")
    driver.wait_steps_above(5)
    driver.shot("bad-hash-message")


def test_a_value_that_is_not_a_number_is_refused_by_name(live_server, driver):
    driver.page.goto(f"{live_server}/#lr=fast&grid=32&hidden=16")
    driver.wait_ready()
    assert "lr:" in driver.wait_message("lr:")
    assert driver.value("lr-input") != "fast"


@pytest.mark.parametrize("lesson, knobs", [
    ("narrow-noise", {"noise_fit": False, "noise_scale-input": "0.35", "noise_loc-input": "0", "method": "nce"}),
    ("infonce-z", {"method": "infonce", "k-input": "16"}),
])
def test_a_lesson_sets_its_knobs_and_explains_itself(module_server, shared, lesson, knobs):
    page = shared.open(module_server).page
    shared.wait_curve_restarted("z-plot", "zest-main")  # a later wait must see this lesson's curve
    shared.click(f"lesson-{lesson}")
    shared.wait_state("running")
    for testid, expected in knobs.items():
        if isinstance(expected, bool):
            page.wait_for_function("([id, v]) => document.querySelector(`[data-testid=\"${id}\"]`).checked === v",
                                   arg=[testid, expected])
        else:
            page.wait_for_function("([id, v]) => document.querySelector(`[data-testid=\"${id}\"]`).value === v",
                                   arg=[testid, expected])
    card = page.locator('[data-testid="lesson-card"]')
    assert card.is_visible()
    assert card.locator("math").count() >= 1  # the equation, in MathML
    assert page.get_attribute(f'[data-testid="lesson-{lesson}"]', "aria-pressed") == "true"
    if lesson == "narrow-noise":
        page.wait_for_selector('[data-testid="coverage-warning"]:not([hidden])')
    else:
        shared.wait_trace("z-plot", "zest-main", "t.x.length >= 2")
        assert "InfoNCE" in shared.text("z-note")
    shared.shot(f"lesson-{lesson}")
    shared.close_lesson()
    shared.scroll_to_top()


def test_the_cpc_lesson_shows_the_log_batch_ceiling(module_server, shared):
    page = shared.open(module_server).page
    shared.click("lesson-cpc-ceiling")
    page.wait_for_selector('[data-testid="mi-plot"] .main-svg')
    assert shared.value("method") == "cpc"
    assert shared.value("batch_size-input") == "32"
    assert not page.is_visible('[data-testid="density-plot"]')
    shared.wait_text("mi-note", r"log\(batch\) = 3\.47")
    shared.wait_text("step-count", "^[1-9]")
    shared.shot("lesson-cpc")
    shared.close_lesson()
    shared.scroll_to_top()


def test_export_downloads_json_with_history_and_csv(module_server, shared):
    shared.open(module_server)
    shared.click("play")
    shared.wait_steps_above(40)
    shared.click("pause")
    shared.wait_state("paused")
    doc = json.loads(shared.download("export"))
    assert doc["config"]["grid"] == 32 and doc["config"]["method"] == "nce"
    assert len(doc["history"]) >= 3
    row = doc["history"][-1]
    for key in ("step", "loss", "log_z_est", "log_z_true", "kl", "grad_cos", "grad_norm_ratio"):
        assert key in row
    assert doc["final"]["step"] == shared.step_count()
    assert len(doc["final"]["grid"]["log_p"]) == 32
    assert doc["final"]["grad"]["nr"][0] == pytest.approx(0.1)
    assert "#" in doc["link"]
    rows = list(csv.DictReader(io.StringIO(shared.download("export-csv"))))
    assert len(rows) == len(doc["history"]) and rows[-1]["step"] == str(doc["history"][-1]["step"])
    with shared.page.expect_download() as info:
        shared.click("export-png")
    assert info.value.suggested_filename.endswith(".png")
