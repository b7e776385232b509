"""The page says what it computes: the gradient panel's formula, KL below the quadrature's resolution,
the box that log Z and KL are integrals over, "vs KDE" for uploaded data, the noise-coverage warning,
and CPC's estimate as a window mean with its spread.

The tests take turns on one page (conftest.SharedDriver): each opens its config as a link would."""
from __future__ import annotations

import random
import re

import pytest

from .conftest import apart, inside

pytestmark = pytest.mark.timeout(120)


def _layout(page, testid: str) -> dict:
    return page.evaluate("""testid => {
        const gd = document.querySelector(`[data-testid="${testid}"]`);
        return JSON.parse(JSON.stringify({annotations: gd.layout.annotations || [], yaxis: gd.layout.yaxis,
                                          shapes: gd.layout.shapes || [],
                                          hover: gd.data.map(d => d.hovertemplate || null)}));
    }""", testid)


def test_the_gradient_panel_and_lesson_2_show_the_formula_computed(module_server, shared):
    page = shared.open(module_server).page
    shared.wait_trace("grad-plot", "cos")
    layout = _layout(page, "grad-plot")
    formula = next(a for a in layout["annotations"] if a.get("name") == "formula")
    assert "∇<sub>θ</sub>G" in formula["text"] and "log Ẑ held at log Z" in formula["text"]
    assert "log p" not in formula["text"]  # not the note's eq. 44 form
    assert "eq. 44" in formula["hovertext"] and "Nᵣ → ∞" in formula["hovertext"]
    assert any(h and "∇<sub>θ</sub>G" in h for h in layout["hover"])
    # the formula sits under the x axis: clear of the axis titles and not cut off
    boxes = shared.plot_boxes("grad-plot")
    shown = next(a for a in boxes["annotations"] if "held at log Z" in a["text"])
    assert inside(shown, boxes["figure"])
    for name in ("x", "y", "y2"):
        assert boxes[name] and inside(boxes[name], boxes["figure"]) and apart(shown, boxes[name]), (name, boxes)
    shared.click("lesson-nr-to-mle")
    card = page.locator('[data-testid="lesson-card"]')
    card.wait_for()
    text = card.inner_text()
    assert "eq. 44" in text and "differentiates through log Z" in text
    assert "gradient of G" in card.locator(".equation").first.get_attribute("aria-label")  # the block's spoken form
    shared.close_lesson()
    shared.scroll_to_top()


def test_kl_below_the_quadrature_resolution_reads_less_than_1e_3(module_server, shared):
    """A KL of −0.0004 (quadrature error) or 2e-5 is drawn on the 1e-3 floor, in a labelled band, and its
    hover and the formatter say "< 1e-3"; values above it are untouched."""
    page = shared.open(module_server).page
    result = page.evaluate("""async () => {
        const { drawSeries, formatKL } = await import('/static/js/plots/curves.js');
        const el = document.createElement('div');
        el.style.width = '500px'; el.style.height = '300px';
        document.body.appendChild(el);
        const rows = [{step: 0, kl: 0.5}, {step: 10, kl: 0.02}, {step: 20, kl: -0.0004}, {step: 30, kl: 2e-5}];
        const run = {id: 't', label: 't', history: {rows, columns: (...keys) => Object.fromEntries(
          keys.map(k => [k, rows.map(r => r[k])]))}};
        drawSeries(el, [run], {key: 'kl', yTitle: 'KL', logY: true, floor: 1e-3, floorText: '< 1e-3'});
        const out = {y: el.data[0].y, text: el.data[0].customdata,
                     notes: (el.layout.annotations || []).map(a => a.text),
                     fmt: [formatKL(-0.0004), formatKL(2e-5), formatKL(0.0123), formatKL(null)]};
        el.remove();
        return out;
    }""")
    assert result["y"] == [0.5, 0.02, 1e-3, 1e-3]
    assert result["text"][2:] == ["< 1e-3", "< 1e-3"] and result["text"][0] == "0.5000"
    assert any("< 1e-3" in note for note in result["notes"])
    assert result["fmt"] == ["< 1e-3", "< 1e-3", "0.0123", "–"]


