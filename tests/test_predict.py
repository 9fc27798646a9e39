"""Conditional variances, cluster intervals and predictions against lme4.

R: tests/reference/predict_reference.R wrote NAME_predict.json for the six article
settings and the sleep study, with lme4 1.1-31 (see tests/reference/README.md).
"""
import json
import math

import numpy as np
import pandas as pd
import pytest

from shrinkage import fit_models
from shrinkage.predict import (
    cluster_intervals,
    fitted_values,
    predict,
    prediction_error_covariances,
    random_effects,
    residuals,
)

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


def test_prediction_intervals_of_a_new_cluster_use_lme4s_variances(case):
    # R: sqrt(z' vcov z + z' S z + sigma^2), S = VarCorr(fit), for a cluster the fit has not
    # seen (fitted clusters: test_prediction_intervals_of_fitted_clusters_are_exact).
    name, fit, reference = case
    table = predict(fit, newdata_of(reference), level=0.95)
    new = table["new_cluster"].to_numpy()
    assert new.tolist() == [c == "new" for c in newdata_of(reference)["cluster"]]
    np.testing.assert_allclose(table["se"][new],
                               np.asarray(reference["newdata"]["sd_new_observation"])[new],
                               rtol=1e-3, err_msg=name)
    np.testing.assert_allclose(table["upper"] - table["fit"], 1.959963984540054 * table["se"])


def test_fitted_values_and_residuals_match_lme4(case):
    # R: head(fitted(fit), 20), head(residuals(fit), 20)
    name, fit, reference = case
    tolerance = 1e-5 * scale_of(reference)
    np.testing.assert_allclose(fitted_values(fit)[:20], reference["fitted"], atol=tolerance)
    np.testing.assert_allclose(residuals(fit)[:20], reference["residuals"], atol=tolerance)


PEV_DATA = {"sleepstudy": ("Reaction", "Days", "Subject"),
            "Orthodont": ("distance", "age", "Subject")}


def load_pev(name):
    """Our fit of a real data set and lme4's mixed-model-equations reference for it."""
    path = REAL_DATA["sleepstudy"][0] if name == "sleepstudy" else REFERENCE / f"{name}.csv"
    fit = fit_models(pd.read_csv(path), *PEV_DATA[name])
    return fit, json.loads((REFERENCE / f"{name}_pev.json").read_text())


@pytest.mark.parametrize("name", sorted(PEV_DATA))
def test_cluster_intervals_use_the_exact_prediction_error_variance(name):
    # R (pev_reference.R): L_j C L_j' with C = sigma^2 [X'X, X'Z; Z'X, Z'Z + (Lambda
    # Lambda')^-1]^-1 and L_j = [I, E_j], the prediction-error covariance of coef(fit)[j, ].
    fit, reference = load_pev(name)
    theirs = {c["cluster"]: np.array(c["pev"]) for c in reference["clusters"]}
    error = prediction_error_covariances(fit)
    labels = [str(label) for label in fit.clusters["cluster"]]
    np.testing.assert_allclose(error, np.stack([theirs[label] for label in labels]), rtol=1e-4)
    table = cluster_intervals(fit, level=0.9)
    for i, part in enumerate(("intercept", "slope")):
        np.testing.assert_allclose(table[f"{part}_se"], np.sqrt(error[:, i, i]))
        np.testing.assert_allclose(table[part], [c[part] for c in reference["clusters"]],
                                   rtol=1e-5)
    z = 1.6448536269514722  # qnorm(0.95)
    np.testing.assert_allclose(table["slope_upper"] - table["slope"], z * table["slope_se"])
    with pytest.raises(ValueError, match="level must be a number in"):
        cluster_intervals(fit, level=1.0)


@pytest.mark.parametrize("name", sorted(PEV_DATA))
def test_prediction_intervals_of_fitted_clusters_are_exact(name):
    # R: sqrt(z' L_j C L_j' z + sigma^2) for new rows of fitted clusters.
    fit, reference = load_pev(name)
    rows = reference["newdata"]
    y, x, cluster = PEV_DATA[name]
    newdata = pd.DataFrame({x: rows["x"], cluster: rows["cluster"]})
    table = predict(fit, newdata, level=0.95)
    np.testing.assert_allclose(table["fit"], rows["prediction"], rtol=1e-6)
    np.testing.assert_allclose(table["se"], rows["sd_new_observation"], rtol=1e-4)


