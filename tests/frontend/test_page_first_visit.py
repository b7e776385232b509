"""A first visit: the start-here hint, one Play/Pause toggle, a step-0 density note that explains itself,
steps/s cleared by Reset, one file picker that tells the truth after an upload, and 2-D maps that open large.

The tests take turns on one page (conftest.SharedDriver), each opening its config as a link would; the
start-here hint's test keeps a page of its own (a first visit: fresh storage, then reloads)."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(150)

VISIBLE_ONE = """() => {
    const shown = id => !document.querySelector(`[data-testid="${id}"]`).hidden;
    return [shown('play'), shown('pause')];
}"""


def test_play_and_pause_are_one_toggle(module_server, shared):
    page = shared.open(module_server).page
    assert page.evaluate(VISIBLE_ONE) == [True, False]  # paused: only Play
    assert page.locator('[data-testid="pause"]').is_hidden()
    shared.click("play")
    shared.wait_state("running")
    page.wait_for_selector('[data-testid="play"]', state="hidden")
    assert page.evaluate(VISIBLE_ONE) == [False, True]  # running: only Pause, in the same place
    # the toggle keeps keyboard focus on whichever button is shown
    page.focus('[data-testid="pause"]')
    page.keyboard.press("Enter")
    shared.wait_state("paused")
    page.wait_for_selector('[data-testid="pause"]', state="hidden")
    assert page.evaluate(VISIBLE_ONE) == [True, False]
    assert page.evaluate("document.activeElement.dataset.testid") == "play"
    shared.shot("first-visit-toggle")


def test_the_step_0_density_note_explains_the_starting_guess_and_reset_clears_steps_per_second(module_server, shared):
    """One page load for both: the notes at step 0, while running, and after Reset."""
    page = shared.open(module_server).page
    assert shared.text("steps-per-s") == "–"
    note = shared.wait_text("density-note", "step 0")
    assert "×" not in note and "guess" in note  # no unexplained scale factor before training
    shared.click("play")
    shared.wait_steps_above(5)
    shared.wait_text("density-note", r"p_θ × \d")  # once training runs, the learned-Z scale is shown
    shared.wait_text("steps-per-s", r"^\d+$")  # measured after half a second of stepping
    assert int(shared.text("steps-per-s")) > 0
    shared.click("pause")
    shared.wait_state("paused")
    shared.click("reset")
    shared.wait_text("step-count", "^0$")
    shared.wait_text("steps-per-s", "^–$")  # no speed measured since the reset: no stale number
    assert page.is_visible('[data-testid="play"]')


def test_the_start_here_hint_shows_once_and_points_at_lesson_1(live_server, driver):
    page = driver.open(live_server).page
    hint = page.locator('[data-testid="start-here"]')
    assert hint.is_visible() and "lesson 1" in hint.inner_text()
    driver.click("start-lesson")
    page.wait_for_selector('[data-testid="lesson-card"]:not([hidden])')
    first = page.evaluate("document.querySelector('#lessons button').dataset.testid")
    assert page.get_attribute(f'[data-testid="{first}"]', "aria-pressed") == "true"
    assert hint.is_hidden()
    page.reload()
    driver.wait_ready()
    assert hint.is_hidden()  # remembered: not shown again
    page.evaluate("localStorage.clear()")
    page.reload()
    driver.wait_ready()
    assert hint.is_visible()
    driver.click("start-here-close")
    assert hint.is_hidden()


def test_one_file_picker_and_a_truthful_note_after_upload(module_server, shared, tmp_path):
    page = shared.open(module_server).page
    zone = page.locator('[data-testid="dropzone"]')
    assert zone.locator('input[type="file"]').count() == 1
    box = page.locator('[data-testid="upload"]').bounding_box()
    assert box is None or (box["width"] <= 2 and box["height"] <= 2)  # the native picker is visually hidden
    assert zone.locator("u", has_text="choose a file").is_visible()  # the one picker shown
    with page.expect_file_chooser() as chooser:
        zone.locator("u").click()
    csv = tmp_path / "data.csv"
    csv.write_text("x\n" + "".join(f"{(i % 17) * 0.21 - 1.5:.3f}\n" for i in range(120)))
    chooser.value.set_files(str(csv))
    info = shared.wait_text("upload-info", "120 rows, 1-D")
    assert "training on it now" not in info and "press Play" in info  # paused: it says so
    shared.click("play")
    shared.wait_state("running")
    page.set_input_files('[data-testid="upload"]', str(csv))
    shared.wait_text("upload-info", "training on it now")


def test_a_2d_map_opens_large_and_escape_closes_it(module_server, shared):
    page = shared.open(module_server, data="eight_gaussians").page
    shared.wait_trace("density-plot", "map-0")
    page.check("#show-noise")
    noise = shared.wait_trace("density-plot", "noise-0")
    assert 0 < len(noise["x"]) <= 96  # thinned: the map stays readable under them
    marker = page.evaluate("""() => document.querySelector('[data-testid=density-plot]').data
        .find(d => d.uid === 'noise-0').marker""")
    assert marker["opacity"] < 1 and marker["size"] <= 4
    small = page.locator('[data-testid="density-plot"]').bounding_box()
    shared.click("enlarge-map-0")
    dialog = page.locator('[data-testid="map-zoom"]')
    dialog.wait_for(state="visible")
    shared.wait_trace("map-zoom-plot", "map-0")
    assert "p_θ" in dialog.locator("h2").inner_text()
    large = page.locator('[data-testid="map-zoom-plot"]').bounding_box()
    assert large["height"] > 2 * small["height"] * 0.9
    big_noise = shared.wait_trace("map-zoom-plot", "noise-0")
    assert len(big_noise["x"]) > len(noise["x"])  # room for every point when large
    shared.shot("2d-map-enlarged")
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.dataset.testid") == "enlarge-map-0"
    # the p_d map too, and it keeps updating while open (training goes on underneath)
    shared.click("enlarge-map-1")
    dialog.wait_for(state="visible")
    assert "p_d" in dialog.locator("h2").inner_text()
    shared.click("map-zoom-close")
    dialog.wait_for(state="hidden")
    # a click on a map opens that map
    page.locator('[data-testid="density-plot"] .nsewdrag[data-subplot="xy"]').click()
    dialog.wait_for(state="visible")
    assert "p_θ" in dialog.locator("h2").inner_text()
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    page.uncheck("#show-noise")
    page.wait_for_function("() => !document.querySelector('[data-testid=density-plot]').data"
                           ".some(d => d.name === 'noise samples')")
