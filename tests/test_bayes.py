"""The Bayesian chapter's machinery: the bridge, the sampler checked against an exact grid
posterior, the convergence diagnostics, and the stored 50-draw study."""
import json
import math
from importlib import resources

import numpy as np
import pytest
from scipy import stats

import shrinkage as sk
from shrinkage import bayes
from shrinkage.data import Settings

from conftest import REFERENCE

SAMPLER = {"warmup": 500, "draws": 1000, "chains": 2}


@pytest.mark.parametrize("name", ["baseline", "few_obs", "unbalanced"])
def test_given_the_variances_the_mixed_lines_are_a_posterior_mean_and_a_ridge_solution(name):
    # bayesian: "the posterior mean of every cluster's line solves Henderson's mixed-model
    # equations ... the same numbers are also a ridge regression", at every seed.
    for seed in range(1, 6):
        fit = sk.fit_models(sk.simulate(Settings(**{**sk.SCENARIOS[name].as_dict(), "seed": seed})))
        table = bayes.given_variances(fit)
        scale = table[["mixed_intercept", "mixed_slope"]].abs().to_numpy().max()
        for route in ("posterior", "ridge"):
            for part in ("intercept", "slope"):
                np.testing.assert_allclose(table[f"{route}_{part}"], table[f"mixed_{part}"],
                                           atol=1e-9 * scale)


def ar1_chains(phi, chains, draws, seed, shift=None):
    rng = np.random.default_rng(seed)
    values = np.empty((chains, draws))
    values[:, 0] = rng.standard_normal(chains) / math.sqrt(1 - phi ** 2)
    noise = rng.standard_normal((chains, draws))
    for t in range(1, draws):
        values[:, t] = phi * values[:, t - 1] + noise[:, t]
    return values + (0 if shift is None else np.asarray(shift)[:, None])


def test_bulk_ess_and_rank_rhat_against_theory():
    # An AR(1) chain with coefficient phi has ESS N (1 - phi) / (1 + phi) (its integrated
    # autocorrelation time is (1 + phi) / (1 - phi)); independent draws have ESS N.
    values = ar1_chains(0.5, 4, 20_000, seed=1)
    assert bayes.bulk_ess(values) == pytest.approx(80_000 / 3, rel=0.08)
    iid = np.random.default_rng(2).standard_normal((4, 5_000))
    assert bayes.bulk_ess(iid) == pytest.approx(20_000, rel=0.08)
    assert bayes.rank_rhat(iid) == pytest.approx(1.0, abs=0.005)
    # Chains that disagree by a standard deviation are far from converged.
    assert bayes.rank_rhat(ar1_chains(0.5, 4, 2_000, seed=3, shift=[0, 0, 0, 2])) > 1.1
    # So are chains that agree in the middle but not in the tails (the folded R-hat).
    rng = np.random.default_rng(4)
    wide = np.vstack([rng.standard_normal((2, 4_000)), 3 * rng.standard_normal((2, 4_000))])
    assert bayes.rank_rhat(wide) > 1.01


@pytest.fixture(scope="module")
def small_intercept_data():
    return sk.simulate(Settings(n_cluster=15, obs_per_cluster=4, sd_slope=0.0, seed=3))


def grid_posterior(data, prior, points=121):
    """The exact posterior of y = X b + u_cluster + e on a grid of (tau, sigma).

    Given tau and sigma, b has a normal posterior (prior N(0, 10^2) each) and the marginal
    likelihood is that of y ~ N(0, sigma^2 I + tau^2 Z Z' + 100 X X'): both by dense
    algebra.  Returns the posterior means and SDs of b0, b1, tau and sigma.
    """
    y = data["y"].to_numpy()
    x = np.column_stack([np.ones(len(y)), data["x"].to_numpy()])
    z = (data["cluster"].to_numpy()[:, None] == np.unique(data["cluster"])[None, :]).astype(float)
    fit = sk.fit_models(data, model="intercept")
    tau_hat, sigma_hat = math.sqrt(fit.variance["intercept"]), math.sqrt(fit.variance["residual"])
    taus = np.linspace(1e-4, 4 * max(tau_hat, 0.3), points)
    sigmas = np.linspace(0.45 * sigma_hat, 2.0 * sigma_hat, points)
    tt, ss = [a.ravel() for a in np.meshgrid(taus, sigmas, indexing="ij")]
    prior_b = 10.0 ** 2
    log_post, means, second = [], [], []
    zz, xx, n = z @ z.T, x @ x.T, len(y)
    for chunk in np.array_split(np.arange(len(tt)), 40):
        v = ss[chunk, None, None] ** 2 * np.eye(n) + tt[chunk, None, None] ** 2 * zz
        omega = v + prior_b * xx
        sign, log_det = np.linalg.slogdet(omega)
        quad = np.einsum("i,kij,j->k", y, np.linalg.inv(omega), y)
        log_post.append(-0.5 * (log_det + quad)
                        + stats.gamma.logpdf(tt[chunk], prior.shape, scale=1 / prior.rate)
                        + stats.halfnorm.logpdf(ss[chunk], scale=bayes.SIGMA_PRIOR_SD))
        v_inv = np.linalg.inv(v)
        precision = np.einsum("ia,kij,jb->kab", x, v_inv, x) + np.eye(2) / prior_b
        cov = np.linalg.inv(precision)
        mean = np.einsum("kab,ib,kij,j->ka", cov, x, v_inv, y)
        means.append(mean)
        second.append(cov + np.einsum("ka,kb->kab", mean, mean))
    log_post = np.concatenate(log_post)
    weight = np.exp(log_post - log_post.max())
    weight /= weight.sum()
    means, second = np.concatenate(means), np.concatenate(second)
    b_mean = weight @ means
    b_sd = np.sqrt(np.einsum("k,kaa->a", weight, second) - b_mean ** 2)
    result = {"intercept": (b_mean[0], b_sd[0]), "slope": (b_mean[1], b_sd[1])}
    for name, values in (("sd_intercept", tt), ("sigma", ss)):
        mean = weight @ values
        result[name] = (mean, math.sqrt(weight @ values ** 2 - mean ** 2))
    return result