def test_log_z_and_kl_say_they_are_integrals_over_the_box(module_server, shared):
    page = shared.open(module_server).page
    shared.wait_curve_restarted("z-plot", "ztrue-main")  # the wait below must see this run's frames
    shared.click("step")
    shared.wait_trace("z-plot", "ztrue-main", "t.x.length >= 2")
    z = _layout(page, "z-plot")
    assert "box" in z["yaxis"]["title"]["text"] and any(h and "box" in h for h in z["hover"])
    # each frame's own value, unsmoothed (the frames already describe the average θ̄): the curves' last
    # points give the gap the header states
    assert not [t for t in shared.traces("z-plot") if "raw" in (t.get("uid") or "")]
    shared.wait_state("paused")  # Step runs a few steps, then pauses
    page.wait_for_function("""() => {
        const el = document.querySelector('[data-testid=z-plot]');
        const last = uid => { const t = (el.data || []).find(d => d.uid === uid); return t ? t.y[t.y.length - 1] : null; };
        const m = /gap log Ẑ − log Z = ([+−-]?[0-9]+[.][0-9]+)/.exec(document.querySelector('[data-testid=z-note]').textContent);
        if (!m || last('zest-main') === null || last('ztrue-main') === null) return false;
        return Math.abs(Number(m[1].replace('−', '-')) - (last('zest-main') - last('ztrue-main'))) < 1.5e-3; }""",
                           timeout=30_000)
    shared.wait_text("kl-note", "box")
    kl = _layout(page, "kl-plot")
    assert "box" in kl["yaxis"]["title"]["text"]


KL_TITLE = ("(((document.querySelector('[data-testid=kl-plot]').layout || {}).yaxis || {}).title || {}).text"
            " || ''")


def test_uploaded_data_labels_kl_vs_kde(module_server, shared, tmp_path):
    page = shared.open(module_server).page
    rng = random.Random(0)
    csv = tmp_path / "clusters.csv"
    csv.write_text("x\n" + "".join(f"{rng.choice([0, 1, 2, 3]) + rng.gauss(0, 0.05):.4f}\n" for _ in range(400)))
    page.set_input_files('[data-testid="upload"]', str(csv))
    shared.wait_text("upload-info", "400 rows, 1-D")
    shared.wait_text("kl-note", "vs KDE")
    page.locator('[data-testid="kl-plot"]').scroll_into_view_if_needed()  # cards off screen are not drawn
    page.wait_for_function(f"() => {KL_TITLE}.includes('vs KDE')")
    shared.set_knob("data", "bimodal")  # a preset: p_d is exact again
    page.wait_for_function(f"() => !/KDE/.test(document.querySelector('[data-testid=kl-note]').textContent)"
                           f" && {KL_TITLE}.includes('KL over the grid box')")
    shared.scroll_to_top()


def test_no_coverage_warning_for_a_broad_noise(module_server, shared):
    """N(0, 10²) overlaps the bimodal data little (the old measure warned) but reaches all of it."""
    page = shared.open(module_server, noise_fit=False, noise_loc=0, noise_scale=10).page
    shared.wait_curve_restarted("z-plot", "ztrue-main")  # the wait below must see this run's frames
    shared.click("step")
    shared.wait_steps_above(0)
    shared.wait_trace("z-plot", "ztrue-main", "t.x.length >= 2")  # frames have been rendered
    assert page.is_hidden('[data-testid="coverage-warning"]')


def test_coverage_warns_on_far_noise(module_server, shared):
    """N(7, 1) (lesson 4) reaches ~3% of the bimodal data: warned, with the share it misses."""
    page = shared.open(module_server, noise_fit=False, noise_loc=7, noise_scale=1).page
    page.wait_for_selector('[data-testid="coverage-warning"]:not([hidden])')
    assert re.search(r"does not reach 9\d% of the data", shared.text("coverage-warning"))


def test_cpc_shows_a_window_mean_with_its_spread(module_server, shared):
    shared.open(module_server, method="cpc", mi=2)
    shared.click("step")
    shared.wait_trace("mi-plot", "mi-mean-main", "t.x.length >= 2")
    band = shared.trace("mi-plot", "mi-band-main")
    assert band is not None and len(band["x"]) == 2 * len(shared.trace("mi-plot", "mi-mean-main")["x"])
    note = shared.wait_text("mi-note", "±")
    assert "mean ± sd of the last 20 frames" in note and "in expectation" in note
