"""The page drives a run: load, play, live knobs, pause, step, reset, keyboard, large text.

The tests take turns on one page (conftest.SharedDriver): each opens its config as a link would."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(120)

TEST_IDS = ["play", "pause", "step", "reset", "method", "data", "noise", "nr", "share", "export", "step-count",
            "density-plot", "loss-plot", "z-plot", "grad-plot", "status", "kl-plot", "classifier-plot", "upload",
            "config-rev", "compare", "message"]


def test_page_loads_with_every_control_and_holds_at_step_0_then_play_changes_the_density(module_server, shared):
    """One page load for both: the page at step 0 (read-only checks), then Play on it."""
    page = shared.open(module_server).page
    for testid in TEST_IDS:
        assert page.locator(f'[data-testid="{testid}"]').count() == 1, testid
    assert shared.step_count() == 0
    assert shared.text("device") == "CPU"
    assert shared.value("method") == "nce" and shared.value("data") == "bimodal"
    # every control has a label (keyboard and screen-reader users)
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('#knobs input, #knobs select')]
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map(el => el.id)""")
    assert unlabelled == []
    assert page.locator("nav.lessons button").count() >= 6
    before = shared.wait_trace("density-plot", "p-model-0")["y"]
    shared.shot("page-loaded")
    assert shared.step_count() == 0 and shared.text("status") == "paused"  # it holds: nothing ran meanwhile

    # Play raises the step count and changes the density
    page.evaluate("() => { document.querySelector('[data-testid=density-plot] .main-svg').dataset.mark = 'kept'; }")
    shared.click("play")
    shared.wait_state("running")
    shared.wait_steps_above(50)
    shared.wait_trace("density-plot", "p-model-0", "t.y.some((v, i) => Math.abs(v - arg[i]) > 1e-3)", before)
    # updated in place (Plotly.react on the same plot), not drawn anew each frame
    assert page.evaluate("() => document.querySelector('[data-testid=density-plot] .main-svg').dataset.mark") == "kept"
    # the curves accumulate on the page
    shared.wait_trace("loss-plot", "loss-main", "t.x.length >= 3")
    shared.wait_trace("z-plot", "zest-main", "t.x.length >= 3")
    progress = page.get_attribute("#progress", "aria-valuenow")
    assert progress is not None
    shared.shot("1d-nce-running")


def test_changing_nr_while_running_moves_the_marker_without_a_restart(module_server, shared):
    page = shared.open(module_server, nr=10).page
    shared.click("play")
    shared.wait_steps_above(20)
    shared.wait_trace("grad-plot", "nr-marker", "t.x[0] === 10")
    shared.set_knob("nr-input", "100")
    steps_at_change = shared.step_count()
    shared.wait_trace("grad-plot", "nr-marker", "t.x[0] === 100")
    assert "nr=100" in page.evaluate("location.hash")
    shared.wait_message("applied nr")  # live: no rebuild
    assert shared.step_count() >= steps_at_change  # the run went on, it did not start again
    # the slider, by keyboard: one arrow step on the log scale
    rev = shared.config_rev()
    page.focus('[data-testid="nr"]')
    page.keyboard.press("ArrowLeft")
    shared.wait_rev_above(rev)
    shared.wait_trace("grad-plot", "nr-marker", "t.x[0] < 100 && t.x[0] > 90")
    shared.shot("grad-marker-moved")


def test_pause_holds_the_count_and_step_advances_it(module_server, shared):
    page = shared.open(module_server).page
    shared.click("play")
    shared.wait_steps_above(30)
    shared.click("pause")
    shared.wait_state("paused")
    held = shared.step_count()
    with pytest.raises(Exception):  # no step is taken while paused (a bounded wait for a change that must not come)
        page.wait_for_function("n => Number(document.querySelector('[data-testid=step-count]').textContent) !== n",
                               arg=held, timeout=1500)
    page.select_option('[data-testid="step-size"]', "10")
    shared.click("step")
    page.wait_for_function("n => Number(document.querySelector('[data-testid=step-count]').textContent) === n",
                           arg=held + 10)
    shared.wait_state("paused")
    shared.click("reset")
    shared.wait_text("step-count", "^0$")
    page.wait_for_function("""() => {  // the history was cleared: no loss curve left (step 0 has no loss yet)
        const t = (document.querySelector('[data-testid=loss-plot]').data || []).find(d => d.uid === 'loss-main');
        return !t || t.x.length <= 1; }""")


def test_a_rebuild_knob_says_so_and_clears_the_history(module_server, shared):
    page = shared.open(module_server).page
    shared.click("play")
    shared.wait_steps_above(30)
    shared.set_knob("hidden-input", "24")
    shared.wait_message("rebuilt the model for hidden")
    assert page.locator('[data-knob="hidden"] .rebuild').count() == 1


def test_keyboard_space_plays_and_pauses_and_large_text_toggles(module_server, shared):
    page = shared.open(module_server).page
    page.locator("main").focus()
    page.keyboard.press(" ")
    shared.wait_state("running")
    page.keyboard.press(" ")
    shared.wait_state("paused")
    held = shared.step_count()
    page.keyboard.press("s")
    shared.wait_steps_above(held)
    shared.click("large-text")
    assert page.evaluate("document.documentElement.classList.contains('large')")
    assert page.get_attribute('[data-testid="large-text"]', "aria-pressed") == "true"
    shared.shot("large-text")
    shared.click("large-text")
    assert not page.evaluate("document.documentElement.classList.contains('large')")


def test_a_finished_run_says_done_and_play_runs_it_again(module_server, shared):
    page = shared.open(module_server, steps=30).page
    assert shared.text("total-steps") == "30"
    shared.click("play")
    shared.wait_state("done")
    shared.wait_steps_above(29)  # the final frame may land just after the status that says done
    assert shared.step_count() == 30
    assert page.get_attribute("#progress", "aria-valuenow") == "100"
    page.evaluate("""() => {  // record every state the pill shows from now on
        const pill = document.querySelector('[data-testid=status]');
        window.__states = [];
        new MutationObserver(() => window.__states.push(pill.textContent))
            .observe(pill, {childList: true, characterData: true, subtree: true});
    }""")
    shared.click("play")
    shared.wait_message("starts again from step 0")
    page.wait_for_function("() => window.__states.some(s => s !== 'done') && window.__states.at(-1) === 'done'")
    assert shared.step_count() == 30
