"""Presenter mode and the room: one panel fills the screen with text of at least 24 px under a one-line
status bar, arrow keys move between panels, a lesson's callout stays in view, Escape leaves; large
text (A+) at 1280x720 keeps the top bar on one row.

The tests take turns on one page at 1280x720 (conftest.SharedDriver): each opens its config as a link would."""
from __future__ import annotations

import pytest

from .conftest import apart, inside

pytestmark = pytest.mark.timeout(150)


ROOM = {"width": 1280, "height": 720}

SHOWN_CARDS = """() => [...document.querySelectorAll('#panels > .card')]
    .filter(c => c.offsetParent !== null && getComputedStyle(c).display !== 'none').map(c => c.id)"""


def presented(page) -> dict:
    """The one card shown, its size and its text sizes (header, note, plot tick labels)."""
    return page.evaluate(
        """() => {
             const cards = [...document.querySelectorAll('#panels > .card')].filter(c => c.offsetParent !== null);
             const card = cards[0];
             const px = el => (el ? parseFloat(getComputedStyle(el).fontSize) : null);
             const ticks = [...card.querySelectorAll('.xtick text, .ytick text')].map(t => parseFloat(t.style.fontSize));
             const r = card.getBoundingClientRect();
             return {count: cards.length, id: card.id, width: r.width, height: r.height, title: px(card.querySelector('h2')),
                     note: px(card.querySelector('.note')), ticks,
                     bar: document.querySelector('.topbar').getBoundingClientRect().height,
                     where: document.querySelector('[data-testid=presenter-where]').textContent};
           }""")


def test_presenter_mode_shows_one_large_panel_arrows_move_and_escape_leaves(module_server, shared):
    page = shared.page
    page.set_viewport_size(ROOM)
    shared.open(module_server)
    assert len(page.evaluate(SHOWN_CARDS)) >= 5
    shared.click("present")
    assert page.get_attribute('[data-testid="present"]', "aria-pressed") == "true"
    page.wait_for_function("() => document.documentElement.classList.contains('presenting')")
    # the plot is drawn again at the presenter's text size
    page.wait_for_function("""() => {
        const card = document.querySelector('#panels > .card.presented');
        const ticks = [...card.querySelectorAll('.xtick text')];
        return ticks.length > 0 && ticks.every(t => parseFloat(t.style.fontSize) >= 24); }""")
    first = presented(page)
    assert first["count"] == 1 and first["id"] == "card-density"
    assert first["title"] >= 24 and first["note"] >= 24 and min(first["ticks"]) >= 24
    assert first["width"] >= 0.9 * ROOM["width"] and first["height"] >= 0.75 * ROOM["height"]
    assert first["bar"] <= 60  # one compact status line
    assert page.is_visible('[data-testid="step-count"]') and page.is_visible('[data-testid="status"]')
    assert not page.is_visible('[data-testid="knobs"]') and not page.is_visible('[data-testid="lessons"]')
    assert first["where"].startswith("1 / ")
    # the header's controls stay clear of the panel's PNG button, which grows with the text
    header = page.evaluate("""() => [...document.querySelectorAll('#panels > .card.presented > header > *')]
        .filter(el => el.offsetParent !== null).map(el => { const r = el.getBoundingClientRect();
          return {png: el.classList.contains('panel-png'), text: el.textContent.trim(),
                  left: r.left, top: r.top, right: r.right, bottom: r.bottom}; })""")
    png = next(el for el in header if el["png"])
    assert any("log scale" in el["text"] for el in header)
    for el in header:
        assert el["png"] or apart(el, png), (el, png)
    total = int(first["where"].split("/")[1].split("·")[0])
    assert total >= 5

    page.keyboard.press("ArrowRight")
    page.wait_for_function("id => document.querySelector('#panels > .card.presented').id !== id", arg=first["id"])
    second = presented(page)
    assert second["count"] == 1 and second["id"] != first["id"] and second["where"].startswith("2 / ")
    page.wait_for_function("""() => [...document.querySelectorAll('#panels > .card.presented .xtick text')]
        .some(t => parseFloat(t.style.fontSize) >= 24)""")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("id => document.querySelector('#panels > .card.presented').id === id", arg=first["id"])
    page.keyboard.press("ArrowLeft")  # wraps round to the last panel
    assert presented(page)["where"].startswith(f"{total} / ")
    # Space still plays and pauses the run while presenting
    page.keyboard.press(" ")
    shared.wait_state("running")
    page.keyboard.press(" ")
    shared.wait_state("paused")
    page.wait_for_function("""() => { const ticks = [...document.querySelectorAll('#panels > .card.presented .xtick text')];
        return ticks.length > 0 && ticks.every(t => parseFloat(t.style.fontSize) >= 24); }""")
    shared.shot("presenter-1280")

    last = presented(page)["id"]
    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.documentElement.classList.contains('presenting')")
    assert page.get_attribute('[data-testid="present"]', "aria-pressed") == "false"
    assert len(page.evaluate(SHOWN_CARDS)) >= 5
    assert page.is_visible('[data-testid="knobs"]')
    # the panel shown last is scrolled into view, drawn again at the page's own text size
    page.wait_for_function("""id => { const ticks = [...document.querySelectorAll(`#${id} .xtick text`)];
        return ticks.length > 0 && ticks.every(t => parseFloat(t.style.fontSize) < 24); }""", arg=last)
    shared.scroll_to_top()


