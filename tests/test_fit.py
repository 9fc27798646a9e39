"""The fits against lme4, and against statsmodels where R has no reference here."""
import json
import math

import numpy as np
import pandas as pd
import pytest

from shrinkage import (
    ConvergenceError,
    UnidentifiableError,
    create_data,
    fit_models,
    no_pooling,
    reml,
)
from shrinkage import fit as fit_module
from shrinkage.columns import Columns
from shrinkage.reml import theta_of

from conftest import REFERENCE, read_reference, run_shrinkage


@pytest.fixture(scope="module")
def fitted(article_case):
    name, args, r_data, r_fit = article_case
    return fit_models(create_data(**args)), r_fit


def test_reml_criterion_matches_lme4(fitted):
    fit, r = fitted
    # R: -2 * logLik(mod)   (REML)
    assert fit.reml_criterion == pytest.approx(r["reml_criterion"], abs=0.01)
    assert fit.nobs == r["nobs"] and fit.ngroups == r["ngroups"]
    assert fit.singular == r["singular"] and fit.converged


def test_fixed_effects_match_lme4(fitted):
    fit, r = fitted
    for name in ("Intercept", "x"):
        # R: summary(mod)$coefficients[name, ]
        for key in ("estimate", "std_error"):
            assert fit.fixed_effects.loc[name, key] == pytest.approx(
                r["fixed_effects"][name][key], abs=1e-3)
        assert fit.fixed_effects.loc[name, "t_value"] == pytest.approx(
            r["fixed_effects"][name]["t_value"], rel=1e-3)


def test_variance_components_match_lme4(fitted):
    fit, r = fitted
    # R: as.data.frame(VarCorr(mod))$vcov, and $sdcor for the correlation
    for key in ("intercept", "slope", "covariance", "residual", "correlation"):
        assert fit.variance[key] == pytest.approx(r["variance"][key], abs=2e-3), key


def test_scaled_residuals_match_lme4(fitted):
    fit, r = fitted
    # R: quantile(residuals(mod, scaled = TRUE))
    np.testing.assert_allclose(fit.scaled_residual_quantiles, r["scaled_residual_quantiles"],
                               atol=1e-3)


def test_cluster_estimates_match_lme4(fitted):
    fit, r = fitted
    ref = pd.DataFrame(r["clusters"])
    ours = fit.clusters
    np.testing.assert_array_equal(ours["cluster"], ref["cluster"])
    np.testing.assert_array_equal(ours["n"], ref["n"])
    # R: coef(lmList(y ~ x | cluster, df))
    np.testing.assert_allclose(ours[["ols_intercept", "ols_slope"]],
                               ref[["ols_intercept", "ols_slope"]], rtol=0, atol=1e-6)
    # R: coef(mod)$cluster
    np.testing.assert_allclose(ours[["mixed_intercept", "mixed_slope"]],
                               ref[["mixed_intercept", "mixed_slope"]], rtol=0, atol=5e-3)


def test_baseline_summary_shows_the_article_table():
    text = fit_models(create_data()).summary()
    for value in ("REML criterion at convergence: 3012.2", "0.2914", "0.0599", "0.30",
                  "0.9924", "0.93647", "0.06282", "0.54405", "0.04270",
                  "Number of obs: 1000, groups:  cluster, 100"):
        assert value in text, value
    assert "singular" not in text


def statsmodels_reml(model, fit):
    """-2 REML log-likelihood from statsmodels' own MixedLM code at ``fit``'s estimates."""
    from statsmodels.regression.mixed_linear_model import MixedLMParams

    model.reml, model.cov_pen, model.fe_pen = True, None, None  # as fit(reml=True) sets them

    v = fit.variance
    cov_re = np.array([[v["intercept"], v["covariance"]], [v["covariance"], v["slope"]]])
    params = MixedLMParams.from_components(fit.fixed_effects["estimate"].to_numpy(),
                                           cov_re=cov_re / v["residual"])
    return -2 * model.loglike(params, profile_fe=False)


