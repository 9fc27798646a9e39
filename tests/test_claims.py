"""The book's statements about the mechanism, each computed over 50 draws.

Every test names the chapter sentence it guards.  A statement about why clusters
move, who gains and who pays, must hold across seeds, not only for seed 888 that
the chapters show; each test fails if its statement is false.
"""
from dataclasses import replace
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

import shrinkage as sk
from shrinkage.data import centre_within_clusters, simulate_cluster_level
from shrinkage.measure import (
    break_even_extremity,
    cluster_errors,
    pooling_matrices,
    share_outside_ellipse,
    shrinkage_fraction,
    textbook_fractions,
    toward_targets,
)

SEEDS = range(1, 51)
BALANCED = ("baseline", "more_variance", "more_slope_variance", "many_obs")


@lru_cache(maxsize=None)
def draws(name):
    """(settings, data, truth, fit) for the seeds 1 to 50 of a scenario."""
    result = []
    for seed in SEEDS:
        settings = replace(sk.SCENARIOS[name], seed=seed)
        data, truth = sk.simulate(settings, with_truth=True)
        result.append((settings, data, truth, sk.fit_models(data)))
    return result


def spearman(a, b):
    return pd.Series(np.asarray(a, float)).corr(pd.Series(np.asarray(b, float)), method="spearman")


def median_gap(observed, predicted):
    return float((observed[["intercept", "slope"]] - predicted[["intercept", "slope"]])
                 .abs().median().max())


@pytest.mark.parametrize("name", BALANCED)
def test_the_fraction_moved_does_not_grow_with_the_distance(name):
    # how_far: "how far out a cluster starts does not set the fraction it moves; it sets
    # the distance" (also intro, baseline, summary).
    fraction_rank, distance_rank = [], []
    for _, _, _, fit in draws(name):
        c, average = fit.clusters, fit.fixed_effects["estimate"].iloc[0]
        distance = (c["ols_intercept"] - average).abs()
        fraction_rank.append(spearman(shrinkage_fraction(fit)["intercept"], distance))
        distance_rank.append(spearman((c["ols_intercept"] - c["mixed_intercept"]).abs(), distance))
    assert abs(np.mean(fraction_rank)) < 0.1
    assert np.mean(distance_rank) > 0.75 and min(distance_rank) > 0.5


@pytest.mark.parametrize("name", ["few_obs", "unbalanced"])
def test_where_designs_differ_far_clusters_are_the_noisy_ones(name):
    # how_far: "where clusters differ in their designs, the noisier ones start farther out
    # and move a larger fraction: precision, not extremity".
    by_design, by_distance = [], []
    for *_, fit in draws(name):
        c, average = fit.clusters, fit.fixed_effects["estimate"].iloc[0]
        distance = (c["ols_intercept"] - average).abs()
        predicted = textbook_fractions(fit)["intercept"]
        by_design.append(spearman(predicted, distance))
        by_distance.append(spearman(shrinkage_fraction(fit)["intercept"], distance))
    assert np.mean(by_design) > 0.03 and np.mean(np.array(by_design) > 0) >= 0.7
    assert np.mean(by_distance) > 0.03


def test_the_design_couples_intercept_and_slope_without_any_covariance():
    # how_far: "setting the fitted covariance to zero leaves most of the scatter around the
    # textbook prediction": the design, not the fitted correlation, causes most of it.
    ratios = []
    for *_, fit in draws("baseline"):
        predicted = textbook_fractions(fit)
        ratios.append(median_gap(shrinkage_fraction(fit, "zero"), predicted)
                      / median_gap(shrinkage_fraction(fit), predicted))
    assert np.median(ratios) > 0.7 and np.mean(np.array(ratios) > 0.5) >= 0.9