def test_presenter_mode_opens_on_the_lesson_panel_and_keeps_its_callout(module_server, shared):
    page = shared.page
    page.set_viewport_size(ROOM)
    shared.open(module_server)
    pause = page.evaluate("""async () => (await import('/static/js/lessons-data.js')).LESSONS
        .find(l => l.id === 'far-noise').script.pause""")
    shared.click("lesson-far-noise")
    page.wait_for_function(
        "n => document.querySelector('[data-testid=status]').textContent === 'paused'"
        " && Number(document.querySelector('[data-testid=step-count]').textContent) === n", arg=pause, timeout=90_000)
    shared.click("present")
    page.wait_for_function("() => document.querySelector('#panels > .card.presented') !== null")
    assert presented(page)["id"] == "card-weight"  # the panel the lesson watches
    # drawn again at the presenter's size, the callout with it
    page.wait_for_function("""() => { const texts = [...document.querySelectorAll('[data-testid=weight-plot] .annotation-text')];
        return texts.length > 0 && texts.every(t => parseFloat(t.style.fontSize) >= 24); }""")
    assert f"Step {pause}" in page.text_content('[data-testid="weight-plot"] .annotation-text')
    assert not page.is_visible('[data-testid="presenter-callout"]')  # on its own panel it is on the plot
    page.keyboard.press("ArrowRight")  # on another panel it shows as a caption
    page.wait_for_function("() => document.querySelector('#panels > .card.presented').id !== 'card-weight'")
    assert page.is_visible('[data-testid="presenter-callout"]') and "KL went from" in shared.text("presenter-callout")
    assert page.evaluate("parseFloat(getComputedStyle(document.querySelector('[data-testid=presenter-callout]')).fontSize)") >= 24
    page.wait_for_function("""() => { const ticks = [...document.querySelectorAll('#panels > .card.presented .xtick text')];
        return ticks.length > 0 && ticks.every(t => parseFloat(t.style.fontSize) >= 24); }""")
    shared.shot("presenter-lesson-1280")
    shared.click("present")  # the button leaves too
    page.wait_for_function("() => !document.documentElement.classList.contains('presenting')")
    shared.close_lesson()
    shared.scroll_to_top()


def test_large_text_at_1280x720_keeps_the_top_bar_and_the_lessons_on_one_row(module_server, shared):
    page = shared.page
    page.set_viewport_size(ROOM)
    shared.open(module_server)
    shared.click("large-text")
    page.wait_for_function("() => document.documentElement.classList.contains('large')")
    rows = page.evaluate("""() => ['.topbar', 'nav.lessons'].map(sel => {
        const bar = document.querySelector(sel);
        const kids = [...bar.children].filter(k => k.offsetParent !== null).map(k => k.getBoundingClientRect());
        const style = getComputedStyle(bar);
        const padding = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
        return {height: bar.getBoundingClientRect().height, tallest: Math.max(...kids.map(k => k.height)), padding,
                sameRow: Math.max(...kids.map(k => k.top)) < Math.min(...kids.map(k => k.bottom)),
                hidden: bar.scrollWidth - bar.clientWidth}; })""")
    for row in rows:
        assert row["sameRow"], row
        assert row["height"] <= row["tallest"] + row["padding"] + 2, row  # one row high
    # and no button of the top bar is pushed out of sight
    assert page.evaluate("""() => [...document.querySelectorAll('.topbar button')].filter(b => b.offsetParent !== null)
        .every(b => { const r = b.getBoundingClientRect(); return r.left >= 0 && r.right <= window.innerWidth; })""")
    assert page.evaluate("parseFloat(getComputedStyle(document.querySelector('.lesson-card, main')).fontSize)") >= 18
    # the plots' titles fit their panels at this size: the Z plot's y title, the gradient's two y titles and
    # its formula (under the x axis, clear of every title)
    shared.click("step")
    page.locator("#card-z").scroll_into_view_if_needed()  # plots out of view are drawn when they come into it
    shared.wait_trace("z-plot", "ztrue-main", "t.x.length >= 2")
    page.locator("#card-grad").scroll_into_view_if_needed()  # plots out of view are drawn when they come into it
    shared.wait_trace("grad-plot", "cos")
    page.wait_for_function("""() => ['z-plot', 'grad-plot'].every(id => {
        const ticks = [...document.querySelectorAll(`[data-testid=${id}] .xtick text`)];
        return ticks.length > 0 && ticks.every(t => parseFloat(t.style.fontSize) >= 16); })""")
    z = shared.plot_boxes("z-plot")
    assert z["y"] and inside(z["y"], z["figure"]), z
    grad = shared.plot_boxes("grad-plot")
    formula = next(a for a in grad["annotations"] if "held at log Z" in a["text"])
    assert inside(formula, grad["figure"]), grad
    for name in ("x", "y", "y2"):
        assert grad[name] and inside(grad[name], grad["figure"]) and apart(formula, grad[name]), (name, grad)
    shared.click("large-text")  # as a person would: the hash restart keeps the text size
    page.wait_for_function("() => !document.documentElement.classList.contains('large')")
    shared.scroll_to_top()
