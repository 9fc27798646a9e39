"""Shrinkage measures, each checked against a value worked out independently."""
import json
import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.path import Path as Polygon

from shrinkage import (
    SCENARIOS,
    create_data,
    estimation_error,
    fit_models,
    random_effects_ellipse,
    shrinkage_fraction,
    simulate,
    textbook_fraction,
    textbook_fractions,
)
from shrinkage.data import centre_within_clusters
from shrinkage.fit import MixedFit
from shrinkage.measure import (
    break_even_extremity,
    cluster_errors,
    path_angles,
    pooling_matrices,
    sampling_variances,
)
from shrinkage.pooling import no_pooling

from conftest import REAL_DATA, REFERENCE


@pytest.fixture(scope="module")
def baseline():
    return fit_models(simulate(SCENARIOS["baseline"]))


def test_shrinkage_fraction_matches_lme4_numbers(baseline):
    # Fractions computed from R's own estimates: lmList, coef(mod) and fixef(mod).
    ref = json.loads((REFERENCE / "baseline.json").read_text())
    clusters = pd.DataFrame(ref["clusters"])
    b0 = ref["fixed_effects"]["Intercept"]["estimate"]
    b1 = ref["fixed_effects"]["x"]["estimate"]
    expected_int = (clusters.ols_intercept - clusters.mixed_intercept) / (clusters.ols_intercept - b0)
    expected_slope = (clusters.ols_slope - clusters.mixed_slope) / (clusters.ols_slope - b1)
    ours = shrinkage_fraction(baseline)
    # Compare where the denominator is not tiny (a near-zero distance amplifies rounding).
    far = (np.abs(clusters.ols_intercept - b0) > 0.05) & (np.abs(clusters.ols_slope - b1) > 0.05)
    np.testing.assert_allclose(ours.intercept[far], expected_int[far], atol=0.01)
    np.testing.assert_allclose(ours.slope[far], expected_slope[far], atol=0.01)


def test_textbook_fraction_by_hand():
    # tau2 = 1, sigma2 = 4, v = sigma2 / n: n = 4 gives v = 1 and 1 / (1 + 1) = 1/2.
    np.testing.assert_allclose(textbook_fraction([4, 1, 1 / 3], 1.0), [0.8, 0.5, 0.25])
    assert textbook_fraction(0.2, 0.0) == 1.0  # no between-cluster variance: full pooling
    with pytest.raises(ValueError, match="tau2"):
        textbook_fraction(3, -1.0)


def hand_fit(data, variance):
    """A stand-in fit: the data's columns and own lines, with the given variances."""
    from types import SimpleNamespace

    from shrinkage.columns import Columns

    return SimpleNamespace(columns=Columns.from_frame(data), clusters=no_pooling(data),
                           variance=variance, model="slope",
                           fixed_effects=pd.DataFrame({"estimate": [0.0, 0.0]}),
                           population_line=np.zeros(2))


def test_textbook_fractions_use_each_clusters_design():
    # Cluster 1: x = -1, 0, 1 (xbar 0, S_xx 2); cluster 2: x = 1, 2, 3 (xbar 2, S_xx 2).
    data = pd.DataFrame({"y": [0.0, 1, 0, 2, 0, 1], "x": [-1, 0, 1, 1, 2, 3],
                         "cluster": [1, 1, 1, 2, 2, 2]})
    fit = hand_fit(data, {"residual": 2.0, "intercept": 1.0, "slope": 0.5})
    table = textbook_fractions(fit)
    # slope: v = 2 / 2 = 1, fraction 1 / (0.5 + 1) = 2/3 for both clusters.
    np.testing.assert_allclose(table["slope"], [2 / 3, 2 / 3])
    # intercept: v = 2 (1/3 + xbar^2 / 2): 2/3 -> 0.4; 2 (1/3 + 2) = 14/3 -> 14/17.
    np.testing.assert_allclose(table["intercept"], [(2 / 3) / (5 / 3), (14 / 3) / (17 / 3)])
    np.testing.assert_allclose(sampling_variances(fit)["intercept"], [2 / 3, 14 / 3])


def test_pooling_matrices_reproduce_lme4s_cluster_estimates():
    # R: coef(lmer(y ~ x + (x | cluster), d)) against lmList's lines, fixef and VarCorr:
    # mixed = own - M (own - fixef), M = sigma2 (Sigma X'X + sigma2 I)^-1, for lme4's numbers.
    ref = json.loads((REFERENCE / "baseline.json").read_text())
    data = pd.read_csv(REFERENCE / "baseline.csv")
    v = ref["variance"]
    fit = hand_fit(data, v)
    fixed = np.array([ref["fixed_effects"]["Intercept"]["estimate"],
                      ref["fixed_effects"]["x"]["estimate"]])
    clusters = pd.DataFrame(ref["clusters"])
    own = clusters[["ols_intercept", "ols_slope"]].to_numpy()
    mixed = own - np.einsum("gij,gj->gi", pooling_matrices(fit), own - fixed)
    np.testing.assert_allclose(mixed, clusters[["mixed_intercept", "mixed_slope"]], atol=1e-6)


