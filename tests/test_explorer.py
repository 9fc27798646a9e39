"""The explorer page: its data files against fits made here, and the page in Chromium."""
import json
import re

import numpy as np
import pytest

from shrinkage import explorer

from conftest import open_page, read_reference

BASELINE_KEY = "n10-int0.5-slope0.25-sigma1-kept1"


def stored(site, key):
    text = (site / "_static" / "explorer" / f"{key}.js").read_text()
    return json.loads(re.fullmatch(r'window\.shrinkageExplorer\.add\("[^"]+",(.*)\);\n', text,
                                   re.S).group(1))


def test_the_grid_holds_every_scenario():
    keys = {explorer.setting_key(v) for v in explorer.grid_settings()}
    for name in ("baseline", "more_variance", "more_slope_variance", "few_obs", "many_obs",
                 "unbalanced"):
        s = explorer.SCENARIOS[name]
        assert explorer.setting_key({n: getattr(s, n) for n in explorer.GRID}) in keys, name


@pytest.mark.book
def test_the_baseline_file_matches_lme4(site):
    # R: lmer(y ~ x + (x | cluster), create_data()); tests/reference/baseline.json
    _, lme4 = read_reference("baseline")
    data = stored(site, BASELINE_KEY)
    assert data["fit"]["sd_int"] == pytest.approx(lme4["variance"]["intercept"] ** 0.5, abs=1e-4)
    assert data["fit"]["correlation"] == pytest.approx(lme4["variance"]["correlation"], abs=1e-3)
    first = lme4["clusters"][0]
    assert data["points"][0][:4] == pytest.approx(
        [first["ols_intercept"], first["ols_slope"], first["mixed_intercept"],
         first["mixed_slope"]], abs=1e-4)


@pytest.mark.book
def test_the_budgets_hold(site):
    files = list((site / "_static" / "explorer").glob("*.js"))
    assert len(files) == len(explorer.grid_settings())
    assert sum(f.stat().st_size for f in files) <= 2_000_000


def _points(page):
    return page.eval_on_selector_all(
        "circle.explorer-mixed", "nodes => nodes.map(n => [+n.getAttribute('cx'), "
        "+n.getAttribute('cy')])")


def _drawn_end_state(page):
    page.wait_for_function("document.querySelector('.explorer').dataset.state === 'done'",
                           timeout=15_000)
    return _points(page)


def _expected_end(page, data):
    # The page's own scales map the stored end points; compare in pixels. The plot is
    # drawn in CSS pixels at its width (its viewBox), with fixed margins.
    view = json.loads(page.get_attribute(".explorer", "data-view"))
    width, height = (float(v) for v in page.get_attribute(".explorer-plot", "viewBox").split()[2:])

    def x(v):
        return 56 + (v - view["x"][0]) / (view["x"][1] - view["x"][0]) * (width - 68)

    def y(v):
        return 12 + (view["y"][1] - v) / (view["y"][1] - view["y"][0]) * (height - 56)

    return [[x(p[2]), y(p[3])] for p in data["points"]]


@pytest.mark.browser
@pytest.mark.book
@pytest.mark.parametrize("control, value, motion", [
    ("obs_per_cluster", "3", True), ("sd_int", "1", False), ("sd_slope", "1", False),
    ("sigma", "0.25", False), ("balanced", "0.5", False)])
def test_each_control_draws_its_setting(visit, server, site, control, value, motion):
    # One control moves the points for 2 s, as a reader sees it; the others are read with
    # reduced motion, which draws the same end state at once (the test below).
    page, errors, failures = visit(f"{server}book/explorer.html",
                                   **({} if motion else {"reduced_motion": "reduce"}))
    assert page.get_attribute(".explorer", "data-key") == BASELINE_KEY
    page.select_option(f"select[name={control}]", value)
    page.wait_for_function(
        "key => document.querySelector('.explorer').dataset.key !== key", arg=BASELINE_KEY)
    key = page.get_attribute(".explorer", "data-key")
    data = stored(site, key)
    assert str(data["settings"][control]).rstrip("0").rstrip(".") == value.rstrip("0").rstrip(".") \
        or float(data["settings"][control]) == float(value)
    drawn = _drawn_end_state(page)
    np.testing.assert_allclose(drawn, _expected_end(page, data), atol=0.01)
    assert errors == [] and [f for f in failures if "127.0.0.1" in f] == []