@pytest.mark.parametrize("name", ["baseline", "few_obs", "unbalanced"])
def test_centring_x_within_clusters_removes_the_coupling(name):
    # how_far: "with x centred in every cluster and the covariance set to zero, every
    # cluster moves exactly its textbook fraction".
    for _, data, _, _ in draws(name)[:20]:
        centred = centre_within_clusters(data)
        fit = sk.fit_models(centred)
        predicted = textbook_fractions(fit)
        zero = shrinkage_fraction(fit, "zero")
        gap = (zero[["intercept", "slope"]] - predicted[["intercept", "slope"]]).abs()
        assert np.nanmax(gap.to_numpy()) < 1e-9
    # ... and without centring the same data do not.
    uncentred = draws(name)[0][3]
    assert median_gap(shrinkage_fraction(uncentred, "zero"),
                      textbook_fractions(uncentred)) > 0.01


@pytest.mark.parametrize("name", sorted(sk.SCENARIOS))
def test_partial_pooling_lowers_the_error_averaged_over_clusters(name):
    # does_it_pay: "averaged over the clusters, partial pooling's error is lower".
    errors = pd.concat([cluster_errors(fit, truth, s) for s, _, truth, fit in draws(name)])
    for part in ("intercept", "slope"):
        both = errors.dropna(subset=[f"none_{part}"])
        assert (both[f"partial_{part}"] ** 2).mean() < (both[f"none_{part}"] ** 2).mean()


@pytest.mark.parametrize("name", sorted(sk.SCENARIOS))
def test_clusters_beyond_the_break_even_pay_for_the_others(name):
    # does_it_pay: "a cluster whose true intercept lies more than sqrt(2 + v / tau^2)
    # standard deviations from the average is estimated worse by partial pooling; the
    # clusters inside gain".
    rows = []
    for s, _, truth, fit in draws(name):
        errors = cluster_errors(fit, truth, s)
        cols = fit.columns
        n = np.bincount(cols.codes)
        xbar = np.bincount(cols.codes, cols.x) / n
        sxx = np.bincount(cols.codes, cols.x ** 2) - n * xbar ** 2
        v = s.sigma ** 2 * (1 / n + np.divide(xbar ** 2, sxx, out=np.full(len(n), np.inf),
                                              where=sxx > 0))
        limit = [break_even_extremity(vi, s.sd_int ** 2) for vi in v]
        errors["beyond"] = errors["extremity_intercept"].to_numpy() > np.array(limit)
        rows.append(errors)
    errors = pd.concat(rows)
    mse = errors.groupby("beyond")[["none_intercept", "partial_intercept"]].apply(
        lambda e: (e ** 2).mean())
    assert mse.loc[True, "partial_intercept"] > mse.loc[True, "none_intercept"]
    assert mse.loc[False, "partial_intercept"] < mse.loc[False, "none_intercept"]
    assert errors["beyond"].sum() >= 100


@pytest.mark.parametrize("name", sorted(sk.SCENARIOS))
def test_a_large_minority_of_clusters_is_estimated_worse(name):
    # does_it_pay: "a large minority of clusters, a quarter to a half, is estimated worse".
    from shrinkage.verdicts import share_worse

    shares = [share_worse(cluster_errors(fit, truth, s), "intercept")
              for s, _, truth, fit in draws(name)]
    assert 0.25 <= np.mean(shares) <= 0.5


def test_singular_fits_are_most_frequent_with_three_observations():
    # does_it_pay: "singular fits are most frequent with three observations per cluster,
    # where about a fifth of the fits end on the boundary".
    shares = {name: np.mean([fit.singular for *_, fit in draws(name)]) for name in sk.SCENARIOS}
    others = max(share for name, share in shares.items() if name != "few_obs")
    assert shares["few_obs"] > others and 0.1 <= shares["few_obs"] <= 0.35


def test_smaller_clusters_move_further():
    # unbalanced: "the clusters smaller than the median size move further than the larger ones".
    ahead = {"intercept": [], "slope": []}
    for _, _, _, fit in draws("unbalanced"):
        fractions = shrinkage_fraction(fit)
        median = fractions["n"].median()
        small, large = fractions[fractions["n"] < median], fractions[fractions["n"] > median]
        for part in ahead:
            ahead[part].append(small[part].median() > large[part].median())
    assert np.mean(ahead["intercept"]) >= 0.95 and np.mean(ahead["slope"]) >= 0.95