def test_pooling_matrices_by_hand():
    # One cluster, x = 1, 2, 3: X'X = [[3, 6], [6, 14]]; Sigma = diag(1, 0.5), sigma2 = 2.
    # Sigma X'X + 2 I = [[5, 6], [3, 9]], inverse [[9, -6], [-3, 5]] / 27, times 2.
    data = pd.DataFrame({"y": [0.0, 1, 3], "x": [1.0, 2, 3], "cluster": ["a"] * 3})
    fit = hand_fit(data, {"residual": 2.0, "intercept": 1.0, "slope": 0.5, "covariance": 0.0})
    expected = 2 * np.array([[9, -6], [-3, 5]]) / 27
    np.testing.assert_allclose(pooling_matrices(fit, "zero")[0], expected)
    np.testing.assert_allclose(pooling_matrices(fit)[0], expected)
    # Centred (x = -1, 0, 1): X'X = diag(3, 2), M = diag(2 / 5, 2 / 3): the textbook fractions.
    centred = hand_fit(centre_within_clusters(data), fit.variance)
    np.testing.assert_allclose(pooling_matrices(centred)[0], np.diag([2 / 5, 2 / 3]))
    with pytest.raises(ValueError, match="covariance must be one of"):
        pooling_matrices(fit, "none")


def test_path_angles_by_hand():
    from types import SimpleNamespace

    # Own estimates (2, 0) and (0, 2) around (0, 0) (spread 1 on both axes); mixed (1, 1)
    # and (0, 1): the first turns 45 degrees from the straight line, the second not at all.
    clusters = pd.DataFrame({"cluster": ["a", "b"], "n": [3, 3], "ols_intercept": [2.0, 0.0],
                             "ols_slope": [0.0, 2.0], "mixed_intercept": [1.0, 0.0],
                             "mixed_slope": [1.0, 1.0]})
    fit = SimpleNamespace(clusters=clusters, fixed_effects=pd.DataFrame({"estimate": [0.0, 0.0]}),
                          population_line=np.zeros(2))
    np.testing.assert_allclose(path_angles(fit), [45.0, 0.0], atol=1e-12)


def test_cluster_errors_and_break_even_by_hand():
    from types import SimpleNamespace

    from shrinkage import Settings

    clusters = pd.DataFrame({"cluster": [1, 2], "n": [3, 1], "ols_intercept": [2.0, 0.5],
                             "ols_slope": [1.0, np.nan], "mixed_intercept": [1.5, 0.8],
                             "mixed_slope": [0.8, 0.6]})
    truth = pd.DataFrame({"cluster": [1, 2], "intercept": [2.0, 1.0], "slope": [0.5, 0.5]})
    table = cluster_errors(SimpleNamespace(clusters=clusters), truth, Settings())
    # Settings(): intercept 1 with sd 0.5, slope 0.5 with sd 0.25.
    np.testing.assert_allclose(table["extremity_intercept"], [2.0, 0.0])
    np.testing.assert_allclose(table["none_intercept"], [0.0, -0.5])
    np.testing.assert_allclose(table["partial_intercept"], [-0.5, -0.2])
    np.testing.assert_allclose(table["partial_slope"], [0.3, 0.1])
    assert np.isnan(table["none_slope"][1])
    # v = tau2: f = 1/2, expected errors v/4 + u^2/4 against v: equal at u^2 = 3 v.
    assert break_even_extremity(1.0, 1.0) == pytest.approx(math.sqrt(3))
    with pytest.raises(ValueError, match="tau2 must be > 0"):
        break_even_extremity(1.0, 0.0)


def test_ellipse_has_the_right_radius_and_coverage(baseline):
    v = baseline.variance
    cov = np.array([[v["intercept"], v["covariance"]], [v["covariance"], v["slope"]]])
    centre = baseline.fixed_effects["estimate"].to_numpy()
    contour = random_effects_ellipse(baseline, 0.9)
    offsets = contour - centre
    distance2 = np.einsum("ij,jk,ik->i", offsets, np.linalg.inv(cov), offsets)
    np.testing.assert_allclose(distance2, -2 * math.log(0.1), rtol=1e-10)  # chi2(2) 90%
    # Monte Carlo: 90% of draws from the fitted distribution fall inside.
    draws = np.random.default_rng(1).multivariate_normal(centre, cov, 200_000)
    inside = Polygon(contour).contains_points(draws).mean()
    assert inside == pytest.approx(0.9, abs=0.005)
    with pytest.raises(ValueError, match="level must be in"):
        random_effects_ellipse(baseline, 1.0)


