"""Lessons as scripts: a lesson scrolls to and highlights the panel it watches, holds at its step with a
callout on that plot, ends with a "what you saw" line; Space/S/R act on the run after a lesson click;
the equations' fences do not stretch and their formulas fit; a screenshot of every lesson at 1280x720
in large text (test-artifacts/lesson-<id>-1280.png).

The tests take turns on two pages: those at 1280x800 on one (conftest.SharedDriver: each opens its config
as a link would), the 1280x720 ones on the room's."""
from __future__ import annotations

import pytest

from .conftest import ARTIFACTS, Driver, watched_context, watched_test

pytestmark = pytest.mark.timeout(150)

LESSON_IDS = ["nce-learns-z", "nr-to-mle", "narrow-noise", "far-noise", "infonce-z", "cpc-ceiling",
              "mle-vs-nce-2d", "classifier", "z-equals-one"]
ROOM = {"width": 1280, "height": 720}


@pytest.fixture(scope="module")
def room_page(browser, module_server):
    """The room: one page at 1280x720 in large text, opened once for the tests below (a page load costs
    seconds of CPU); each test picks its lesson on it, and a pick starts that lesson's run afresh."""
    context = watched_context(browser, ROOM)
    driver = Driver(context.new_page())
    with watched_test(context):
        driver.open(module_server)
        driver.click("large-text")
    yield driver
    context.close()


@pytest.fixture
def room(room_page):
    """The room's page for one test, which fails on the browser errors that appear during it."""
    with watched_test(room_page.page.context):
        yield room_page


def lesson_field(page, lesson: str, field: str):
    """A lesson's data field (its `watch`, its script's `pause`), read from the page's own module."""
    return page.evaluate(
        """async ([id, field]) => {
             const { LESSONS } = await import('/static/js/lessons-data.js');
             const lesson = LESSONS.find(l => l.id === id);
             return field === 'pause' ? lesson.script.pause : lesson[field];
           }""", [lesson, field])


def callouts(page, testid: str) -> list:
    """The lesson callouts on a plot (annotation texts)."""
    return page.evaluate(
        """testid => {
             const gd = document.querySelector(`[data-testid="${testid}"]`);
             return ((gd && gd.layout && gd.layout.annotations) || []).filter(a => a.name === 'lesson-callout').map(a => a.text);
           }""", testid)


def wait_held(driver, pause: int):
    """Wait until the lesson's run holds at its scripted step (paused, step count = pause)."""
    driver.page.wait_for_function(
        "n => document.querySelector('[data-testid=status]').textContent === 'paused'"
        " && Number(document.querySelector('[data-testid=step-count]').textContent) === n", arg=pause, timeout=90_000)


def card_in_view(page, name: str) -> dict:
    """Where card-<name> sits: inside the scrolled plots, below the (sticky) lesson card?"""
    return page.evaluate(
        """name => {
             const card = document.getElementById(`card-${name}`).getBoundingClientRect();
             const main = document.querySelector('main').getBoundingClientRect();
             const lesson = document.querySelector('#lesson-card').getBoundingClientRect();
             return {top: card.top, bottom: card.bottom, mainTop: main.top, mainBottom: main.bottom, lessonBottom: lesson.bottom,
                     scrolled: document.querySelector('main').scrollTop};
           }""", name)


@pytest.mark.parametrize("lesson", ["classifier", "far-noise"])
def test_a_lesson_scrolls_to_and_highlights_the_panel_it_watches(module_server, shared, lesson):
    page = shared.open(module_server).page
    watch = lesson_field(page, lesson, "watch")
    before = card_in_view(page, watch)
    assert before["top"] > before["mainBottom"] - 120  # below the fold at first: the scroll is the lesson's doing
    shared.click(f"lesson-{lesson}")
    page.wait_for_selector(f"#card-{watch}.watched")
    assert page.locator("#panels > .card.watched").count() == 1
    page.wait_for_function(
        """name => {
             const card = document.getElementById(`card-${name}`).getBoundingClientRect();
             const lesson = document.querySelector('#lesson-card').getBoundingClientRect();
             const main = document.querySelector('main').getBoundingClientRect();
             return card.top >= lesson.bottom - 1 && card.top < main.bottom - 200;
           }""", arg=watch)
    where = card_in_view(page, watch)
    assert where["scrolled"] > 0
    assert where["lessonBottom"] - 1 <= where["top"] < where["mainBottom"] - 200  # its header and most of its plot show
    outline = page.evaluate(f"getComputedStyle(document.getElementById('card-{watch}')).boxShadow")
    assert outline != "none"
    page.click("#lesson-close")  # closing the lesson takes the highlight away
    page.wait_for_function("() => document.querySelectorAll('#panels > .card.watched').length === 0")
    # back to the top, as a user would: the next test on the shared page starts unscrolled (a link does not scroll)
    shared.scroll_to_top()