@pytest.mark.parametrize("name", sorted(sk.SCENARIOS))
def test_own_estimates_fall_outside_the_contour_more_often_than_mixed_ones(name):
    # how_far: "the own estimates spread wider than the contours; the mixed estimates end
    # inside them".
    for _, _, _, fit in draws(name):
        shares = share_outside_ellipse(fit, 0.99)
        assert shares["own"] >= shares["mixed"]
        assert shares["mixed"] <= 0.05


def test_more_data_or_more_variance_means_less_shrinkage():
    # how_far: "more data per cluster, or more variance between clusters, means less shrinkage".
    def median_fraction(name, part):
        return np.array([shrinkage_fraction(fit)[part].median() for *_, fit in draws(name)])

    for part in ("intercept", "slope"):
        few, base, many = (median_fraction(n, part) for n in ("few_obs", "baseline", "many_obs"))
        assert np.mean((few > base) & (base > many)) >= 0.95
        assert np.mean(median_fraction("more_variance", part) < base) >= 0.95


def test_with_more_slope_variance_intercepts_move_further_than_slopes():
    # more_slope_variance: "we expect strong shrinkage of the intercepts and weak shrinkage
    # of the slopes"; "the picture turns on its side".
    for *_, fit in draws("more_slope_variance"):
        medians = shrinkage_fraction(fit)[["intercept", "slope"]].median()
        assert medians["intercept"] > medians["slope"] + 0.2


def test_conditional_variance_is_below_the_own_sampling_variance():
    # unbalanced: "the conditional variance of a cluster's random effect is always smaller
    # than the sampling variance of its own estimate" (clusters with a line of their own:
    # sigma2 (X'X + sigma2 Sigma^-1)^-1 <= sigma2 (X'X)^-1).
    from shrinkage.measure import sampling_variances
    from shrinkage.predict import random_effects

    for *_, fit in draws("unbalanced"):
        own, conditional = sampling_variances(fit), random_effects(fit)
        has = own["slope"].notna()
        assert (conditional["var_slope"][has] < own["slope"][has]).all()
        assert (conditional["var_intercept"][has] < own["intercept"][has]).all()


@pytest.mark.parametrize("name", ["unbalanced", "few_obs", "baseline"])
def test_the_mixed_interval_is_never_wider_than_the_clusters_own(name):
    # unbalanced: "The mixed interval is never the wider one": with the same residual
    # variance, the exact prediction-error variance of the mixed line is at most the own
    # least-squares variance, for intercepts and slopes, the whole 2 x 2 matrix included.
    from shrinkage.measure import sampling_variances
    from shrinkage.predict import cluster_intervals, prediction_error_covariances

    for _, _, _, fit in draws(name):
        own = sampling_variances(fit)
        mixed = cluster_intervals(fit)
        has_slope = own["slope"].notna().to_numpy()
        for part in ("intercept", "slope"):
            ratio = (mixed[f"{part}_se"] ** 2 / own[part]).to_numpy()[has_slope]
            assert (ratio <= 1 + 1e-9).all(), (fit, part, ratio.max())
        own_cov = np.stack([[own["intercept"], own["covariance"]],
                            [own["covariance"], own["slope"]]], axis=-1).transpose(1, 0, 2)
        gap = own_cov[has_slope] - prediction_error_covariances(fit)[has_slope]
        assert (np.linalg.eigvalsh(gap) >= -1e-9 * np.abs(own_cov[has_slope]).max()).all()


def test_one_pooling_matrix_still_gives_each_cluster_its_own_fractions():
    # how_far: "The pooling matrix ... does not depend on where the cluster's own estimate
    # lies"; "the fractions plotted ... do depend on the own estimate, through its
    # direction". Every cluster of these draws has the same design (x = 0, ..., 9, as the
    # sleep study's days), so one M; their per-axis fractions still spread.
    from shrinkage.measure import pooling_matrices

    spreads = []
    for _, data, _, _ in draws("baseline"):
        same_design = data.assign(x=data.groupby("cluster").cumcount().astype(float))
        fit = sk.fit_models(same_design)
        m = pooling_matrices(fit)
        assert np.allclose(m, m[0], rtol=1e-9, atol=1e-12)
        fractions = shrinkage_fraction(fit)["intercept"]
        spreads.append(fractions.quantile(0.9) - fractions.quantile(0.1))
    assert min(spreads) > 0.1