def test_estimation_error_by_hand():
    clusters = pd.DataFrame({"cluster": [1, 2], "n": [2, 2],
                             "ols_intercept": [1.0, 3.0], "ols_slope": [0.0, 2.0],
                             "mixed_intercept": [1.5, 2.5], "mixed_slope": [0.5, 1.5]})
    fit = MixedFit(nobs=4, ngroups=2, criterion=0.0, theta=np.zeros(3), singular=True,
                   optimality=0.0, fixed_effects=None, variance={},
                   scaled_residual_quantiles=np.zeros(5), clusters=clusters)
    # The pooled least-squares line through these points is y = 2 + 1 x.
    data = pd.DataFrame({"cluster": [1, 1, 2, 2], "x": [-1.0, 1.0, -1.0, 1.0],
                         "y": [1.0, 3.0, 1.0, 3.0]})
    truth = pd.DataFrame({"cluster": [1, 2], "intercept": [2.0, 2.0], "slope": [1.0, 1.0]})
    table = estimation_error(fit, data, truth)
    assert table.loc["no pooling"].tolist() == pytest.approx([1.0, 1.0])
    assert table.loc["partial pooling"].tolist() == pytest.approx([0.5, 0.5])
    assert table.loc["complete pooling"].tolist() == pytest.approx([0.0, 0.0], abs=1e-12)


def test_slope_errors_cover_the_same_clusters_for_every_method():
    # Cluster 3 has one observation and no slope of its own: its mixed slope (off by 3)
    # must not enter partial pooling's slope error when no pooling's leaves it out.
    clusters = pd.DataFrame({"cluster": [1, 2, 3], "n": [2, 2, 1],
                             "ols_intercept": [1.0, 3.0, 2.0], "ols_slope": [0.0, 2.0, np.nan],
                             "mixed_intercept": [1.5, 2.5, 2.0], "mixed_slope": [0.5, 1.5, 4.0]})
    fit = MixedFit(nobs=5, ngroups=3, criterion=0.0, theta=np.zeros(3), singular=True,
                   optimality=0.0, fixed_effects=None, variance={},
                   scaled_residual_quantiles=np.zeros(5), clusters=clusters)
    data = pd.DataFrame({"cluster": [1, 1, 2, 2, 3], "x": [-1.0, 1.0, -1.0, 1.0, 0.0],
                         "y": [1.0, 3.0, 1.0, 3.0, 2.0]})
    truth = pd.DataFrame({"cluster": [1, 2, 3], "intercept": [2.0] * 3, "slope": [1.0] * 3})
    table = estimation_error(fit, data, truth)
    assert table.loc["partial pooling", "slope"] == pytest.approx(0.5)
    assert table.loc["no pooling", "slope"] == pytest.approx(1.0)
    # Intercepts: every cluster; partial pooling's errors 0.5, 0.5, 0.
    assert table.loc["partial pooling", "intercept"] == pytest.approx(np.sqrt(0.5 / 3))


def test_partial_pooling_wins_with_few_observations():
    data, truth = simulate(SCENARIOS["few_obs"], with_truth=True)
    table = estimation_error(fit_models(data), data, truth)
    assert (table.loc["partial pooling"] < table.loc["no pooling"]).all()
    assert (table.loc["partial pooling"] < table.loc["complete pooling"]).all()


def test_singletons_count_towards_intercepts_only():
    data, truth = create_data(seed=6, balanced=0.2, with_truth=True)
    fit = fit_models(data)
    table = estimation_error(fit, data, truth)
    own = fit.clusters.merge(truth, on="cluster")
    with_slope = own.ols_slope.notna()
    expected = math.sqrt(((own.ols_slope - own.slope)[with_slope] ** 2).mean())
    assert table.loc["no pooling", "slope"] == pytest.approx(expected)