def test_the_scripted_pause_holds_at_its_step_with_a_callout_and_ends_with_what_you_saw(module_server, shared):
    page = shared.open(module_server).page
    pause = lesson_field(page, "far-noise", "pause")
    watch = lesson_field(page, "far-noise", "watch")
    assert watch == "weight" and 0 < pause <= 1000
    shared.click("lesson-far-noise")
    wait_held(shared, pause)
    page.wait_for_function(
        """() => ((document.querySelector('[data-testid=weight-plot]').layout || {}).annotations || [])
                   .some(a => a.name === 'lesson-callout')""")
    texts = callouts(page, "weight-plot")
    assert len(texts) == 1 and texts[0].startswith(f"<b>Step {pause}</b>") and "KL went from" in texts[0]
    for other in ("density-plot", "z-plot", "loss-plot", "kl-plot", "grad-plot"):
        assert callouts(page, other) == [], other
    # the callout is drawn in the plot (an SVG annotation), above the plot area
    assert page.locator('[data-testid="weight-plot"] .annotation-text', has_text=f"Step {pause}").count() == 1
    assert f"Held at step {pause}" in shared.text("lesson-progress")
    assert not page.is_visible('[data-testid="lesson-saw"]')
    # held: no step is taken until asked (a bounded wait for a change that must not come)
    with pytest.raises(Exception):
        page.wait_for_function("n => Number(document.querySelector('[data-testid=step-count]').textContent) !== n",
                               arg=pause, timeout=1500)
    # a shorter run, so it finishes soon; Space goes on from the held step, the callout stays on the plot
    page.fill('[data-knob="steps"] input[type="number"]', str(pause + 20))
    page.press('[data-knob="steps"] input[type="number"]', "Enter")
    shared.wait_text("total-steps", f"^{pause + 20}$")
    page.locator("main").focus()
    page.keyboard.press(" ")
    shared.wait_state("done")
    shared.wait_text("step-count", f"^{pause + 20}$")
    page.wait_for_selector('[data-testid="lesson-saw"]:visible')
    saw = shared.text("lesson-saw")
    assert saw.startswith("What you saw:") and "KL went from" in saw
    assert len(callouts(page, "weight-plot")) == 1


def test_space_after_clicking_a_lesson_acts_on_the_run_and_does_not_restart_it(module_server, shared):
    page = shared.open(module_server).page
    shared.click("lesson-nce-learns-z")
    shared.wait_state("running")
    shared.wait_steps_above(2)
    page.focus('[data-testid="lesson-nce-learns-z"]')  # the worst case: focus on the lesson's own button
    rev = shared.config_rev()
    before_state, before_step = shared.text("status"), shared.step_count()
    page.keyboard.press(" ")
    shared.wait_state("paused" if before_state == "running" else "running")
    assert shared.config_rev() == rev  # no new start: the lesson was not picked again
    assert shared.step_count() >= before_step  # and the count did not go back to 0
    if before_state == "running":
        held = shared.step_count()
        page.select_option('[data-testid="step-size"]', "10")
        page.focus('[data-testid="lesson-nce-learns-z"]')
        page.keyboard.press("s")  # S steps, with the focus still on a lesson button
        page.wait_for_function("n => Number(document.querySelector('[data-testid=step-count]').textContent) === n",
                               arg=held + 10)
    page.keyboard.press("r")
    shared.wait_text("step-count", "^0$")
    assert shared.config_rev() == rev
    # after a click the focus is on the lesson card (its text, then Space is the run's)
    shared.click("lesson-far-noise")
    assert page.evaluate("document.activeElement.id") == "lesson-card"


def test_a_lesson_does_not_announce_its_own_rebuild_but_a_user_change_does(module_server, shared):
    page = shared.open(module_server).page
    rev = shared.config_rev()
    # the worst case: a change of the user's still in flight when the lesson's start goes out, so the
    # change's reply arrives first and the start's reply reads like a rebuild of a live change
    page.evaluate("""() => {
        const depth = document.querySelector('[data-testid="depth-input"]');
        depth.value = '3';
        depth.dispatchEvent(new Event('change'));
        document.querySelector('[data-testid="lesson-far-noise"]').click(); }""")
    shared.wait_rev_above(rev + 1)  # both replies are in
    assert shared.value("noise_loc-input") == "7"
    assert "Rebuilt" not in shared.messages()
    # a change the user makes is still announced
    shared.set_knob("hidden-input", "32")
    assert "Rebuilt the model for hidden" in shared.wait_message("Rebuilt the model for hidden")


