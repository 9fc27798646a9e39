"""Conditional variances, cluster intervals and predictions against lme4.

R: tests/reference/predict_reference.R wrote NAME_predict.json for the six article
settings and the sleep study, with lme4 1.1-31 (see tests/reference/README.md).
"""
import json

import numpy as np
import pandas as pd
import pytest

from shrinkage import fit_models
from shrinkage.predict import cluster_intervals, fitted_values, predict, random_effects, residuals

from conftest import CASES, REAL_DATA, REFERENCE

DATASETS = sorted(CASES) + ["sleepstudy"]


def load(name):
    """Our fit of a data set (columns y, x, cluster) and lme4's reference for it."""
    if name == "sleepstudy":
        path, (y, x, cluster) = REAL_DATA["sleepstudy"]
        data = pd.read_csv(path).rename(columns={y: "y", x: "x", cluster: "cluster"})
    else:
        data = pd.read_csv(REFERENCE / f"{name}.csv")
    data["cluster"] = data["cluster"].astype(str)
    return fit_models(data), json.loads((REFERENCE / f"{name}_predict.json").read_text())


@pytest.fixture(params=DATASETS, scope="module")
def case(request):
    return (request.param, *load(request.param))


def scale_of(reference):
    """A typical size of y's predictions, for tolerances relative to the data's units."""
    return float(np.abs(reference["newdata"]["population"]).max())


def test_random_effects_and_conditional_variances_match_ranef_condvar(case):
    # R: ranef(fit, condVar = TRUE)$cluster and its "postVar" attribute.
    name, fit, reference = case
    ours = random_effects(fit).set_index("cluster")
    theirs = pd.DataFrame(reference["random_effects"]).set_index("cluster").loc[ours.index]
    sd = np.sqrt(np.diag(np.asarray(reference["varcorr"])))
    for part, i in (("intercept", 0), ("slope", 1)):
        # The modes: to 1e-4 of the random effect's SD (the optimisers stop a hair apart).
        np.testing.assert_allclose(ours[part], theirs[part], atol=1e-4 * sd[i], err_msg=name)
    for column in ("var_intercept", "var_slope", "covariance"):
        np.testing.assert_allclose(ours[column], theirs[column], rtol=2e-3,
                                   atol=1e-6 * sd.max() ** 2, err_msg=f"{name} {column}")


def test_fixed_effect_covariance_matches_vcov(case):
    # R: vcov(fit)
    name, fit, reference = case
    np.testing.assert_allclose(fit.fixed_covariance, reference["vcov"], rtol=2e-3, err_msg=name)


def newdata_of(reference):
    rows = reference["newdata"]
    return pd.DataFrame({"x": rows["x"], "cluster": [str(c) for c in rows["cluster"]]})


def test_predictions_match_lme4_for_fitted_and_new_clusters(case):
    # R: predict(fit, newdata, re.form = NA) and
    #    predict(fit, newdata, re.form = NULL, allow.new.levels = TRUE)
    name, fit, reference = case
    newdata = newdata_of(reference)
    tolerance = 1e-5 * scale_of(reference)
    np.testing.assert_allclose(predict(fit, newdata, clusters=False),
                               reference["newdata"]["population"], atol=tolerance, err_msg=name)
    conditional = predict(fit, newdata)
    np.testing.assert_allclose(conditional, reference["newdata"]["conditional"],
                               atol=tolerance, err_msg=name)
    new = newdata["cluster"] == "new"
    np.testing.assert_allclose(conditional[new], np.asarray(reference["newdata"]["population"])[new],
                               atol=tolerance)


def test_prediction_intervals_use_lme4s_variances(case):
    # R: sqrt(z' vcov z + z' S z + sigma^2), S = VarCorr for a new cluster, postVar otherwise.
    name, fit, reference = case
    table = predict(fit, newdata_of(reference), level=0.95)
    np.testing.assert_allclose(table["se"], reference["newdata"]["sd_new_observation"],
                               rtol=1e-3, err_msg=name)
    np.testing.assert_allclose(table["upper"] - table["fit"], 1.959963984540054 * table["se"])
    assert table["new_cluster"].tolist() == [c == "new" for c in newdata_of(reference)["cluster"]]


def test_fitted_values_and_residuals_match_lme4(case):
    # R: head(fitted(fit), 20), head(residuals(fit), 20)
    name, fit, reference = case
    tolerance = 1e-5 * scale_of(reference)
    np.testing.assert_allclose(fitted_values(fit)[:20], reference["fitted"], atol=tolerance)
    np.testing.assert_allclose(residuals(fit)[:20], reference["residuals"], atol=tolerance)


def test_cluster_intervals_combine_fixed_and_conditional_variance():
    # arm::se.coef: sqrt(se.fixef^2 + se.ranef^2); for the sleep study from lme4's numbers.
    fit, reference = load("sleepstudy")
    table = cluster_intervals(fit, level=0.9).set_index("cluster")
    theirs = pd.DataFrame(reference["random_effects"]).set_index("cluster").loc[table.index]
    se_fixed = np.sqrt(np.diag(reference["vcov"]))
    expected = np.sqrt(se_fixed[1] ** 2 + theirs["var_slope"])
    np.testing.assert_allclose(table["slope_se"], expected, rtol=2e-3)
    z = 1.6448536269514722  # qnorm(0.95)
    np.testing.assert_allclose(table["slope_upper"] - table["slope"], z * table["slope_se"])
    with pytest.raises(ValueError, match="level must be a number in"):
        cluster_intervals(fit, level=1.0)


def test_predict_refuses_rows_it_cannot_use():
    fit, _ = load("baseline")
    with pytest.raises(ValueError, match="newdata: no column 'x'"):
        predict(fit, pd.DataFrame({"cluster": ["1"]}))
    with pytest.raises(ValueError, match="must be numeric and finite"):
        predict(fit, pd.DataFrame({"x": [np.nan], "cluster": ["1"]}))
    # Without clusters, the cluster column is not needed.
    assert len(predict(fit, pd.DataFrame({"x": [0.0]}), clusters=False)) == 1


def test_predict_refuses_what_it_would_misread():
    fit, _ = load("baseline")
    rows = pd.DataFrame({"x": [0.5], "cluster": ["1"]})
    with pytest.raises(ValueError, match=r"^clusters must be True or False, got 'no'$"):
        fit.predict(rows, clusters="no")
    with pytest.raises(ValueError, match=r"^level must be a number in \(0, 1\), got '0.9'$"):
        fit.predict(rows, level="0.9")
    with pytest.raises(ValueError, match=r"^newdata: column 'x' has a value of magnitude 1e\+300"):
        fit.predict(rows.assign(x=1e300), level=0.9)
    # numpy's numbers are numbers: a float32 level is a level.
    assert fit.predict(rows, level=np.float32(0.9))["se"].notna().all()
