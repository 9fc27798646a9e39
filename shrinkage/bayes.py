"""The Bayesian view of ``y ~ x + (x | cluster)``: priors on the variances.

Two steps.  Given the variances, the mixed model's cluster lines are a posterior mean
and a ridge solution, exactly (:func:`given_variances`).  Without them, NumPyro's NUTS
samples the posterior of the fixed effects, the random effects' standard deviations and
correlation, and the residual SD (:func:`sample_posterior`), under a prior of one's
choosing on the standard deviations (:data:`PRIORS`).

The random effects are integrated out of the likelihood in closed form: given the other
parameters, each cluster's data are normal with covariance ``sigma^2 I + Z Sigma Z'``, a
2 x 2 matter per cluster.  The sampler then moves in six dimensions instead of two
hundred and six, mixes well and runs in seconds; each cluster's line is recovered draw by
draw from its exact conditional normal distribution (its mean for the posterior mean, a
draw from it for intervals).  NumPyro and JAX are imported only here, and only when a
posterior is sampled.
"""

import math
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .data import SCENARIOS, simulate
from .fit import ConvergenceError, fit_models
from .predict import cluster_intervals


@dataclass(frozen=True)
class Prior:
    """A Gamma(``shape``, ``rate``) prior on each random-effect standard deviation.

    ``shape`` 1 is an exponential prior, whose density is largest at 0; ``shape`` 2 has
    density 0 at 0, so the posterior cannot pile up on the boundary (Chung et al. 2013's
    boundary-avoiding prior, with a small rate).
    """

    shape: float
    rate: float
    description: str

    @property
    def mean(self):
        return self.shape / self.rate

    def density(self, sd):
        """The prior density at ``sd`` (an array)."""
        from scipy import stats

        return stats.gamma.pdf(sd, self.shape, scale=1 / self.rate)


PRIORS = {
    "weak": Prior(1.0, 0.1, "exponential with mean 10: says almost nothing"),
    "tight": Prior(1.0, 50.0, "exponential with mean 0.02: every cluster near the population line"),
    "boundary-avoiding": Prior(2.0, 0.1, "gamma(2, 0.1): density zero at zero, else weak"),
}
# The other priors, the same for every choice above.
FIXED_PRIOR_SD = 10.0      # each fixed effect ~ Normal(0, 10)
SIGMA_PRIOR_SD = 5.0       # the residual SD ~ HalfNormal(5)
CORRELATION_PRIOR = 2.0    # (rho + 1) / 2 ~ Beta(2, 2): LKJ(2) for a 2 x 2 correlation
# Convergence that a page may publish: rank-normalised split R-hat and bulk effective
# sample size (Vehtari et al. 2021).
MAX_RHAT = 1.01
MIN_ESS = 400


def given_variances(fit):
    """Each cluster's line three ways, at the fit's variance estimates.

    * the mixed model's (``fit.clusters``);
    * the posterior mean of a Bayesian model with a flat prior on the fixed effects and
      a normal prior, of the fitted covariance, on each cluster's random effects: the
      solution of Henderson's mixed-model equations, solved here with dense matrices;
    * the ridge solution: least squares with the penalty ``sigma^2 u' Sigma^-1 u`` on
      the random effects, solved as one augmented least-squares problem.

    Returns
    -------
    pandas.DataFrame
        ``cluster, mixed_intercept, mixed_slope, posterior_intercept, posterior_slope,
        ridge_intercept, ridge_slope``.
    """
    cols = fit.columns
    n, groups = len(cols.y), len(cols.labels)
    x = np.column_stack([np.ones(n), cols.x])
    z = np.zeros((n, 2 * groups))
    z[np.arange(n), 2 * cols.codes] = 1.0
    z[np.arange(n), 2 * cols.codes + 1] = cols.x
    v = fit.variance
    sigma = np.array([[v["intercept"], v["covariance"]], [v["covariance"], v["slope"]]])
    s2 = v["residual"]
    g = np.kron(np.eye(groups), sigma)
    # Posterior mean: Henderson's equations in Harville's form, u = G a, which holds for
    # a singular G (a variance at zero) too:
    # [[X'X, X'Z G], [Z'X, Z'Z G + s2 I]] [b; a] = [X'y; Z'y].
    lhs = np.block([[x.T @ x, x.T @ z @ g], [z.T @ x, z.T @ z @ g + s2 * np.eye(2 * groups)]])
    solution = np.linalg.solve(lhs, np.concatenate([x.T @ cols.y, z.T @ cols.y]))
    posterior = np.concatenate([solution[:2], g @ solution[2:]])
    # Ridge: u = L w with Sigma = L L', and least squares with the penalty s2 |w|^2,
    # which is s2 u' Sigma^-1 u: one stacked least-squares problem.
    values, vectors = np.linalg.eigh(sigma)
    root = np.kron(np.eye(groups), vectors * np.sqrt(np.maximum(values, 0.0)))
    stacked = np.vstack([np.hstack([x, z @ root]),
                         np.hstack([np.zeros((2 * groups, 2)), math.sqrt(s2) * np.eye(2 * groups)])])
    coef = np.linalg.lstsq(stacked, np.concatenate([cols.y, np.zeros(2 * groups)]), rcond=None)[0]
    ridge = np.concatenate([coef[:2], root @ coef[2:]])
    table = fit.clusters[["cluster", "mixed_intercept", "mixed_slope"]].copy()
    for name, solution in (("posterior", posterior), ("ridge", ridge)):
        lines = solution[:2] + solution[2:].reshape(groups, 2)
        table[f"{name}_intercept"], table[f"{name}_slope"] = lines[:, 0], lines[:, 1]
    return table