# tests/reference/statsmodels_optima.py: statsmodels' bfgs, lbfgs and powell fits of
# settings R was not run on (other seeds, correlated effects, sparse unbalanced data with
# singleton clusters, a large intercept and slope, 1,000 clusters), and the lowest
# criterion they reach.
STATSMODELS_OPTIMA = json.loads((REFERENCE / "statsmodels_optima.json").read_text())["cases"]


@pytest.mark.parametrize("case", STATSMODELS_OPTIMA, ids=lambda case: str(case["args"]))
def test_optimum_agrees_with_statsmodels_likelihood(case):
    data = create_data(**case["args"])
    fit = fit_models(data)
    assert not fit.singular
    import statsmodels.formula.api as smf

    # No statsmodels optimiser finds a lower criterion:
    # -2 * MixedLM(...).fit(reml=True, method=m).llf for m in bfgs, lbfgs, powell.
    assert fit.reml_criterion <= case["lowest"] + 1e-6
    # Two independent implementations of the same criterion at the same point.
    model = smf.mixedlm("y ~ x", data, groups=data["cluster"], re_formula="~x")
    assert fit.reml_criterion == pytest.approx(statsmodels_reml(model, fit), abs=1e-6)


@pytest.mark.parametrize("args", [dict(sd_int=0, seed=3), dict(sigma=5, seed=12),
                                  dict(sd_int=0, sd_slope=0, seed=10)], ids=str)
def test_boundary_fits_are_reported_not_refused(args):
    fit = fit_models(create_data(**args))
    assert fit.singular
    assert "boundary (singular) fit" in fit.summary()
    # At the boundary a variance is zero or the correlation is +-1.
    v = fit.variance
    assert (min(v["intercept"], v["slope"]) < 1e-6 or np.isnan(v["correlation"])
            or abs(v["correlation"]) > 0.999)
    # Still the optimum: no nearby interior point is better.
    sums = sums_of(create_data(**args))
    for step in np.eye(3) * 1e-3:
        assert reml.reml_criterion(np.abs(fit.theta + step), sums) >= fit.reml_criterion - 1e-9


def test_singletons_have_an_intercept_and_no_slope():
    data = create_data(seed=6, balanced=0.2)
    fit = fit_models(data)
    singles = fit.clusters[fit.clusters["n"] == 1]
    assert len(singles) > 10
    assert singles["ols_slope"].isna().all()
    own_y = data.groupby("cluster")["y"].first().loc[singles["cluster"]]
    np.testing.assert_allclose(singles["ols_intercept"], own_y.to_numpy())
    assert singles[["mixed_intercept", "mixed_slope"]].notna().all().all()
    rows = {row["cluster"]: row for row in fit.to_dict()["clusters"]}
    assert all(rows[c]["ols_slope"] is None for c in singles["cluster"])


def test_constant_x_in_a_cluster_gives_no_slope():
    data = pd.DataFrame({"cluster": [1, 1, 2, 2, 2], "x": [0.3, 0.3, -1.0, 0.0, 2.0],
                         "y": [1.0, 2.0, 0.0, 1.0, 3.0]})
    table = no_pooling(data).set_index("cluster")
    assert np.isnan(table.loc[1, "ols_slope"]) and table.loc[1, "ols_intercept"] == 1.5
    # Cluster 2's points lie on y = x + 1 exactly.
    assert table.loc[2, "ols_slope"] == pytest.approx(1.0, abs=1e-12)
    assert table.loc[2, "ols_intercept"] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("args, match", [
    (dict(obs_per_cluster=2), "no more than the 200 random effects"),
    (dict(obs_per_cluster=1), "more than 2 observations each on average"),
    (dict(n_cluster=1), "at least 2"),
    (dict(obs_per_cluster=3, balanced=0.3), "obs_per_cluster or balanced fraction"),
    (dict(sigma=0), "no variation around each cluster's own line"),
], ids=str)
def test_unidentifiable_settings_are_refused(args, match):
    with pytest.raises(UnidentifiableError, match=match):
        fit_models(create_data(**args))


