"""The page drives a run: load, play, live knobs, pause, step, reset, keyboard, large text."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(120)

TEST_IDS = ["play", "pause", "step", "reset", "method", "data", "noise", "nr", "share", "export", "step-count",
            "density-plot", "loss-plot", "z-plot", "grad-plot", "status", "kl-plot", "classifier-plot", "upload",
            "config-rev", "compare", "message"]


def test_page_loads_with_every_control_and_holds_at_step_0_then_play_changes_the_density(live_server, driver):
    """One page load for both: the page at step 0 (read-only checks), then Play on it."""
    page = driver.open(live_server).page
    for testid in TEST_IDS:
        assert page.locator(f'[data-testid="{testid}"]').count() == 1, testid
    assert driver.step_count() == 0
    assert driver.text("device") == "CPU"
    assert driver.value("method") == "nce" and driver.value("data") == "bimodal"
    # every control has a label (keyboard and screen-reader users)
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('#knobs input, #knobs select')]
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map(el => el.id)""")
    assert unlabelled == []
    assert page.locator("nav.lessons button").count() >= 6
    before = driver.wait_trace("density-plot", "p-model-0")["y"]
    driver.shot("page-loaded")
    assert driver.step_count() == 0 and driver.text("status") == "paused"  # it holds: nothing ran meanwhile

    # Play raises the step count and changes the density
    page.evaluate("() => { document.querySelector('[data-testid=density-plot] .main-svg').dataset.mark = 'kept'; }")
    driver.click("play")
    driver.wait_state("running")
    driver.wait_steps_above(50)
    driver.wait_trace("density-plot", "p-model-0", "t.y.some((v, i) => Math.abs(v - arg[i]) > 1e-3)", before)
    # updated in place (Plotly.react on the same plot), not drawn anew each frame
    assert page.evaluate("() => document.querySelector('[data-testid=density-plot] .main-svg').dataset.mark") == "kept"
    # the curves accumulate on the page
    driver.wait_trace("loss-plot", "loss-main", "t.x.length >= 3")
    driver.wait_trace("z-plot", "zest-main", "t.x.length >= 3")
    progress = page.get_attribute("#progress", "aria-valuenow")
    assert progress is not None
    driver.shot("1d-nce-running")


def test_changing_nr_while_running_moves_the_marker_without_a_restart(live_server, driver):
    page = driver.open(live_server, nr=10).page
    driver.click("play")
    driver.wait_steps_above(20)
    driver.wait_trace("grad-plot", "nr-marker", "t.x[0] === 10")
    driver.set_knob("nr-input", "100")
    steps_at_change = driver.step_count()
    driver.wait_trace("grad-plot", "nr-marker", "t.x[0] === 100")
    assert "nr=100" in page.evaluate("location.hash")
    driver.wait_message("applied nr")  # live: no rebuild
    assert driver.step_count() >= steps_at_change  # the run went on, it did not start again
    # the slider, by keyboard: one arrow step on the log scale
    rev = driver.config_rev()
    page.focus('[data-testid="nr"]')
    page.keyboard.press("ArrowLeft")
    driver.wait_rev_above(rev)
    driver.wait_trace("grad-plot", "nr-marker", "t.x[0] < 100 && t.x[0] > 90")
    driver.shot("grad-marker-moved")


def test_pause_holds_the_count_and_step_advances_it(live_server, driver):
    page = driver.open(live_server).page
    driver.click("play")
    driver.wait_steps_above(30)
    driver.click("pause")
    driver.wait_state("paused")
    held = driver.step_count()
    with pytest.raises(Exception):  # no step is taken while paused (a bounded wait for a change that must not come)
        page.wait_for_function("n => Number(document.querySelector('[data-testid=step-count]').textContent) !== n",
                               arg=held, timeout=1500)
    page.select_option('[data-testid="step-size"]', "10")
    driver.click("step")
    page.wait_for_function("n => Number(document.querySelector('[data-testid=step-count]').textContent) === n",
                           arg=held + 10)
    driver.wait_state("paused")
    driver.click("reset")
    driver.wait_text("step-count", "^0$")
    page.wait_for_function("""() => {  // the history was cleared: no loss curve left (step 0 has no loss yet)
        const t = (document.querySelector('[data-testid=loss-plot]').data || []).find(d => d.uid === 'loss-main');
        return !t || t.x.length <= 1; }""")


def test_a_rebuild_knob_says_so_and_clears_the_history(live_server, driver):
    page = driver.open(live_server).page
    driver.click("play")
    driver.wait_steps_above(30)
    driver.set_knob("hidden-input", "24")
    driver.wait_message("rebuilt the model for hidden")
    assert page.locator('[data-knob="hidden"] .rebuild').count() == 1


def test_keyboard_space_plays_and_pauses_and_large_text_toggles(live_server, driver):
    page = driver.open(live_server).page
    page.locator("main").focus()
    page.keyboard.press(" ")
    driver.wait_state("running")
    page.keyboard.press(" ")
    driver.wait_state("paused")
    held = driver.step_count()
    page.keyboard.press("s")
    driver.wait_steps_above(held)
    driver.click("large-text")
    assert page.evaluate("document.documentElement.classList.contains('large')")
    assert page.get_attribute('[data-testid="large-text"]', "aria-pressed") == "true"
    driver.shot("large-text")
    driver.click("large-text")
    assert not page.evaluate("document.documentElement.classList.contains('large')")



def test_a_finished_run_says_done_and_play_runs_it_again(live_server, driver):
    page = driver.open(live_server, steps=30).page
    assert driver.text("total-steps") == "30"
    driver.click("play")
    driver.wait_state("done")
    driver.wait_steps_above(29)  # the final frame may land just after the status that says done
    assert driver.step_count() == 30
    assert page.get_attribute("#progress", "aria-valuenow") == "100"
    page.evaluate("""() => {  // record every state the pill shows from now on
        const pill = document.querySelector('[data-testid=status]');
        window.__states = [];
        new MutationObserver(() => window.__states.push(pill.textContent))
            .observe(pill, {childList: true, characterData: true, subtree: true});
    }""")
    driver.click("play")
    driver.wait_message("starts again from step 0")
    page.wait_for_function("() => window.__states.some(s => s !== 'done') && window.__states.at(-1) === 'done'")
    assert driver.step_count() == 30
