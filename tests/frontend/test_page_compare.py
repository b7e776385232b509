"""Compare mode: it leaves the page's own method alone, and steps its runs in lockstep so the table
compares them at equal steps (with each run's speed and time beside).

The tests take turns on one page (conftest.SharedDriver): each opens its config as a link would, which
turns compare off (a hash without compare)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(150)

ROWS = "[...document.querySelectorAll('[data-testid=compare-table] tbody tr')]"
STEPS = f"{ROWS}.map(tr => Number(tr.children[1].textContent))"

# Records the step column of every table the page shows from now on (MutationObserver: after each update).
RECORD = f"""() => {{
    window.__tables = [];
    const body = document.querySelector('[data-testid=compare-table] tbody');
    new MutationObserver(() => window.__tables.push({STEPS}))
        .observe(body, {{childList: true, characterData: true, subtree: true}});
}}"""


def method_in_hash(page):
    params = dict(p.split("=", 1) for p in page.evaluate("location.hash").lstrip("#").split("&") if "=" in p)
    return params.get("method")


def test_compare_on_and_off_leaves_the_method_alone(module_server, shared):
    page = shared.open(module_server, method="infonce").page
    assert method_in_hash(page) == "infonce"
    shared.click("compare")
    page.wait_for_function(f"() => {ROWS}.length === 2 && {STEPS}.every(s => s === 0)")  # both runs started
    assert method_in_hash(page) == "infonce"  # the compared methods live in compare=, not in method=
    assert "compare=mle" in page.evaluate("location.hash")
    assert shared.value("method") == "infonce" and page.is_disabled('[data-testid="method"]')
    rev = shared.config_rev()
    shared.click("compare")
    page.wait_for_selector('[data-testid="compare-bar"]', state="hidden")
    shared.wait_rev_above(rev)  # the main run went back to the page's method
    shared.wait_text("z-note", "InfoNCE")  # and the server runs it
    assert method_in_hash(page) == "infonce" and "compare" not in page.evaluate("location.hash")
    assert shared.value("method") == "infonce" and page.is_enabled('[data-testid="method"]')

    # the default method (nce, not in the hash) stays the default
    shared.set_knob("method", "nce")
    shared.click("compare")
    page.wait_for_function(f"() => {ROWS}.length === 2")
    shared.click("compare")
    page.wait_for_selector('[data-testid="compare-bar"]', state="hidden")
    assert method_in_hash(page) is None and shared.value("method") == "nce"


def test_the_compare_table_is_at_equal_steps(module_server, shared):
    page = shared.open(module_server).page
    shared.click("compare")
    page.check('[data-testid="compare-infonce"]')
    page.wait_for_function(f"() => {ROWS}.length === 3")
    page.evaluate(RECORD)
    shared.click("play")
    page.wait_for_function(f"() => {STEPS}.every(s => s > 60)", timeout=60_000)  # three runs share two busy cores
    # each run's speed, once its trainer has stepped for half a second (a fast machine passes step 60 sooner)
    page.wait_for_function(f"() => {ROWS}.every(tr => Number(tr.children[2].textContent) > 0)", timeout=60_000)
    shared.wait_state("running")  # lockstep rounds read as one running state, not a flicker
    assert page.is_visible('[data-testid="pause"]')
    shared.click("pause")
    shared.wait_state("paused")
    page.wait_for_selector('[data-testid="play"]', state="visible")
    tables = page.evaluate("window.__tables")
    progressed = [t for t in tables if t and min(t) > 0]
    assert len({t[0] for t in progressed}) >= 2  # the table moved on several times while it ran...
    assert all(len(set(t)) == 1 for t in progressed), progressed  # ...and every row was at one step each time
    steps = page.evaluate(STEPS)
    assert len(set(steps)) == 1 and steps[0] > 60
    note = shared.text("compare-note")
    assert "Lockstep" in note and f"step {steps[0]}" in note
    # the cost side: each run's own speed and the wall-clock it took
    cells = page.evaluate(f"{ROWS}.map(tr => [tr.children[2].textContent, tr.children[3].textContent])")
    for rate, seconds in cells:
        assert float(rate) > 0 and float(seconds) > 0
    # Step moves every run by the same amount
    page.select_option('[data-testid="step-size"]', "10")
    shared.click("step")
    page.wait_for_function(f"n => {STEPS}.every(s => s === n)", arg=steps[0] + 10)
    shared.shot("compare-lockstep")
    # the compare bar keeps its boxes across a link: back to its default pair, as a user would, for the next test
    page.uncheck('[data-testid="compare-infonce"]')
    page.wait_for_function(f"() => {ROWS}.length === 2")


def test_the_report_of_a_compare_run_has_one_row_per_run_at_one_step(module_server, shared):
    page = shared.open(module_server).page
    shared.click("compare")
    page.wait_for_function(f"() => {ROWS}.length === 2 && {STEPS}.every(s => s === 0)")
    page.select_option('[data-testid="step-size"]', "100")
    shared.click("step")
    page.wait_for_function(f"() => {STEPS}.every(s => s === 100)")
    with page.expect_download() as info:
        shared.click("export-report")
    html = Path(info.value.path()).read_text()
    numbers = html[html.index('data-testid="report-numbers"'):]
    numbers = numbers[:numbers.index("</table>")]
    rows = re.findall(r"<tr><td>(MLE|NCE)</td><td>(\d+)</td>", numbers)
    assert rows == [("MLE", "100"), ("NCE", "100")]
    assert "MLE vs NCE" in html and "lockstep" in html


def test_the_compare_table_shows_kl_as_the_kl_panel_does(module_server, shared):
    """A KL under the quadrature's resolution (or below 0 from quadrature error) reads "< 1e-3", as in the
    KL panel; larger values with three digits. The page's own CompareBar, on a table of its own."""
    page = shared.open(module_server).page
    cells = page.evaluate("""async () => {
        const { CompareBar } = await import('/static/js/compare.js');
        const bar = document.createElement('div');
        bar.innerHTML = '<input type="checkbox" value="mle" checked><input type="checkbox" value="nce" checked>'
          + '<table><tbody></tbody></table>';
        const compare = new CompareBar({ bar, toggle: document.createElement('button'), onChange() {}, onTooFew() {} });
        compare.show(['mle', 'nce']);
        const run = (id, kl) => ({ id, label: id, color: '#000', frame: { step: 5, loss: 1, kl, log_z_est: null, log_z_true: 1 } });
        compare.table([run('a', -0.0004), run('b', 0.0009), run('c', 0.01234)]);
        return [...bar.querySelectorAll('tbody tr')].map(tr => tr.children[5].textContent);
      }""")
    assert cells == ["< 1e-3", "< 1e-3", "0.0123"]


def test_compare_turned_off_before_its_runs_start_keeps_the_method(module_server, shared):
    """On and off in one task, so the main run's compare start (method mle) is still unanswered when
    Compare ends: the page's method must still win once the replies come in (a loaded machine did this)."""
    page = shared.open(module_server).page
    rev = shared.config_rev()
    page.evaluate("() => { const toggle = document.querySelector('[data-testid=compare]'); toggle.click(); toggle.click(); }")
    shared.wait_rev_above(rev)
    shared.wait_text("z-note", "gap log")  # the server runs NCE again (MLE's note says it has no learned Z)
    assert shared.value("method") == "nce" and method_in_hash(page) is None
    assert page.is_hidden('[data-testid="compare-bar"]')