def test_unverified_optimum_raises(monkeypatch):
    # An optimiser that stops short must not produce a result.
    monkeypatch.setattr(fit_module, "minimise", lambda sums, *how: np.eye(2))  # lme4's start
    with pytest.raises(ConvergenceError, match="did not reach a verified optimum"):
        fit_models(create_data())


def test_cli_json_has_the_reference_layout(shrinkage_main):
    result = shrinkage_main("fit", "--json", "--balanced", "0.5", "--sd-slope", "0.5", "--sigma", "0.25")
    assert result.returncode == 0, result.stderr
    ours = json.loads(result.stdout)
    with open("tests/reference/unbalanced.json") as handle:
        ref = json.load(handle)
    # lme4's layout, plus what says how the fit was made and its information criteria.
    extra = {"converged", "columns", "dropped", "formula", "model", "method", "criterion",
             "loglik", "df", "aic", "bic"}
    assert set(ref) - {"params", "lme4", "R"} == set(ours) - extra
    assert (ours["formula"], ours["model"], ours["method"], ours["df"]) == (
        "y ~ x + (x | cluster)", "slope", "REML", 6)
    assert ours["columns"] == {"y": "y", "x": "x", "cluster": "cluster"} and ours["dropped"] == 0
    assert ours["converged"] is True
    assert set(ours["variance"]) == set(ref["variance"])
    assert set(ours["clusters"][0]) == set(ref["clusters"][0])
    assert len(ours["scaled_residual_quantiles"]) == 5
    assert ours["reml_criterion"] == pytest.approx(ref["reml_criterion"], abs=0.01)


def test_cli_prints_the_summary(shrinkage_main):
    result = shrinkage_main("fit")
    assert result.returncode == 0
    assert "REML criterion at convergence: 3012.2" in result.stdout


@pytest.mark.parametrize("args, name", [(["--obs-per-cluster", "2"], "observations"),
                                        (["--sigma", "-1"], "sigma"),
                                        (["--n-cluster", "1"], "cluster"),
                                        (["--sd-int", "1e200"], "sd_int"),
                                        (["--sd-slope", "1e200"], "sd_slope"),
                                        (["--sigma", "1e200"], "sigma"),
                                        (["--intercept", "1e308"], "intercept"),
                                        (["--beta", "-1e300"], "beta")])
def test_cli_refusals_exit_2_with_one_line(shrinkage_main, args, name):
    result = shrinkage_main("fit", *args)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0]


def sums_of(data):
    """The engine's per-cluster sums of ``data`` (columns y, x, cluster)."""
    return reml.ClusterSums.from_columns(Columns.from_frame(data))


def lme4_theta(r):
    """lme4's theta from its reported variance components: chol(Sigma / sigma^2)."""
    v = r["variance"]
    cov = np.array([[v["intercept"], v["covariance"]], [v["covariance"], v["slope"]]])
    return theta_of(cov / v["residual"])


# Data R was given as CSV (python -m shrinkage data --sd-int 0 --seed 9, and
# --sd-int 0 --obs-per-cluster 5 --seed 1): lme4 1.1-31's lmer stops on a boundary
# above the optimum.  R: -2 * logLik(lmer(y ~ x + (x | cluster), df))
@pytest.mark.parametrize("name, gap", [("lme4_boundary_1", 0.2), ("lme4_boundary_2", 0.01)])
def test_finds_a_lower_optimum_where_lme4_stops_on_a_boundary(name, gap):
    data, r = read_reference(name)
    fit = fit_models(data)
    assert fit.reml_criterion < r["reml_criterion"] - gap
    # Our criterion at lme4's own estimates is lme4's criterion: the same function.
    sums = sums_of(data)
    assert reml.reml_criterion(lme4_theta(r), sums) == pytest.approx(
        r["reml_criterion"], abs=1e-4)
    # And no point near ours is lower.
    for step in np.concatenate([np.eye(3), -np.eye(3)]) * 1e-3:
        assert reml.reml_criterion(np.maximum(fit.theta + step, [0, -np.inf, 0]),
                                         sums) >= fit.reml_criterion - 1e-9