def cluster_sums(cols):
    """Per-cluster sums of the data that the marginal likelihood needs, ``(6, G)``:
    ``n, sum x, sum x^2, sum y, sum xy, sum y^2``."""
    groups = len(cols.labels)
    x, y, codes = cols.x, cols.y, cols.codes
    return np.stack([np.bincount(codes, minlength=groups).astype(float),
                     np.bincount(codes, x, groups), np.bincount(codes, x * x, groups),
                     np.bincount(codes, y, groups), np.bincount(codes, x * y, groups),
                     np.bincount(codes, y * y, groups)])


def _blocks(sums, beta, cov, sigma2, xp):
    """Per cluster: ``K = Sigma (sigma2 I + A Sigma)^-1``, ``Z'r``, ``r'r``, ``log det B``.

    ``xp`` is the array module (numpy or jax.numpy): the sampler and the draws' cluster
    lines share this algebra.  ``beta`` is ``(..., 2)``, ``cov`` ``(..., 2, 2)`` and
    ``sigma2`` ``(...)``; the results carry those leading dimensions before the clusters'.
    """
    n, sx, sxx, sy, sxy, syy = sums
    b0, b1 = beta[..., 0, None], beta[..., 1, None]
    s11, s12, s22 = cov[..., 0, 0, None], cov[..., 0, 1, None], cov[..., 1, 1, None]
    s2 = sigma2[..., None]
    zr0 = sy - n * b0 - sx * b1
    zr1 = sxy - sx * b0 - sxx * b1
    rr = syy - 2 * (b0 * sy + b1 * sxy) + n * b0 * b0 + 2 * sx * b0 * b1 + sxx * b1 * b1
    # B = s2 I + A Sigma, with A = [[n, sx], [sx, sxx]].
    b11, b12 = s2 + n * s11 + sx * s12, n * s12 + sx * s22
    b21, b22 = sx * s11 + sxx * s12, s2 + sx * s12 + sxx * s22
    det_b = b11 * b22 - b12 * b21
    # K = Sigma adj(B) / det B: symmetric, as (s2 Sigma^-1 + A)^-1 is.
    k11 = (s11 * b22 - s12 * b21) / det_b
    k12 = (-s11 * b12 + s12 * b11) / det_b
    k22 = (-s12 * b12 + s22 * b11) / det_b
    return (k11, k12, k22), (zr0, zr1), rr, xp.log(det_b)


def log_likelihood(sums, beta, cov, sigma2, xp=np):
    """The log-likelihood with the random effects integrated out, summed over clusters.

    Cluster ``j``'s data are ``N(X_j beta, sigma2 I + Z_j Sigma Z_j')``; by Woodbury's
    identity its quadratic form is ``(r'r - r'Z K Z'r) / sigma2`` and its log determinant
    ``(n_j - 2) log sigma2 + log det(sigma2 I + A_j Sigma)``.
    """
    (k11, k12, k22), (zr0, zr1), rr, log_det_b = _blocks(sums, beta, cov, sigma2, xp)
    n = sums[0]
    s2 = sigma2[..., None]
    quad = (rr - (k11 * zr0 * zr0 + 2 * k12 * zr0 * zr1 + k22 * zr1 * zr1)) / s2
    log_det = (n - 2) * xp.log(s2) + log_det_b
    return -0.5 * (n * math.log(2 * math.pi) + log_det + quad).sum(axis=-1)


def _covariance(tau, rho, xp):
    off = rho * tau[..., 0] * tau[..., 1]
    return xp.stack([xp.stack([tau[..., 0] ** 2, off], -1),
                     xp.stack([off, tau[..., 1] ** 2], -1)], -2)