@pytest.mark.parametrize("name", ["baseline", "few_obs", "unbalanced"])
def test_intervals_cover_far_out_clusters_and_singular_fits_less_often(name):
    # does_it_pay: "For the clusters that truly lie far out, coverage falls", "read a mixed
    # model's intervals as right on average over the clusters, not for each cluster";
    # few_obs's singular fits cover the slopes less often than its fits overall.
    summary = sk.summarise_study(sk.simulation_study(sk.SCENARIOS[name], 50, n_jobs=1))
    # Where clusters have few observations the pull, and the loss, is large.
    margin = 0.05 if name == "unbalanced" else 0.2
    for part in ("intercept", "slope"):
        assert summary[f"coverage_extreme_{part}"] < summary[f"coverage_{part}"] - margin
        assert summary[f"coverage_{part}"] > 0.75
    if name == "few_obs":
        assert summary["coverage_singular_slope"] < summary["coverage_slope"] - 0.1


def test_pooling_still_pays_on_average_but_the_shape_decides_who_pays():
    # does_it_pay, "When the clusters are not normal": partial pooling has the lowest
    # error averaged over the clusters whatever the shape; with two groups more clusters
    # end further from the truth than their own estimate; with heavy tails the farthest
    # 5% pay more than with normal effects.
    from shrinkage.measure import intercept_errors_by_shape

    errors = {shape: intercept_errors_by_shape(sk.SCENARIOS["baseline"], shape, SEEDS)
              for shape in ("normal", "bimodal", "heavy-tailed")}
    worse, far = {}, {}
    for shape, e in errors.items():
        assert e["partial"].mean() < e["none"].mean()
        worse[shape] = (e["partial"] > e["none"]).mean()
        out = e["distance"] >= e["distance"].quantile(0.95)
        far[shape] = e["partial"][out].mean() / e["none"][out].mean()
    assert worse["bimodal"] > worse["normal"] + 0.03
    assert far["heavy-tailed"] > far["normal"] + 0.3


def test_the_shapes_keep_the_normal_draws_variances():
    # The shapes change the distribution, not the spread: over many clusters the effects
    # have the settings' standard deviations, and "normal" is R's draw unchanged.
    settings = replace(sk.SCENARIOS["baseline"], n_cluster=20000, obs_per_cluster=1)
    _, normal = sk.simulate(settings, with_truth=True)
    assert normal.equals(sk.simulate(settings, with_truth=True, shape="normal")[1])
    for shape in ("bimodal", "heavy-tailed"):
        _, truth = sk.simulate(settings, with_truth=True, shape=shape)
        assert truth["intercept"].std() == pytest.approx(settings.sd_int, rel=0.05)
        assert truth["slope"].std() == pytest.approx(settings.sd_slope, rel=0.05)
        centred = (truth["intercept"] - settings.intercept).abs() / settings.sd_int
        share_near_zero = (centred < 0.3).mean()
        if shape == "bimodal":
            assert share_near_zero < 0.02  # normal: 24%
        else:
            assert (centred > 3).mean() > 3 * 0.0027  # the normal's share beyond 3 SD


@lru_cache(maxsize=None)
def cluster_level_draws():
    """(data, truth, fit without w, fit with w) for the seeds 1 to 50 of a simulation whose
    true intercepts rise with the cluster-level predictor w."""
    result = []
    for seed in SEEDS:
        data, truth = simulate_cluster_level(seed)
        result.append((data, truth, sk.fit_models("y ~ x + (x | cluster)", data),
                       sk.fit_models("y ~ x + w + (x | cluster)", data)))
    return result


