"""Confidence intervals against lme4's confint on three real data sets.

References: tests/reference/NAME_object.json, made by fit_object.R (R 4.2.2, lme4 1.1-31)
from lme4's sleepstudy (shrinkage/datasets/sleepstudy.csv), nlme's Orthodont and BodyWeight
(tests/reference/Orthodont.csv, BodyWeight.csv).
"""
import json
import math

import pandas as pd
import pytest

from shrinkage import fit_models

from conftest import REAL_DATA, REFERENCE

DATA = REAL_DATA
PROFILE_NAMES = {"sd_intercept": "sd_(Intercept)|cluster", "correlation": "cor_x.(Intercept)|cluster",
                 "sd_slope": "sd_x|cluster", "sigma": "sigma"}


@pytest.fixture(scope="module", params=[(name, model) for name in DATA
                                        for model in ("slope", "intercept")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def case(request):
    name, model = request.param
    path, columns = DATA[name]
    reference = json.loads((REFERENCE / f"{name}_object.json").read_text())
    fit = fit_models(pd.read_csv(path), *columns, model=model)
    return fit, reference, model, fit.conf_int()


def test_wald_intervals_of_the_fixed_effects_match_lme4(case):
    fit, reference, model, _ = case
    # R: confint(fit, parm = "beta_", method = "Wald")
    intervals = fit.conf_int(method="Wald")
    wald = reference[f"{model}_REML"]["wald"]
    for ours, theirs in zip(fit.fixed_effects.index, ("(Intercept)", "x")):
        width = wald[theirs]["upper"] - wald[theirs]["lower"]
        for end in ("lower", "upper"):
            assert intervals.loc[ours, end] == pytest.approx(wald[theirs][end], abs=1e-6 * width)


def test_profile_intervals_of_every_parameter_match_lme4s_confint(case):
    fit, objects, model, intervals = case
    # R (confint_reference.R): confint(fit, oldNames = FALSE), lme4's default: the profile
    # of the ML deviance (refitML for a REML fit) for every parameter, fixed effects
    # included; lme4 interpolates a spline through its profile, hence 1e-3 of the width.
    # On Orthodont's random-slope model sd_intercept's interval reaches 0, where the
    # correlation has no effect, so the correlation's is all of [-1, 1].
    name = objects["source"]
    reference = json.loads((REFERENCE / f"{name}_confint.json").read_text())[model]
    expected = ["sd_intercept", "correlation", "sd_slope", "sigma"] if model == "slope" else [
        "sd_intercept", "sigma"]
    assert list(intervals.index) == list(fit.fixed_effects.index) + expected
    names = {**PROFILE_NAMES, **dict(zip(fit.fixed_effects.index, ("(Intercept)", "x")))}
    for ours in intervals.index:
        theirs = reference[names[ours]]
        width = theirs["upper"] - theirs["lower"]
        for end in ("lower", "upper"):
            assert intervals.loc[ours, end] == pytest.approx(theirs[end], abs=1e-3 * width), (
                name, ours, end)


def test_a_reml_fit_and_its_ml_refit_share_profile_intervals(case):
    fit, _, _, intervals = case
    again = fit.refit(method="ML").conf_int()
    pd.testing.assert_frame_equal(intervals, again, rtol=1e-6)
    # (Wald intervals are each fit's own: ML's standard errors are the smaller.)
    assert (fit.refit(method="ML").fixed_effects["std_error"] < fit.fixed_effects["std_error"]).all()


def test_the_level_is_checked_and_narrows_the_intervals():
    path, columns = DATA["sleepstudy"]
    fit = fit_models(pd.read_csv(path), *columns, model="intercept")
    wide, narrow = fit.conf_int(0.95), fit.conf_int(0.5)
    assert ((narrow["lower"] > wide["lower"]) & (narrow["upper"] < wide["upper"])).all()
    for level in (0, 1, 1.5, "0.9"):
        with pytest.raises(ValueError, match="level must be a number in"):
            fit.conf_int(level)


def test_a_level_of_any_real_type_is_a_level():
    import numpy as np

    fit = fit_models(pd.read_csv(REFERENCE / "few_obs.csv"), model="intercept")
    assert fit.conf_int(np.float32(0.9)).to_numpy() == pytest.approx(fit.conf_int(0.9).to_numpy(),
                                                                     rel=1e-5)


def test_singular_fits_get_every_profile_end(recwarn):
    # few_obs at seed 8 ends at a correlation of -1 (by rounding a hair beyond it, which
    # made every profile infinite and its upper ends NaN).
    from dataclasses import replace

    import numpy as np

    from shrinkage import SCENARIOS, simulate

    fit = fit_models(simulate(replace(SCENARIOS["few_obs"], seed=8)))
    assert fit.singular and fit.variance["correlation"] == -1.0
    table = fit.conf_int()
    assert np.isfinite(table.to_numpy()).all() and table.attrs["not_found"] == []
    sigma = math.sqrt(fit.refit(method="ML").variance["residual"])
    assert table.loc["sigma", "lower"] < sigma < table.loc["sigma", "upper"]
    assert table.loc["sigma", "lower"] > 0.5 * sigma  # not the bound the optimiser was given
    assert table.loc["sd_slope", "upper"] > 0 and len(recwarn) == 0