def _model(sums, shape, rate, random_slope=True):
    """The NumPyro model: priors, and the marginal likelihood as a factor."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    beta = numpyro.sample("beta", dist.Normal(0.0, FIXED_PRIOR_SD).expand([2]).to_event(1))
    sigma = numpyro.sample("sigma", dist.HalfNormal(SIGMA_PRIOR_SD))
    if random_slope:
        tau = numpyro.sample("tau", dist.Gamma(shape, rate).expand([2]).to_event(1))
        half = numpyro.sample("rho_half", dist.Beta(CORRELATION_PRIOR, CORRELATION_PRIOR))
        rho = numpyro.deterministic("rho", 2 * half - 1)
    else:
        tau = jnp.stack([numpyro.sample("tau_intercept", dist.Gamma(shape, rate)), 0.0])
        rho = 0.0
    cov = _covariance(tau, rho, jnp)
    numpyro.factor("y", log_likelihood(sums, beta, cov, sigma ** 2, jnp))


@dataclass
class Posterior:
    """Draws of a NUTS run: ``parameters`` (name -> ``(chains, draws)`` array; ``beta``,
    ``tau`` are ``(chains, draws, 2)``), the data's cluster sums and labels, and the prior."""

    parameters: dict
    sums: np.ndarray
    labels: np.ndarray
    prior: Prior
    random_slope: bool
    seed: int

    def flat(self, name):
        """A parameter's draws, chains pooled: ``(chains * draws, ...)``."""
        value = self.parameters[name]
        return value.reshape(-1, *value.shape[2:])

    def _conditional(self):
        """Each draw's conditional mean and covariance of every cluster's line."""
        beta, sigma = self.flat("beta"), self.flat("sigma")
        tau = self.flat("tau") if self.random_slope else np.column_stack(
            [self.flat("tau_intercept"), np.zeros(len(sigma))])
        rho = self.flat("rho") if self.random_slope else np.zeros(len(sigma))
        cov = _covariance(tau, rho, np)
        (k11, k12, k22), (zr0, zr1), _, _ = _blocks(self.sums, beta, cov, sigma ** 2, np)
        mean = np.stack([beta[:, 0, None] + k11 * zr0 + k12 * zr1,
                         beta[:, 1, None] + k12 * zr0 + k22 * zr1], -1)   # (S, G, 2)
        s2 = (sigma ** 2)[:, None]
        condvar = np.stack([np.stack([s2 * k11, s2 * k12], -1),
                            np.stack([s2 * k12, s2 * k22], -1)], -2)     # (S, G, 2, 2)
        return mean, condvar

    def cluster_means(self):
        """Each cluster's posterior mean intercept and slope: the draws' conditional means,
        averaged (Rao-Blackwellised)."""
        mean, _ = self._conditional()
        average = mean.mean(axis=0)
        return pd.DataFrame({"cluster": self.labels, "intercept": average[:, 0],
                             "slope": average[:, 1]})

    def cluster_intervals(self, level=0.95):
        """Equal-tailed credible intervals for each cluster's line: one draw of its line
        from its conditional normal per posterior draw, the ``level`` quantiles of those."""
        mean, condvar = self._conditional()
        rng = np.random.default_rng(self.seed)
        # A 2 x 2 Cholesky factor per draw and cluster, written out (no failures at 0).
        l11 = np.sqrt(np.maximum(condvar[..., 0, 0], 0.0))
        l21 = np.divide(condvar[..., 0, 1], l11, out=np.zeros_like(l11), where=l11 > 0)
        l22 = np.sqrt(np.maximum(condvar[..., 1, 1] - l21 ** 2, 0.0))
        noise = rng.standard_normal(mean.shape)
        lines = mean + np.stack([l11 * noise[..., 0], l21 * noise[..., 0] + l22 * noise[..., 1]], -1)
        tail = (1 - level) / 2
        lower, upper = np.quantile(lines, [tail, 1 - tail], axis=0)
        table = pd.DataFrame({"cluster": self.labels})
        for i, part in enumerate(("intercept", "slope")):
            table[part] = mean[..., i].mean(axis=0)
            table[f"{part}_lower"], table[f"{part}_upper"] = lower[:, i], upper[:, i]
        return table

    def summary(self):
        """Posterior mean, SD, 2.5% and 97.5% quantiles, R-hat and bulk ESS of each
        scalar parameter."""
        rows = {}
        for label, values in self.scalars().items():
            flat = values.reshape(-1)
            rows[label] = {"mean": flat.mean(), "sd": flat.std(ddof=1),
                           "2.5%": np.quantile(flat, 0.025), "97.5%": np.quantile(flat, 0.975),
                           "r_hat": rank_rhat(values), "ess_bulk": bulk_ess(values)}
        return pd.DataFrame.from_dict(rows, orient="index")

    def scalars(self):
        """Every scalar parameter's ``(chains, draws)`` draws, by a readable name."""
        p = self.parameters
        result = {"intercept": p["beta"][..., 0], "slope": p["beta"][..., 1]}
        if self.random_slope:
            result.update({"sd_intercept": p["tau"][..., 0], "sd_slope": p["tau"][..., 1],
                           "correlation": p["rho"]})
        else:
            result["sd_intercept"] = p["tau_intercept"]
        result["sigma"] = p["sigma"]
        return result