def test_share_outside_ellipse_by_hand():
    from types import SimpleNamespace

    from shrinkage.measure import share_outside_ellipse

    # Unit variances, no correlation: the 90% contour is the circle of radius
    # sqrt(-2 log 0.1) = 2.146 around (1, 0.5).
    clusters = pd.DataFrame({"ols_intercept": [1.0, 3.2, 1.0, 1.0],
                             "ols_slope": [0.5, 0.5, 2.5, -1.5],
                             "mixed_intercept": [1.0, 1.1, 1.2, 1.0],
                             "mixed_slope": [0.5, 0.5, 0.5, 0.5]})
    fit = SimpleNamespace(
        variance={"intercept": 1.0, "slope": 1.0, "covariance": 0.0},
        fixed_effects=pd.DataFrame({"estimate": [1.0, 0.5]}, index=["Intercept", "x"]),
        population_line=np.array([1.0, 0.5]), clusters=clusters)
    shares = share_outside_ellipse(fit, 0.9)
    assert shares["own"] == pytest.approx(0.25)   # only (3.2, 0.5): distance 2.2 > 2.146
    assert shares["mixed"] == 0.0


def test_holdout_leaves_out_rows_no_pooling_cannot_predict():
    from shrinkage.measure import holdout_error, holdout_predictions

    data = pd.read_csv(REFERENCE / "baseline.csv")
    # Hold out all of cluster 1: no pooling has no line for it, the mixed model the
    # population line.
    folds = np.where(data["cluster"] == 1, "cluster 1", None)
    table = holdout_predictions(data, folds)
    assert table["no pooling"].isna().all() and table["partial pooling"].notna().all()
    assert holdout_error(table).isna().all()  # no row that all three predict
    with pytest.raises(ValueError, match="folds must have one label per row"):
        holdout_predictions(data, [1, 2])


def test_forecasting_the_last_day_matches_r():
    # R: predict(lmer(..., days 0-8), day 9), predict(lm(y ~ x, days 0-8)) and lm per subject.
    from shrinkage.measure import holdout_error, holdout_predictions

    path, (y, x, cluster) = REAL_DATA["sleepstudy"]
    data = pd.read_csv(path)
    reference = json.loads((REFERENCE / "sleepstudy_predict.json").read_text())["forecast_day9"]
    table = holdout_predictions(data, np.where(data[x] == 9, "last day", None), y, x, cluster)
    assert data.loc[table.index, cluster].tolist() == reference["cluster"]
    scale = 1e-6 * np.abs(reference["observed"]).max()
    np.testing.assert_allclose(table["observed"], reference["observed"], atol=scale)
    np.testing.assert_allclose(table["complete pooling"], reference["complete"], atol=scale)
    np.testing.assert_allclose(table["no pooling"], reference["none"], atol=scale)
    np.testing.assert_allclose(table["partial pooling"], reference["partial"], atol=1e-3)
    # The RMSE of each, by hand from R's numbers.
    observed = np.asarray(reference["observed"])
    for column, key in (("no pooling", "none"), ("complete pooling", "complete"),
                        ("partial pooling", "partial")):
        expected = np.sqrt(np.mean((np.asarray(reference[key]) - observed) ** 2))
        assert holdout_error(table)[column] == pytest.approx(expected, rel=1e-5)


def test_cluster_level_columns_and_targets_by_hand():
    from shrinkage.measure import cluster_level_columns, toward_targets

    # Three clusters; w is constant within each (cluster level), z is not.
    data = pd.DataFrame({
        "y": [1.0, 2.2, 2.9, 4.1, 0.5, 1.4, 2.8, 3.1, 2.0, 3.3, 3.9, 5.2],
        "x": [0.0, 1.0, 2.0, 3.0] * 3,
        "w": [1.0] * 4 + [-1.0] * 4 + [0.5] * 4,
        "z": [0.3, -0.1, 0.2, 0.0, 0.1, 0.4, -0.3, 0.2, 0.0, 0.1, -0.2, 0.3],
        "g": ["a"] * 4 + ["b"] * 4 + ["c"] * 4})
    fit = fit_models("y ~ x + w + z + (1 | g)", data)
    assert cluster_level_columns(fit) == ["w"]
    table = toward_targets(fit)
    b = fit.fixed_effects["estimate"]
    np.testing.assert_allclose(table["target_intercept"], b["Intercept"] + b["w"] * np.array([1, -1, 0.5]))
    # Own lines: y less z's part, least squares on x within each cluster, by hand.
    for k, label in enumerate("abc"):
        rows = data[data["g"] == label]
        slope, intercept = np.polyfit(rows["x"], rows["y"] - b["z"] * rows["z"], 1)
        assert table.loc[k, "ols_intercept"] == pytest.approx(intercept, abs=1e-10)
        assert table.loc[k, "ols_slope"] == pytest.approx(slope, abs=1e-10)
    # The mixed line is the target plus the cluster's random intercept.
    assert (table["mixed_slope"] == b["x"]).all()
    effects = table["mixed_intercept"] - table["target_intercept"]
    np.testing.assert_allclose(effects, fit.clusters["mixed_intercept"] - b["Intercept"], atol=1e-12)
