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
    # The page's own scales map the stored end points; compare in pixels.
    view = json.loads(page.get_attribute(".explorer", "data-view"))

    def x(v):
        return 56 + (v - view["x"][0]) / (view["x"][1] - view["x"][0]) * (600 - 68)

    def y(v):
        return 12 + (view["y"][1] - v) / (view["y"][1] - view["y"][0]) * (450 - 56)

    return [[x(p[2]), y(p[3])] for p in data["points"]]


@pytest.mark.browser
@pytest.mark.book
@pytest.mark.parametrize("control, value", [("obs_per_cluster", "3"), ("sd_int", "1"),
                                            ("sd_slope", "1"), ("sigma", "0.25"),
                                            ("balanced", "0.5")])
def test_each_control_draws_its_setting(browser, server, site, control, value):
    page, errors, failures = open_page(browser, f"{server}book/explorer.html")
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
    page.context.close()


@pytest.mark.browser
@pytest.mark.book
def test_reduced_motion_shows_the_end_state_at_once(browser, server, site):
    page, errors, _ = open_page(browser, f"{server}book/explorer.html", reduced_motion="reduce")
    assert page.evaluate("document.querySelector('.explorer').dataset.state") == "done"
    np.testing.assert_allclose(_points(page), _expected_end(page, stored(site, BASELINE_KEY)),
                               atol=0.01)
    assert errors == []
    page.context.close()


@pytest.mark.browser
@pytest.mark.book
def test_an_unfittable_setting_says_so(browser, server):
    page, errors, _ = open_page(browser, f"{server}book/explorer.html")
    page.select_option("select[name=obs_per_cluster]", "3")
    page.select_option("select[name=balanced]", "0.5")
    page.wait_for_function("document.querySelector('.explorer').dataset.key.endsWith('kept0.5')"
                           " && document.querySelector('.explorer').dataset.key.startsWith('n3-')")
    assert "cannot be fitted" in page.inner_text(".explorer-error")
    assert errors == []
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