def test_a_cluster_level_predictor_lowers_the_intercepts_spread():
    # cluster_level: "the standard deviation of the intercepts falls ... what the predictor
    # explains, the random effects no longer have to".
    for _, _, without, with_w in cluster_level_draws():
        assert with_w.variance["intercept"] < without.variance["intercept"]


def test_each_cluster_is_pulled_toward_its_own_target():
    # cluster_level: "its mixed estimate is its target plus the share of the distance the
    # pooling matrix leaves, target + (I - M)(own - target)".
    for _, _, _, fit in cluster_level_draws():
        paths = toward_targets(fit)
        own = paths[["ols_intercept", "ols_slope"]].to_numpy()
        target = paths[["target_intercept", "target_slope"]].to_numpy()
        kept = np.eye(2) - pooling_matrices(fit)
        moved = target + np.einsum("gij,gj->gi", kept, own - target)
        np.testing.assert_allclose(moved, paths[["mixed_intercept", "mixed_slope"]], atol=1e-9)
        # The targets differ by cluster, along the predictor's line, and only in intercept.
        assert paths["target_intercept"].std() > 0 and paths["target_slope"].nunique() == 1


def test_a_nearer_target_and_a_stronger_pull_move_clusters_further():
    # cluster_level: "the way is shorter ... the median fraction is larger ... the typical
    # move is s^2 / sqrt(tau^2 + s^2): it grows as a predictor explains part of tau^2".
    rows = []
    for _, _, without, with_w in cluster_level_draws():
        before, after = without.clusters, toward_targets(with_w)
        rows.append({
            "distance_before": (before["ols_intercept"] - without.population_line[0]).abs().median(),
            "distance_after": (after["ols_intercept"] - after["target_intercept"]).abs().median(),
            "fraction_before": shrinkage_fraction(without)["intercept"].median(),
            "fraction_after": shrinkage_fraction(with_w)["intercept"].median(),
            "move_before": (before["ols_intercept"] - before["mixed_intercept"]).abs().median(),
            "move_after": (after["ols_intercept"] - after["mixed_intercept"]).abs().median()})
    table = pd.DataFrame(rows)
    assert (table["distance_after"] < table["distance_before"]).all()
    assert (table["fraction_after"] > table["fraction_before"]).all()
    assert table["move_after"].mean() > table["move_before"].mean()
    assert (table["move_after"] > table["move_before"]).mean() >= 0.8


def test_the_better_target_brings_intercepts_closer_to_the_truth():
    # cluster_level: "the clusters move further, but toward a target that is nearer the
    # truth": lower mean squared error of the intercepts with w.
    before, after = [], []
    for _, truth, without, with_w in cluster_level_draws():
        before.append(np.mean((without.clusters["mixed_intercept"] - truth["intercept"]) ** 2))
        after.append(np.mean((toward_targets(with_w)["mixed_intercept"] - truth["intercept"]) ** 2))
    before, after = np.array(before), np.array(after)
    assert after.mean() < before.mean() and np.mean(after < before) >= 0.9


def test_the_cluster_mean_separates_the_slopes_within_and_between():
    # cluster_level: "the coefficient of SES is exactly the slope that fitting every school
    # its own intercept gives"; "the model with SES alone reports one slope, which lies
    # between the two, nearer the within slope" (most information is within clusters).
    for seed in SEEDS:
        data, _ = simulate_cluster_level(seed, within=0.5, between=1.5)
        data["x_mean"] = data.groupby("cluster")["x"].transform("mean")
        context = sk.fit_models("y ~ x + x_mean + (1 | cluster)", data)
        one = sk.fit_models("y ~ x + (1 | cluster)", data).fixed_effects.loc["x", "estimate"]
        dx = data["x"] - data["x_mean"]
        dy = data["y"] - data.groupby("cluster")["y"].transform("mean")
        within = context.fixed_effects.loc["x", "estimate"]
        assert within == pytest.approx((dx * dy).sum() / (dx * dx).sum(), abs=1e-10)
        between = within + context.fixed_effects.loc["x_mean", "estimate"]
        assert min(within, between) < one < max(within, between)
        assert abs(one - within) < abs(one - between)