@pytest.mark.browser
@pytest.mark.book
def test_reduced_motion_shows_the_end_state_at_once(visit, server, site):
    page, errors, _ = visit(f"{server}book/explorer.html", reduced_motion="reduce")
    assert page.evaluate("document.querySelector('.explorer').dataset.state") == "done"
    np.testing.assert_allclose(_points(page), _expected_end(page, stored(site, BASELINE_KEY)),
                               atol=0.01)
    assert errors == []


@pytest.mark.browser
@pytest.mark.book
def test_an_unfittable_setting_says_what_to_change(visit, server, site):
    # Three observations per cluster and half of the rows: 150 rows for 90 clusters.
    page, errors, _ = visit(f"{server}book/explorer.html")
    caption = page.inner_text(".explorer-caption")
    page.select_option("select[name=obs_per_cluster]", "3")
    page.select_option("select[name=balanced]", "0.5")
    page.wait_for_function("document.querySelector('.explorer').dataset.key.endsWith('kept0.5')"
                           " && document.querySelector('.explorer').dataset.key.startsWith('n3-')"
                           " && document.querySelector('.explorer').dataset.state === 'done'")
    message = page.inner_text(".explorer-caption")
    assert message != caption and "cannot be fitted" in message
    # The counts are the simulated data's, and every remedy named is a fittable setting.
    rows = 100 * 3 // 2
    assert f"{rows} rows" in message and "at least 3" not in message
    for value in ("5, 10, 20 or 100", "kept to 1"):
        assert value in message
    key = page.get_attribute(".explorer", "data-key")
    assert "error" in stored(site, key)
    assert "error" not in stored(site, key.replace("n3-", "n5-"))
    assert "error" not in stored(site, key.replace("kept0.5", "kept1"))
    # No plot, no numbers, no replay, and no blank space where the plot was.
    assert page.locator(".explorer-plot").bounding_box() is None
    assert page.locator(".explorer-numbers dd").count() == 0
    assert page.is_disabled(".explorer-play")
    assert page.evaluate("document.querySelector('.explorer-stage').getBoundingClientRect().height") == 0
    # Back to a fittable setting: plot, numbers and caption all describe it.
    page.select_option("select[name=balanced]", "1")
    page.wait_for_function("document.querySelector('.explorer').dataset.key.endsWith('kept1')"
                           " && document.querySelector('.explorer').dataset.state !== 'loading'")
    text = page.inner_text(".explorer-caption")
    data = stored(site, page.get_attribute(".explorer", "data-key"))
    assert "cannot" not in text and f"{data['clusters']} clusters, {data['rows']} rows" in text
    assert page.locator(".explorer-numbers dd").count() == 7
    assert page.locator(".explorer-plot").bounding_box()["height"] > 100
    assert errors == []


def test_each_unfittable_setting_names_a_change_that_fits():
    # The remedy is a function of the grid: checked here against fits made anew.
    values = dict(obs_per_cluster=3, sd_int=0.5, sd_slope=0.25, sigma=1.0, balanced=0.5)
    fittable = {explorer.setting_key({**values, "obs_per_cluster": n}) for n in (5, 10)}
    assert explorer.remedy(values, fittable) == "Set observations per cluster to 5 or 10."
    assert explorer.remedy(values, set()) == "No single change of a control makes it fittable."
    assert explorer.setting_data(values)["error"].startswith("its 150 rows for 90 clusters")