# One compiled sampler per configuration: a page's several runs share its compilation.
_SAMPLERS = {}


def _sampler(random_slope, chains, warmup, draws):
    import os
    import sys

    if "jax" not in sys.modules:
        # The model's algebra is a few hundred numbers per step: XLA's threads would only
        # contend with the other work of the machine (a book builds two chapters at once).
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                           "intra_op_parallelism_threads=1")
    import jax

    jax.config.update("jax_enable_x64", True)  # the marginal likelihood subtracts
    # Compiling the sampler takes longer than running it: kept between runs (and builds)
    # in the user's cache folder, as JAX allows.
    if jax.config.jax_compilation_cache_dir is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        jax.config.update("jax_compilation_cache_dir", os.path.join(base, "shrinkage", "jax"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    with warnings.catch_warnings():
        # NumPyro imports tqdm.auto, which warns in a notebook without ipywidgets; its
        # progress bars are off here.
        warnings.filterwarnings("ignore", message="IProgress not found")
        from numpyro.infer import MCMC, NUTS

    key = (random_slope, chains, warmup, draws)
    if key not in _SAMPLERS:
        kernel = NUTS(lambda sums, shape, rate: _model(sums, shape, rate, random_slope),
                      target_accept_prob=0.8)
        _SAMPLERS[key] = MCMC(kernel, num_warmup=warmup, num_samples=draws, num_chains=chains,
                              chain_method="vectorized", progress_bar=False,
                              jit_model_args=True)
    return _SAMPLERS[key]


def sample_posterior(fit, prior, seed=1, chains=2, warmup=1000, draws=1000, random_slope=None):
    """Sample the posterior of the fit's model and data under ``prior`` with NUTS.

    Parameters
    ----------
    fit : shrinkage.MixedFit
        A fit of ``y ~ x + (x | cluster)`` or ``y ~ x + (1 | cluster)`` (its data and
        model are used, not its estimates).
    prior : Prior or str
        The prior on the random-effect SDs, or a key of :data:`PRIORS`.
    seed : int
        JAX's random key: the same seed gives the same draws.
    chains, warmup, draws : int
        NUTS chains (run side by side), warm-up iterations and kept draws per chain.
    random_slope : bool, optional
        Default: the fit's model.

    Returns
    -------
    Posterior
    """
    import jax
    import jax.numpy as jnp

    prior = PRIORS[prior] if isinstance(prior, str) else prior
    if fit.columns.design is not None and len(fit.fixed_effects) != 2:
        raise ValueError("fit: the Bayesian model is y ~ x + (x | cluster) or "
                         f"(1 | cluster); got {fit.formula!r}")
    random_slope = fit.model != "intercept" if random_slope is None else random_slope
    sums = cluster_sums(fit.columns)
    mcmc = _sampler(random_slope, chains, warmup, draws)
    mcmc.run(jax.random.PRNGKey(seed), jnp.asarray(sums), prior.shape, prior.rate)
    parameters = {name: np.asarray(value) for name, value in
                  mcmc.get_samples(group_by_chain=True).items()}
    return Posterior(parameters, sums, np.asarray(fit.columns.labels), prior, random_slope, seed)


def check_convergence(posterior):
    """Raise :class:`ConvergenceError` unless every scalar parameter has R-hat <= 1.01
    and bulk ESS >= 400; return the summary otherwise."""
    table = posterior.summary()
    bad = table[(table["r_hat"] > MAX_RHAT) | (table["ess_bulk"] < MIN_ESS)]
    if len(bad):
        shown = "; ".join(f"{name}: R-hat {row.r_hat:.3f}, bulk ESS {row.ess_bulk:.0f}"
                          for name, row in bad.iterrows())
        raise ConvergenceError(f"the sampler did not converge well enough to publish ({shown}; "
                               f"needed R-hat <= {MAX_RHAT} and bulk ESS >= {MIN_ESS})")
    return table


def _split_chains(values):
    """``(chains, draws)`` as ``(2 chains, draws // 2)``: each chain's halves apart."""
    half = values.shape[1] // 2
    return np.concatenate([values[:, :half], values[:, half:2 * half]])


def _z_scale(values):
    """Ranks over all draws, mapped to normal scores (Blom's offsets)."""
    from scipy import stats

    ranks = stats.rankdata(values, method="average").reshape(values.shape)
    return stats.norm.ppf((ranks - 3 / 8) / (values.size + 1 / 4))


def _gelman_rubin(chains):
    """R-hat of already split chains, ``(chains, draws)``."""
    m, n = chains.shape
    between = n * chains.mean(axis=1).var(ddof=1)
    within = chains.var(axis=1, ddof=1).mean()
    return math.sqrt(((n - 1) / n * within + between / n) / within)


def rank_rhat(values):
    """Rank-normalised split R-hat of ``(chains, draws)`` draws (Vehtari et al. 2021): the
    larger of the bulk's and the folded draws' (the tails')."""
    split = _split_chains(np.asarray(values, float))
    folded = np.abs(split - np.median(split))
    return max(_gelman_rubin(_z_scale(split)), _gelman_rubin(_z_scale(folded)))


def _ess(chains):
    """Effective sample size of ``(chains, draws)`` by Geyer's initial monotone sequence."""
    m, n = chains.shape
    centred = chains - chains.mean(axis=1, keepdims=True)
    size = 2 ** int(np.ceil(np.log2(2 * n)))
    spectrum = np.fft.rfft(centred, size, axis=1)
    autocov = np.fft.irfft(spectrum * np.conj(spectrum), size, axis=1)[:, :n] / n
    chain_var = autocov[:, 0] * n / (n - 1)
    within = chain_var.mean()
    var_plus = within * (n - 1) / n + (chains.mean(axis=1).var(ddof=1) if m > 1 else 0.0)
    rho = 1 - (within - autocov.mean(axis=0)) / var_plus
    rho[0] = 1.0
    # Sums of adjacent pairs, kept positive and monotone (Geyer 1992).
    pairs = rho[:-1:2] + rho[1::2]
    positive = np.flatnonzero(pairs <= 0)
    pairs = pairs[:positive[0]] if len(positive) else pairs
    pairs = np.minimum.accumulate(pairs)
    tau = -1 + 2 * pairs.sum()
    return m * n / max(tau, 1 / np.log10(m * n))


def bulk_ess(values):
    """Bulk effective sample size of ``(chains, draws)`` draws: the ESS of the
    rank-normalised split chains (Vehtari et al. 2021)."""
    return _ess(_z_scale(_split_chains(np.asarray(values, float))))


def study_draw(seed, prior="boundary-avoiding", level=0.95, **sampler):
    """One draw of the few-observations setting: REML against the posterior under ``prior``.

    Returns a dict: ``seed``, ``singular`` (REML's fit), and for ``reml`` and
    ``posterior``: the mean squared error of the clusters' intercepts and slopes against
    their true values, and their ``level`` intervals' coverage of the truth and mean width
    (REML's from the exact prediction-error variance, the posterior's equal-tailed).
    """
    data, truth = simulate(replace(SCENARIOS["few_obs"], seed=seed), with_truth=True)
    fit = fit_models(data)
    posterior = sample_posterior(fit, prior, seed=seed, **sampler)
    tables = {"reml": cluster_intervals(fit, level), "posterior": posterior.cluster_intervals(level)}
    result = {"seed": seed, "singular": fit.singular}
    for name, table in tables.items():
        for part in ("intercept", "slope"):
            true = truth[part].to_numpy()
            result[f"{name}_mse_{part}"] = float(np.mean((table[part].to_numpy() - true) ** 2))
            lower, upper = table[f"{part}_lower"].to_numpy(), table[f"{part}_upper"].to_numpy()
            result[f"{name}_cover_{part}"] = float(np.mean((lower <= true) & (true <= upper)))
            result[f"{name}_width_{part}"] = float(np.mean(upper - lower))
    return result


def stored_study():
    """The 50 draws of :func:`study_draw` kept in ``datasets/bayes_study.json``, as a table
    (made by ``tests/reference/bayes_study.py``; its settings in ``table.attrs``)."""
    import json
    from importlib import resources

    study = json.loads(resources.files("shrinkage").joinpath("datasets", "bayes_study.json")
                       .read_text(encoding="utf-8"))
    table = pd.DataFrame(study.pop("draws"))
    table.attrs.update(study)
    return table