def test_reml_criterion_at_lme4_estimates_matches_lme4(article_case):
    name, args, data, r = article_case
    # R: -2 * logLik(mod), evaluated here at lme4's theta; both compute one function.
    sums = sums_of(data)
    assert reml.reml_criterion(lme4_theta(r), sums) == pytest.approx(
        r["reml_criterion"], abs=1e-4)


@pytest.fixture(scope="module")
def baseline_fit():
    data = create_data()
    return data, fit_models(data)


# x -> a x + b and y -> s y + t is the same model in other units: REML's design X
# becomes X T with det T = a, adding 2 log|a| to the criterion, and y's scale adds
# 2 (n - 2) log|s|; the estimates follow the change of units.
@pytest.mark.parametrize("a, b, s, t", [(1e4, 0, 1, 0), (1, 1e4, 1, 0), (1e-3, 7, 1e5, -3e6),
                                        (1, 0, 1e-6, 5), (-2, 0, -1, 0)], ids=str)
def test_rescaled_data_give_the_rescaled_fit(baseline_fit, a, b, s, t):
    data, base = baseline_fit
    fit = fit_models(data.assign(x=a * data["x"] + b, y=s * data["y"] + t))
    n = base.nobs
    expected = base.reml_criterion + 2 * math.log(abs(a)) + 2 * (n - 2) * math.log(abs(s))
    assert fit.reml_criterion == pytest.approx(expected, abs=1e-6 * max(1, abs(expected)))
    b0, b1 = base.fixed_effects["estimate"]
    assert fit.fixed_effects.loc["x", "estimate"] == pytest.approx(s * b1 / a, rel=1e-7)
    assert fit.fixed_effects.loc["Intercept", "estimate"] == pytest.approx(
        s * b0 - s * b1 * b / a + t, rel=1e-7, abs=1e-9 * abs(t))
    assert fit.fixed_effects.loc["x", "t_value"] == pytest.approx(
        np.sign(s / a) * base.fixed_effects.loc["x", "t_value"], rel=1e-6)
    assert fit.variance["slope"] == pytest.approx(s * s * base.variance["slope"] / a / a, rel=1e-6)
    assert fit.variance["residual"] == pytest.approx(s * s * base.variance["residual"], rel=1e-7)
    np.testing.assert_allclose(fit.clusters["mixed_slope"], s * base.clusters["mixed_slope"] / a,
                               rtol=1e-6)
    assert fit.singular == base.singular


def test_a_million_rows_fit_and_agree_with_statsmodels():
    import statsmodels.formula.api as smf

    data = create_data(obs_per_cluster=1000, n_cluster=1000)
    fit = fit_models(data)
    assert fit.nobs == 10**6 and fit.optimality <= fit_module.OPTIMALITY_TOL
    model = smf.mixedlm("y ~ x", data, groups=data["cluster"], re_formula="~x")
    assert fit.reml_criterion == pytest.approx(statsmodels_reml(model, fit), rel=1e-12)
    assert fit.variance["residual"] == pytest.approx(1.0, abs=0.01)


def test_a_huge_intercept_gives_the_baseline_fit_shifted(baseline_fit):
    _, base = baseline_fit
    fit = fit_models(create_data(intercept=1e11))
    # y is held to about 1e-5 at 1e11, so the fit agrees to about that.
    assert fit.reml_criterion == pytest.approx(base.reml_criterion, abs=1e-3)
    assert fit.fixed_effects.loc["Intercept", "estimate"] == pytest.approx(
        base.fixed_effects.loc["Intercept", "estimate"] + 1e11 - 1, abs=1e-3)
    for key in ("intercept", "slope", "residual"):
        assert fit.variance[key] == pytest.approx(base.variance[key], rel=1e-4)


def test_a_tiny_residual_sd_is_estimated_not_refused():
    data, truth = create_data(sigma=1e-11, with_truth=True)
    fit = fit_models(data)
    assert fit.variance["residual"] == pytest.approx(1e-22, rel=0.1)
    # With almost no noise, the cluster lines are the true ones and so are their variances.
    assert fit.variance["intercept"] == pytest.approx(truth["intercept"].var(), rel=1e-6)
    np.testing.assert_allclose(fit.clusters["mixed_slope"], truth["slope"], atol=1e-9)
    assert not fit.singular