def test_equations_do_not_stretch_their_parentheses_and_fit_the_card(room):
    driver, page = room, room.page
    assert page.viewport_size == ROOM and page.evaluate("document.documentElement.classList.contains('large')")
    checked = 0
    for lesson in LESSON_IDS:
        driver.click(f"lesson-{lesson}")
        page.wait_for_function("id => document.querySelector('#lesson-card').dataset.lesson === id", arg=lesson)
        fences = page.evaluate(
            """() => [...document.querySelectorAll('#lesson-body mo')].filter(mo => '()[]|'.includes(mo.textContent.trim()))
                 .map(mo => ({text: mo.textContent.trim(), stretchy: mo.getAttribute('stretchy'),
                              aroundFraction: Boolean(mo.parentElement.querySelector(':scope > mfrac')),
                              height: mo.getBoundingClientRect().height,
                              size: parseFloat(getComputedStyle(mo).fontSize)}))""")
        for fence in fences:
            if fence["aroundFraction"]:
                continue
            checked += 1
            assert fence["stretchy"] == "false", (lesson, fence)
            assert fence["height"] < 1.6 * fence["size"], (lesson, fence)  # a glyph's height, not the row's
        # N_r is a subscript (msub), and text in formulas keeps its spaces
        assert page.evaluate("""() => [...document.querySelectorAll('#lesson-body mi')]
            .filter(m => m.textContent === 'r' && m.previousElementSibling && m.previousElementSibling.textContent === 'N')
            .every(m => m.parentElement.tagName.toLowerCase() === 'msub')"""), lesson
        assert page.evaluate("""() => [...document.querySelectorAll('#lesson-body mtext')]
            .every(t => !/^ | $/.test(t.textContent))"""), lesson
        # every formula fits the card's width at 1280 px in large text
        overflow = page.evaluate("""() => [...document.querySelectorAll('#lesson-body .equation')]
            .map(eq => [eq.scrollWidth, eq.clientWidth])""")
        assert overflow and all(scroll <= client + 1 for scroll, client in overflow), (lesson, overflow)
    assert checked >= 10  # the lessons' formulas have fences: they were checked
    # the space in "log Ẑ" (a thin space after log, as TeX sets it): log is followed by an mspace
    driver.click("lesson-nce-learns-z")
    assert page.evaluate("""() => [...document.querySelectorAll('#lesson-body mi')].filter(m => m.textContent === 'log')
        .every(m => m.nextElementSibling && m.nextElementSibling.tagName.toLowerCase() === 'mspace')""")


@pytest.mark.parametrize("lesson", LESSON_IDS)
def test_every_lesson_at_1280x720_in_large_text(room, lesson):
    """The room: 1280x720, large text, the lesson held at its step. The watched panel and its callout are
    in view, the top bar and the lessons strip are one row each. Screenshot: test-artifacts/lesson-<id>-1280.png."""
    driver, page = room, room.page
    assert page.viewport_size == ROOM and page.evaluate("document.documentElement.classList.contains('large')")
    pause = lesson_field(page, lesson, "pause")
    watch = lesson_field(page, lesson, "watch")
    rev = driver.config_rev()
    driver.click(f"lesson-{lesson}")
    driver.wait_rev_above(rev)  # the lesson's run started (the page may still show an earlier lesson's run)
    # the pick rewrote the card ("Training to step ..."); only this run's frames can make it say "Held"
    page.wait_for_function("n => document.querySelector('[data-testid=lesson-progress]').textContent"
                           ".includes(`Held at step ${n}`)", arg=pause, timeout=90_000)
    page.wait_for_function(
        """testid => ((document.querySelector(`[data-testid="${testid}"]`).layout || {}).annotations || [])
                       .some(a => a.name === 'lesson-callout')""", arg=f"{watch}-plot")
    wait_held(driver, pause)
    assert page.evaluate("document.querySelector('#lesson-card').dataset.lesson") == lesson
    where = card_in_view(page, watch)
    assert where["lessonBottom"] - 1 <= where["top"] < where["mainBottom"] - 150, where
    rows = page.evaluate("""() => ['.topbar', 'nav.lessons'].map(sel => {
        const kids = [...document.querySelector(sel).children].filter(k => k.offsetParent !== null);
        const tops = kids.map(k => k.getBoundingClientRect().top);
        const bottoms = kids.map(k => k.getBoundingClientRect().bottom);
        return Math.max(...tops) < Math.min(...bottoms); })""")
    assert rows == [True, True]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"lesson-{lesson}-1280.png"))


def test_a_link_pasted_before_a_lesson_starts_does_not_run_the_lessons_script(module_server, shared):
    """A lesson with a scripted pause steps its run once its start is answered; a link that arrives first
    (in the same JS task: the worst case) replaces the lesson, script and all: its run holds at step 0."""
    page = shared.open(module_server).page
    rev = shared.config_rev()
    assert lesson_field(page, "nce-learns-z", "pause") > 0
    page.evaluate("""() => {
        document.querySelector('[data-testid="lesson-nce-learns-z"]').click();
        history.replaceState(null, '', '#grid=32&hidden=16&batch_size=64&steps=200000&nr=3');
        window.dispatchEvent(new HashChangeEvent('hashchange')); }""")
    shared.wait_rev_above(rev + 1)  # both starts are answered
    shared.wait_state("paused")
    assert shared.value("nr-input") == "3"
    with pytest.raises(Exception):  # no step is taken (a bounded wait for a change that must not come)
        page.wait_for_function("() => Number(document.querySelector('[data-testid=step-count]').textContent) > 0",
                               timeout=2000)
    shared.close_lesson()