def test_subject_308s_intervals_are_those_of_the_mixed_model_equations():
    # The sleep study's subject 308: its slope interval and its day-9 prediction interval,
    # from R's numbers (pev_reference.R) by hand.
    fit, reference = load_pev("sleepstudy")
    (pev,) = [np.array(c["pev"]) for c in reference["clusters"] if c["cluster"] == "S308"]
    table = cluster_intervals(fit).set_index("cluster")
    width = table.loc["S308", "slope_upper"] - table.loc["S308", "slope_lower"]
    assert width == pytest.approx(2 * 1.959963984540054 * math.sqrt(pev[1, 1]), rel=1e-4)
    day9 = predict(fit, pd.DataFrame({"Days": [9], "Subject": ["S308"]}), level=0.95)
    z = np.array([1.0, 9.0])
    expected = 2 * 1.959963984540054 * math.sqrt(z @ pev @ z + reference["sigma"] ** 2)
    assert float(day9["upper"].iloc[0] - day9["lower"].iloc[0]) == pytest.approx(expected, rel=1e-4)


def test_predict_refuses_rows_it_cannot_use():
    fit, _ = load("baseline")
    with pytest.raises(ValueError, match="newdata: no column 'x'"):
        predict(fit, pd.DataFrame({"cluster": ["1"]}))
    with pytest.raises(ValueError, match="^newdata: column 'x' has a missing value in row 0$"):
        predict(fit, pd.DataFrame({"x": [np.nan], "cluster": ["1"]}))
    with pytest.raises(ValueError, match="must be numeric and finite"):
        predict(fit, pd.DataFrame({"x": [np.inf], "cluster": ["1"]}))
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


def test_prediction_error_covariances_of_any_formula_solve_hendersons_equations():
    # By hand, with dense matrices: Henderson's mixed-model equations C [beta; u] = [X'y; Z'y]
    # with C = [[X'X, X'Z], [Z'X, Z'Z + sigma2 G^-1]]; the prediction-error covariance of
    # E beta_hat + u_hat_j is sigma2 [E, I_j] C^-1 [E, I_j]' (Henderson 1975).
    from shrinkage.predict import prediction_error_covariances

    data = pd.read_csv(REFERENCE / "formula_Orthodont.csv")
    for formula in ("distance ~ age * Sex + (age | Subject)", "distance ~ age + Sex + (age || Subject)"):
        fit = fit_models(formula, data)
        cols = fit.columns
        x, groups = cols.fixed, len(cols.labels)
        z = np.zeros((len(cols.y), 2 * groups))
        z[np.arange(len(cols.y)), 2 * cols.codes] = 1.0
        z[np.arange(len(cols.y)), 2 * cols.codes + 1] = cols.x
        v = fit.variance
        g = np.kron(np.eye(groups), np.array([[v["intercept"], v["covariance"]],
                                              [v["covariance"], v["slope"]]]))
        sigma2 = v["residual"]
        c = np.block([[x.T @ x, x.T @ z], [z.T @ x, z.T @ z + sigma2 * np.linalg.inv(g)]])
        inverse = np.linalg.inv(c)
        p = x.shape[1]
        names = list(fit.fixed_effects.index)
        for j in (0, 7, groups - 1):
            pick = np.zeros((2, p + 2 * groups))
            pick[0, names.index("Intercept")] = pick[1, names.index("age")] = 1.0
            pick[0, p + 2 * j] = pick[1, p + 2 * j + 1] = 1.0
            expected = sigma2 * pick @ inverse @ pick.T
            np.testing.assert_allclose(prediction_error_covariances(fit)[j], expected,
                                       rtol=1e-7, atol=1e-12)
        # A new row of a fitted cluster: the same equations, with the row's own design.
        row = data.iloc[[3]]
        j = int(np.flatnonzero(fit.clusters["cluster"] == row["Subject"].iloc[0])[0])
        pick = np.zeros(p + 2 * groups)
        pick[:p] = cols.design.for_new(row)[0]
        pick[p + 2 * j], pick[p + 2 * j + 1] = 1.0, row["age"].iloc[0]
        se = fit.predict(row, level=0.95)["se"].iloc[0]
        assert se ** 2 == pytest.approx(sigma2 * pick @ inverse @ pick + sigma2, rel=1e-7)
