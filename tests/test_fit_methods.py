"""The fit object's models and methods against lme4 on three real data sets.

Random slopes ``y ~ x + (x | cluster)`` and random intercepts ``y ~ x + (1 | cluster)``,
each by REML and ML: criterion, logLik, AIC, BIC, fixed effects and variance parameters.
References: tests/reference/NAME_object.json, made by fit_object.R with R 4.2.2 and
lme4 1.1-31 (the lowest criterion of lme4's default optimiser, bobyqa and Nelder-Mead).
"""
import json
import math

import pandas as pd
import pytest

from shrinkage import UnidentifiableError, fit_models
from shrinkage.fit import parse_formula

from conftest import REAL_DATA, REFERENCE

DATA = REAL_DATA
CASES = [(name, model, method) for name in DATA for model in ("slope", "intercept")
         for method in ("REML", "ML")]


def reference(name, model, method):
    return json.loads((REFERENCE / f"{name}_object.json").read_text())[f"{model}_{method}"]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: "-".join(c))
def case(request):
    name, model, method = request.param
    path, columns = DATA[name]
    return fit_models(pd.read_csv(path), *columns, model=model, method=method), reference(
        *request.param), model


def test_criterion_and_information_criteria_match_lme4(case):
    fit, r, _ = case
    # R: -2 * logLik(fit); logLik(fit); attr(logLik(fit), "df"); AIC(fit); BIC(fit)
    assert fit.criterion == pytest.approx(r["criterion"], abs=1e-4)
    assert fit.loglik == pytest.approx(r["logLik"], abs=5e-5)
    assert fit.df == r["df"]
    assert fit.aic == pytest.approx(r["AIC"], abs=1e-4)
    assert fit.bic == pytest.approx(r["BIC"], abs=1e-4)
    assert fit.singular == r["singular"]


def test_estimates_match_lme4(case):
    fit, r, model = case
    # R: summary(fit)$coefficients
    for (_, ours), theirs in zip(fit.fixed_effects.iterrows(), r["fixed_effects"].values()):
        assert ours["estimate"] == pytest.approx(theirs["estimate"], rel=1e-5)
        assert ours["std_error"] == pytest.approx(theirs["std_error"], rel=1e-4)
    # R: as.data.frame(VarCorr(fit))$sdcor, sigma(fit)
    v = fit.variance
    assert math.sqrt(v["intercept"]) == pytest.approx(r["sd_intercept"], rel=1e-4)
    assert math.sqrt(v["residual"]) == pytest.approx(r["sigma"], rel=1e-5)
    if model == "slope":
        assert math.sqrt(v["slope"]) == pytest.approx(r["sd_slope"], rel=1e-4)
        assert v["correlation"] == pytest.approx(r["correlation"], abs=1e-4)
    else:
        assert v["slope"] == 0 and math.isnan(v["correlation"])
        # Every cluster keeps the fixed slope; only intercepts are pooled.
        assert (fit.clusters["mixed_slope"] == fit.fixed_effects["estimate"].iloc[1]).all()


def test_the_summary_and_json_say_which_model_and_method(case):
    fit, r, model = case
    text, data = fit.summary(), json.loads(json.dumps(fit.to_dict()))
    x, cluster = fit.names["x"], fit.names["cluster"]
    inner = x if model == "slope" else "1"
    assert f"Formula: {fit.names['y']} ~ {x} + ({inner} | {cluster})" in text
    assert data["model"] == model and data["method"] == fit.method
    assert data["aic"] == pytest.approx(r["AIC"], abs=1e-4)
    if fit.method == "REML":
        assert "Linear mixed model fit by REML" in text and "REML criterion at convergence" in text
    else:
        # lme4's table: AIC BIC logLik deviance df.resid
        assert "Linear mixed model fit by maximum likelihood" in text
        assert f"{r['AIC']:9.1f}{r['BIC']:9.1f}{r['logLik']:9.1f}" in text
        assert "reml_criterion" not in data
        with pytest.raises(AttributeError, match="an ML fit has no REML criterion"):
            fit.reml_criterion  # noqa: B018
    assert ("Corr" in text) == (model == "slope")


def test_a_formula_fits_the_same_model():
    path, columns = DATA["sleepstudy"]
    data = pd.read_csv(path)
    by_formula = fit_models("Reaction ~ Days + (1 | Subject)", data, method="ML")
    assert by_formula.model == "intercept"
    r = reference("sleepstudy", "intercept", "ML")
    assert by_formula.criterion == pytest.approx(r["criterion"], abs=1e-4)
    slope = fit_models("Reaction~Days+(Days|Subject)", data)
    assert slope.criterion == pytest.approx(reference("sleepstudy", "slope", "REML")["criterion"],
                                            abs=1e-4)


@pytest.mark.parametrize("formula", [
    "Reaction ~ Days + (Days || Subject)",        # uncorrelated effects
    "Reaction ~ Days + Age + (1 | Subject)",       # two predictors
    "Reaction ~ (1 | Subject)",                    # no fixed slope
    "Reaction ~ Days + (Age | Subject)",           # a slope of another variable
    "Reaction ~ Days",                             # no random effects
    "Reaction ~ Days + (1 | Subject) + (1 | Day)",
])
def test_other_formulas_are_refused_with_the_supported_forms(formula):
    with pytest.raises(ValueError) as error:
        parse_formula(formula)
    message = str(error.value)
    assert message.startswith("formula: only 'y ~ x + (x | cluster)'")
    assert "'y ~ x + (1 | cluster)'" in message and "statsmodels" in message and "lme4" in message


def test_bad_arguments_are_named():
    path, columns = DATA["sleepstudy"]
    data = pd.read_csv(path)
    with pytest.raises(ValueError, match="model must be 'slope' or 'intercept', got 'random'"):
        fit_models(data, *columns, model="random")
    with pytest.raises(ValueError, match="method must be 'REML' or 'ML', got 'reml'"):
        fit_models(data, *columns, method="reml")
    with pytest.raises(ValueError, match="give the data after the formula"):
        fit_models("Reaction ~ Days + (1 | Subject)")


def test_the_intercept_model_needs_fewer_observations():
    # Clusters of one and two observations: too few for random slopes, enough for intercepts.
    rows = [(1.0, 0.0, "a"), (2.1, 1.0, "a"), (0.5, 0.0, "b"), (2.4, 1.0, "c"), (1.2, 0.5, "c"),
            (3.0, 2.0, "d"), (0.8, 0.2, "e"), (1.9, 1.5, "e")]
    data = pd.DataFrame(rows, columns=["y", "x", "cluster"])
    with pytest.raises(UnidentifiableError, match="no more than the 10 random effects"):
        fit_models(data)
    fit = fit_models(data, model="intercept")
    assert fit.ngroups == 5 and fit.model == "intercept"
    with pytest.raises(UnidentifiableError, match="no more than the 5 random intercepts"):
        fit_models(data.drop_duplicates("cluster"), model="intercept")


def test_the_command_line_fits_either_model_by_either_method(shrinkage_main):
    path, columns = DATA["Orthodont"]
    result = shrinkage_main("fit", "--data", str(path), "--y", "distance", "--x", "age",
                            "--cluster", "Subject", "--model", "intercept", "--method", "ML",
                            "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    r = reference("Orthodont", "intercept", "ML")
    assert data["criterion"] == pytest.approx(r["criterion"], abs=1e-4)
    assert data["bic"] == pytest.approx(r["BIC"], abs=1e-4)
    assert list(data["fixed_effects"]) == ["Intercept", "age"]