def test_the_sampler_matches_the_exact_posterior_on_a_grid(small_intercept_data):
    # Given tau and sigma the posterior is normal, so the marginal posterior of (tau, sigma)
    # can be integrated on a grid: an independent route to the same posterior.
    prior = bayes.PRIORS["weak"]
    fit = sk.fit_models(small_intercept_data, model="intercept")
    posterior = bayes.sample_posterior(fit, prior, seed=7, chains=2, warmup=500, draws=2000)
    table = posterior.summary()
    exact = grid_posterior(small_intercept_data, prior)
    for name, (mean, sd) in exact.items():
        row = table.loc[name]
        # Monte Carlo error of a mean: sd / sqrt(ESS); of an SD about sd / sqrt(2 ESS).
        assert row["mean"] == pytest.approx(mean, abs=4 * sd / math.sqrt(row["ess_bulk"])), name
        assert row["sd"] == pytest.approx(sd, abs=5 * sd / math.sqrt(2 * row["ess_bulk"])), name


def test_a_weak_prior_and_100_clusters_agree_with_reml():
    fit = sk.fit_models(sk.simulate(sk.SCENARIOS["baseline"]))
    posterior = bayes.sample_posterior(fit, "weak", seed=3, **SAMPLER)
    table = bayes.check_convergence(posterior)
    for name, reml in zip(("intercept", "slope"), fit.fixed_effects["estimate"]):
        assert abs(table.loc[name, "mean"] - reml) < 0.2 * table.loc[name, "sd"]


def test_an_unconverged_posterior_is_refused():
    posterior = bayes.Posterior(
        parameters={"beta": np.stack([ar1_chains(0.5, 2, 400, 1, shift=[0, 3]),
                                      ar1_chains(0.5, 2, 400, 2)], -1),
                    "tau": np.abs(np.stack([ar1_chains(0.9, 2, 400, 3),
                                            ar1_chains(0.5, 2, 400, 4)], -1)),
                    "rho": np.tanh(ar1_chains(0.5, 2, 400, 5)),
                    "sigma": np.abs(ar1_chains(0.5, 2, 400, 6)) + 1},
        sums=np.ones((6, 3)), labels=np.arange(3), prior=bayes.PRIORS["weak"],
        random_slope=True, seed=1)
    with pytest.raises(sk.ConvergenceError, match=r"intercept: R-hat .*needed R-hat <= 1.01 "
                                                   r"and bulk ESS >= 400"):
        bayes.check_convergence(posterior)


def test_the_stored_study_is_the_scripts_and_reproduces():
    # tests/reference/bayes_study.py wrote it; the package ships a copy, byte for byte.
    stored = (REFERENCE / "bayes_study.json").read_bytes()
    assert resources.files("shrinkage").joinpath("datasets", "bayes_study.json").read_bytes() == stored
    study = json.loads(stored)
    assert [row["seed"] for row in study["draws"]] == list(range(1, 51))
    again = bayes.study_draw(2, **study["sampler"])
    kept = study["draws"][1]
    for key, value in kept.items():
        if key.startswith("reml_") or key in ("seed", "singular"):
            # No sampling in these: the REML fit again, to the optimiser's precision (the
            # fits match lme4 to 1e-6; a change in the optimiser's path moves the ninth digit).
            assert again[key] == pytest.approx(value, rel=1e-7), key
        elif "_cover_" in key:
            assert again[key] == pytest.approx(value, abs=0.03), key   # Monte Carlo error
        else:
            assert again[key] == pytest.approx(value, rel=0.05), key