def test_missing_values_are_dropped_and_reported():
    data = create_data()
    data.loc[[3, 50, 51], "y"] = np.nan
    data.loc[7, "x"] = np.nan
    fit = fit_models(data)
    full = fit_models(data.dropna())
    assert fit.dropped == 4 and fit.nobs == 996
    assert fit.reml_criterion == full.reml_criterion
    assert "4 rows with missing values left out" in fit.summary()


# --- Data at the edges of what a double holds, and tables that are not what they seem ---

def test_values_too_small_for_their_variances_are_refused_in_one_line():
    data = create_data()
    for column, scale in (("y", 1e-200), ("x", 1e-170)):
        tiny = data.assign(**{column: data[column] * scale})
        with pytest.raises(ValueError, match=rf"^{column}: column '{column}' varies by only "
                           r".* it must vary by at least 1e-150"):
            fit_models(tiny)
    with pytest.raises(ValueError, match=r"^x: the spreads of 'y' and 'x' differ by a factor"):
        fit_models(data.assign(y=data["y"] * 1e100, x=data["x"] * 1e-100))


def test_small_but_representable_data_fit_as_the_same_model_rescaled():
    # R: lmer on the article's baseline data; the fit is equivariant, so y and x times 1e-140
    # give lme4's variances times 1e-280 and its fixed effects times 1e-140 and 1.
    data, r_fit = read_reference("baseline")
    fit = fit_models(data.assign(y=data["y"] * 1e-140, x=data["x"] * 1e-140))
    assert fit.variance["residual"] == pytest.approx(r_fit["variance"]["residual"] * 1e-280,
                                                     rel=1e-5)
    assert fit.fixed_effects["estimate"].tolist() == pytest.approx(
        [r_fit["fixed_effects"]["Intercept"]["estimate"] * 1e-140,
         r_fit["fixed_effects"]["x"]["estimate"]], rel=1e-5)
    assert np.isfinite(fit.fixed_effects.to_numpy()).all()


def test_a_large_offset_is_centred_before_precision_is_judged():
    # y = N(0, 1) + 1e13 keeps every digit of its noise but the last few: a fit, not a refusal.
    data, r_fit = read_reference("baseline")
    fit = fit_models(data.assign(y=data["y"] + 1e13))
    assert fit.variance["residual"] == pytest.approx(r_fit["variance"]["residual"], rel=1e-3)
    assert fit.fixed_effects.loc["x", "estimate"] == pytest.approx(
        r_fit["fixed_effects"]["x"]["estimate"], rel=1e-3)


def test_complex_values_and_duplicate_columns_are_refused_by_name():
    data = create_data()
    with pytest.raises(ValueError, match=r"^y: column 'y' holds complex numbers; it must hold "
                       "real numbers$"):
        fit_models(data.assign(y=data["y"] + 1j))
    twice = pd.concat([data, data[["x"]]], axis=1)
    with pytest.raises(ValueError, match=r"^x: the data have 2 columns named 'x'"):
        fit_models(twice)


def test_a_formula_takes_its_data_by_position_or_by_name():
    data = create_data()
    by_position = fit_models("y ~ x + (x | cluster)", data)
    by_name = fit_models("y ~ x + (x | cluster)", data=data)
    assert by_name.criterion == by_position.criterion == fit_models(data=data).criterion
    with pytest.raises(ValueError, match="^data: give the data once"):
        fit_models(data, data=data)


def test_json_never_holds_nan_or_infinity(tmp_path):
    # A random-intercept fit has no correlation: JSON's null, not NaN.
    result = run_shrinkage("fit", "--model", "intercept", "--json")
    assert result.returncode == 0, result.stderr
    fitted = json.loads(result.stdout, parse_constant=lambda name: pytest.fail(name))
    assert fitted["variance"]["correlation"] is None