@pytest.mark.browser
@pytest.mark.book
def test_the_plot_is_legible_on_a_phone(browser, server):
    # At 390 px: points at least 4 px across and not faded out, text at least 11 px.
    page, errors, _ = open_page(browser, f"{server}book/explorer.html",
                                viewport={"width": 390, "height": 844}, is_mobile=True,
                                device_scale_factor=3, reduced_motion="reduce")
    page.wait_for_function("document.querySelector('.explorer').dataset.state === 'done'")
    points = page.eval_on_selector_all("circle.explorer-mixed, circle.explorer-own", """nodes =>
        nodes.map(n => [n.getBoundingClientRect().width, +n.getAttribute('fill-opacity')])""")
    assert len(points) == 200
    assert min(width for width, _ in points) >= 4, min(points)
    assert min(alpha for _, alpha in points) >= 0.3
    sizes = page.eval_on_selector_all("svg.explorer-plot text", """nodes => nodes.map(n =>
        n.getBoundingClientRect().height)""")
    assert len(sizes) > 6 and min(sizes) >= 11, sizes
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert errors == []
    page.context.close()
    # A desktop keeps the look: the plot 600 px wide, the same text size.
    desktop, _, _ = open_page(browser, f"{server}book/explorer.html", reduced_motion="reduce",
                              viewport={"width": 1280, "height": 900})
    assert desktop.get_attribute(".explorer-plot", "viewBox") == "0 0 600 450"
    desktop.context.close()


@pytest.mark.browser
@pytest.mark.book
def test_the_explorer_follows_dark_mode(visit, server):
    def dark(colour):
        channels = [float(c) for c in colour[colour.index("(") + 1:-1].split(",")[:3]]
        return sum(channels) < 3 * 80

    for page_name, selector in (("explorer", ".explorer"), ("validation", "table")):
        page, errors, _ = visit(f"{server}book/{page_name}.html", color_scheme="dark")
        boxes = page.evaluate(f"""() => [...document.querySelectorAll('.cell_output .text_html')]
            .filter(n => n.querySelector('{selector}')).map(n => getComputedStyle(n).backgroundColor)""")
        assert boxes, page_name
        # Transparent (on the dark page) or dark; never the theme's light box.
        assert all(b == "rgba(0, 0, 0, 0)" or dark(b) for b in boxes), (page_name, boxes)
        colour = page.evaluate(f"getComputedStyle(document.querySelector('{selector}')).color")
        assert not dark(colour), colour
        if page_name == "explorer":
            for control in ("select", ".explorer-play"):
                assert dark(page.evaluate(
                    f"getComputedStyle(document.querySelector('{control}')).backgroundColor"))
            panel = page.evaluate("getComputedStyle(document.querySelector('.explorer-panel')).fill")
            assert dark(panel), panel
        assert errors == []


@pytest.mark.browser
@pytest.mark.book
def test_without_javascript_the_baseline_figure_stands_in(browser, server):
    page, _, failures = open_page(browser, f"{server}book/explorer.html", java_script_enabled=False)
    assert not page.locator(".explorer-play").is_visible()
    assert not page.locator(".explorer").is_visible()
    image = page.locator(".explorer-fallback img")
    assert image.is_visible()
    assert page.evaluate("document.querySelector('.explorer-fallback img').naturalWidth") >= 600
    assert "JavaScript" in page.inner_text(".explorer-fallback figcaption")
    # (Scripts are blocked, and show as failed requests; nothing else fails.)
    assert [f for f in failures if "127.0.0.1" in f and ".js" not in f] == []
    page.context.close()


@pytest.mark.browser
@pytest.mark.book
def test_the_phone_view_does_not_scroll_sideways_and_the_keyboard_works(browser, server):
    page, errors, _ = open_page(browser, f"{server}book/explorer.html",
                                viewport={"width": 390, "height": 844}, is_mobile=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    page.focus("select[name=sd_int]")
    page.keyboard.press("ArrowDown")  # the next value, as a keyboard user would choose it
    page.wait_for_function(
        "key => document.querySelector('.explorer').dataset.key !== key", arg=BASELINE_KEY)
    assert errors == []
    page.context.close()


@pytest.mark.browser
@pytest.mark.book
def test_the_page_works_from_a_file(browser, site):
    page, errors, failures = open_page(browser, (site / "book" / "explorer.html").as_uri())
    page.wait_for_function("document.querySelector('.explorer').dataset.state === 'done'",
                           timeout=15_000)
    assert len(_points(page)) == 100 and errors == []
    page.context.close()


def test_site_page_off_the_site_writes_nothing_and_says_where_the_explorer_runs(
        tmp_path, monkeypatch):
    from IPython.display import Markdown

    monkeypatch.chdir(tmp_path)  # a downloaded notebook, run in an empty folder
    page, written = explorer.site_page(tmp_path / "grid")
    assert written is None and isinstance(page, Markdown) and "website" in page.data
    assert list(tmp_path.iterdir()) == []
