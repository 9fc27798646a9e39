"""No-pooling and partial-pooling fits of ``y ~ x + (x | cluster)``.

Two sets of cluster estimates are compared throughout the book:

* **no pooling**: each cluster's own least-squares line, like R's
  ``lmList(y ~ x | cluster)``;
* **partial pooling**: the mixed model fitted by REML, like R's
  ``lmer(y ~ x + (x | cluster))``, whose cluster estimates are the fixed effects
  plus that cluster's predicted random effects (lme4's ``coef()``).

The mixed model is fitted by minimising lme4's profiled REML criterion over the
relative covariance factor ``theta`` (Bates et al. 2015, *J. Stat. Softw.*
67(1), section 3).  With one random intercept and slope per cluster the
criterion splits into 2 x 2 blocks, one per cluster, so each evaluation costs a
few vectorised operations.  Every fit is checked before it is returned: several
starts are optimised, and the best point must satisfy the first-order
optimality conditions of the bounded problem.  A fit that fails the check
raises :class:`ConvergenceError`; it is never returned.
"""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from .report import fit_to_dict, summary_text

# lme4's isSingular() tolerance on the bounded elements of theta.
SINGULAR_TOL = 1e-4
# Largest first-order optimality violation accepted, in REML-criterion units per
# unit of theta; a real optimum is orders of magnitude below it.
GRADIENT_TOL = 2e-3
_LOWER = np.array([0.0, -np.inf, 0.0])


class UnidentifiableError(ValueError):
    """The data cannot identify the model's random effects (lme4 refuses them too)."""


class ConvergenceError(RuntimeError):
    """The optimiser did not reach a verified REML optimum."""


@dataclass
class ClusterSums:
    """Per-cluster sufficient statistics of ``y`` on ``[1, x]``."""

    cluster: np.ndarray  # cluster labels, sorted
    n: np.ndarray        # observations per cluster
    zz: np.ndarray       # (G, 2, 2) Z_j' Z_j
    zy: np.ndarray       # (G, 2) Z_j' y_j
    yy: np.ndarray       # (G,) y_j' y_j
    offset: np.ndarray   # pooled least-squares line subtracted from y

    @classmethod
    def from_data(cls, data):
        labels, index = np.unique(data["cluster"].to_numpy(), return_inverse=True)
        x = data["x"].to_numpy(float)
        # REML is invariant to shifting y by a line in x; removing the pooled
        # least-squares line keeps the sums small and the criterion precise.
        design = np.column_stack([np.ones_like(x), x])
        offset = np.linalg.lstsq(design, data["y"].to_numpy(float), rcond=None)[0]
        y = data["y"].to_numpy(float) - design @ offset
        groups = len(labels)

        def total(values):
            return np.bincount(index, weights=values, minlength=groups)

        n = np.bincount(index, minlength=groups).astype(float)
        sx, sxx = total(x), total(x * x)
        zz = np.stack([np.stack([n, sx], -1), np.stack([sx, sxx], -1)], -2)
        zy = np.stack([total(y), total(x * y)], -1)
        return cls(labels, n.astype(int), zz, zy, total(y * y), offset)


def _relative_factor(theta):
    """Lower-triangular Lambda with ``Sigma / sigma^2 = Lambda Lambda'``."""
    return np.array([[theta[0], 0.0], [theta[1], theta[2]]])


def _inverse_2x2(m):
    det = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
    inv = np.empty_like(m)
    inv[:, 0, 0] = m[:, 1, 1]
    inv[:, 1, 1] = m[:, 0, 0]
    inv[:, 0, 1] = -m[:, 0, 1]
    inv[:, 1, 0] = -m[:, 1, 0]
    return inv / det[:, None, None], det


def _profile(theta, sums):
    """Everything the profiled REML criterion needs at ``theta``.

    ``P_j = Lambda (I + Lambda' Z_j'Z_j Lambda)^-1 Lambda'`` turns the marginal
    precision into ``I - Z_j P_j Z_j'`` (Woodbury), so every quantity is a sum of
    2 x 2 blocks.
    """
    lam = _relative_factor(theta)
    m = np.eye(2) + lam.T @ sums.zz @ lam
    m_inv, m_det = _inverse_2x2(m)
    p = lam @ m_inv @ lam.T
    zz_p = sums.zz @ p
    xtvx = (sums.zz - zz_p @ sums.zz).sum(0)
    xtvy = (sums.zy - np.einsum("gij,gj->gi", zz_p, sums.zy)).sum(0)
    ytvy = (sums.yy - np.einsum("gi,gij,gj->g", sums.zy, p, sums.zy)).sum()
    beta = np.linalg.solve(xtvx, xtvy)
    rss = ytvy - beta @ xtvy
    return {"p": p, "log_det_m": np.log(m_det).sum(), "xtvx": xtvx, "beta": beta, "rss": rss}


def reml_criterion(theta, sums):
    """lme4's profiled REML criterion (-2 REML log-likelihood) at ``theta``.

    Parameters
    ----------
    theta : array_like
        ``[L11, L21, L22]``, the relative covariance factor in lme4's order.
    sums : ClusterSums
        The data's per-cluster sums.

    Returns
    -------
    float
    """
    prof = _profile(np.asarray(theta, float), sums)
    dof = sums.n.sum() - 2
    if not prof["rss"] > 0:
        return np.inf
    return float(prof["log_det_m"] + np.linalg.slogdet(prof["xtvx"])[1]
                 + dof * (1 + math.log(2 * math.pi * prof["rss"] / dof)))


def _gradient(theta, sums, step=1e-5):
    """Central-difference gradient, one-sided where a bound is in the way."""
    grad = np.empty(3)
    for i in range(3):
        up, down = theta.copy(), theta.copy()
        up[i] += step
        down[i] = max(theta[i] - step, _LOWER[i])
        grad[i] = (reml_criterion(up, sums) - reml_criterion(down, sums)) / (up[i] - down[i])
    return grad


def _optimality_violation(theta, sums):
    """Largest violation of the bounded problem's first-order conditions."""
    grad = _gradient(theta, sums)
    at_bound = theta <= _LOWER + 1e-10
    # At a lower bound only an inward descent direction (negative gradient) counts.
    return float(np.max(np.where(at_bound, np.maximum(-grad, 0.0), np.abs(grad))))


def _starts(sums):
    """lme4's default start, plus a moment-based start and a near-boundary one."""
    starts = [np.array([1.0, 0.0, 1.0]), np.array([0.1, 0.0, 0.1])]
    full = (sums.n >= 3) & (np.linalg.det(sums.zz) > 1e-8)
    if full.sum() >= 3:
        coef = np.linalg.solve(sums.zz[full], sums.zy[full][..., None])[..., 0]
        resid = sums.yy[full] - np.einsum("gi,gi->g", coef, sums.zy[full])
        sigma2 = max(resid.sum() / max(sums.n[full].sum() - 2 * full.sum(), 1), 1e-8)
        cov = np.cov(coef.T) / sigma2 + 1e-3 * np.eye(2)
        eig_min = np.linalg.eigvalsh(cov).min()
        if eig_min <= 0:
            cov += (1e-3 - eig_min) * np.eye(2)
        chol = np.linalg.cholesky(cov)
        starts.append(np.array([chol[0, 0], chol[1, 0], chol[1, 1]]))
    return starts


def _minimise(sums):
    bounds = [(0.0, None), (None, None), (0.0, None)]
    best = None
    for start in _starts(sums):
        result = optimize.minimize(
            reml_criterion, start, args=(sums,), jac=_gradient,
            method="L-BFGS-B", bounds=bounds,
            options={"ftol": 1e-13, "gtol": 1e-7, "maxiter": 500})
        if np.isfinite(result.fun) and (best is None or result.fun < best.fun):
            best = result
    theta = np.maximum(best.x, _LOWER)
    # Polishing from the best point removes the last bit of L-BFGS-B slack.
    polish = optimize.minimize(
        reml_criterion, theta, args=(sums,), method="Nelder-Mead",
        bounds=bounds, options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 2000})
    if polish.fun < best.fun:
        theta = np.maximum(polish.x, _LOWER)
    return theta


def check_identifiable(data):
    """Refuse data whose random effects cannot be estimated, as lme4 does.

    Raises
    ------
    UnidentifiableError
        With a message that says why and what to change.
    """
    nobs = len(data)
    groups = data["cluster"].nunique()
    if groups < 2:
        raise UnidentifiableError(
            f"the data have {groups} cluster(s); a mixed model needs at least 2 "
            "(increase n_cluster or balanced)")
    if nobs <= 2 * groups:
        raise UnidentifiableError(
            f"the data have {nobs} observations for {groups} clusters, no more than the "
            f"{2 * groups} random effects (an intercept and a slope per cluster), so the "
            "random effects and the residual variance cannot be told apart; use at least "
            "3 observations per cluster (obs_per_cluster >= 3) or a larger balanced fraction")
    if np.ptp(data["x"].to_numpy(float)) == 0:
        raise UnidentifiableError("x does not vary, so its slope cannot be estimated")


def no_pooling(data):
    """Each cluster's own least-squares intercept and slope, like R's ``lmList``.

    A cluster with one observation, or whose x values do not vary, gets an
    intercept (its mean y) and a missing slope, as ``lm`` gives ``NA`` for an
    aliased coefficient.

    Parameters
    ----------
    data : pandas.DataFrame
        Columns ``y, x, cluster``.

    Returns
    -------
    pandas.DataFrame
        Columns ``cluster, n, ols_intercept, ols_slope``, one row per cluster.
    """
    grouped = data.groupby("cluster", sort=True)
    n = grouped.size()
    mean_x, mean_y = grouped["x"].transform("mean"), grouped["y"].transform("mean")
    dx = data["x"] - mean_x
    sxx = (dx * dx).groupby(data["cluster"]).sum()
    sxy = (dx * (data["y"] - mean_y)).groupby(data["cluster"]).sum()
    sumsq_x = (data["x"] ** 2).groupby(data["cluster"]).sum()
    # lm's QR pivoting drops x when its centred norm is below 1e-7 of its raw norm.
    varies = (n > 1) & (np.sqrt(sxx) > 1e-7 * np.sqrt(sumsq_x))
    slope = (sxy / sxx).where(varies)
    intercept = grouped["y"].mean() - slope.fillna(0) * grouped["x"].mean()
    return pd.DataFrame({"cluster": n.index.to_numpy(), "n": n.to_numpy(),
                         "ols_intercept": intercept.to_numpy(),
                         "ols_slope": slope.to_numpy()})


@dataclass
class MixedFit:
    """A verified REML fit of ``y ~ x + (x | cluster)`` and both sets of estimates.

    Attributes
    ----------
    nobs, ngroups : int
        Numbers of observations and clusters.
    reml_criterion : float
        -2 REML log-likelihood at the optimum.
    theta : numpy.ndarray
        The relative covariance factor ``[L11, L21, L22]`` at the optimum.
    singular : bool
        lme4's "boundary (singular) fit": a variance at zero or a correlation of +-1.
    optimality : float
        The largest first-order optimality violation at the optimum (see
        ``GRADIENT_TOL``).
    fixed_effects : pandas.DataFrame
        Index ``Intercept, x``; columns ``estimate, std_error, t_value``.  The
        standard errors are lme4's, conditional on the variance estimates.
    variance : dict
        ``intercept, slope, covariance, correlation, residual``.
    scaled_residual_quantiles : numpy.ndarray
        Min, 1Q, median, 3Q, max of the residuals over the residual SD.
    clusters : pandas.DataFrame
        ``cluster, n, ols_intercept, ols_slope, mixed_intercept, mixed_slope``.
    """

    nobs: int
    ngroups: int
    reml_criterion: float
    theta: np.ndarray
    singular: bool
    optimality: float
    fixed_effects: pd.DataFrame
    variance: dict
    scaled_residual_quantiles: np.ndarray
    clusters: pd.DataFrame

    converged = True  # a fit that did not converge raises instead of existing

    def summary(self):
        """Return the fit laid out like R's ``summary(lmer(...))``."""
        return summary_text(self)

    def to_dict(self):
        """Return the fit as plain data in the layout of lme4's reference JSON."""
        return fit_to_dict(self)


def fit_models(data):
    """Fit both models: per-cluster least squares and the REML mixed model.

    Parameters
    ----------
    data : pandas.DataFrame
        Columns ``y, x, cluster``, as from :func:`shrinkage.create_data`.

    Returns
    -------
    MixedFit

    Raises
    ------
    UnidentifiableError
        When the random effects cannot be identified (too few observations
        or clusters).
    ConvergenceError
        When no start reaches a point that passes the optimality check.
    """
    check_identifiable(data)
    clusters = no_pooling(data)
    _check_residual_variation(data, clusters)
    sums = ClusterSums.from_data(data)
    theta = _minimise(sums)
    crit = reml_criterion(theta, sums)
    violation = _optimality_violation(theta, sums)
    if not np.isfinite(crit) or violation > GRADIENT_TOL:
        raise ConvergenceError(
            f"the REML fit did not reach a verified optimum (criterion {crit:.4f}, "
            f"optimality violation {violation:.2e} > {GRADIENT_TOL:g} at theta {theta})")
    return _assemble(data, sums, clusters, theta, crit, violation)


def _check_residual_variation(data, clusters):
    """Refuse data that every cluster's own line fits exactly (sigma = 0).

    The REML criterion then decreases without bound, so there is no optimum.
    """
    own = clusters.set_index("cluster").loc[data["cluster"]]
    resid = (data["y"].to_numpy() - own["ols_intercept"].to_numpy()
             - own["ols_slope"].fillna(0).to_numpy() * data["x"].to_numpy())
    spread = np.abs(data["y"].to_numpy()).max()
    if np.abs(resid).max() <= 1e-10 * max(spread, 1.0):
        raise UnidentifiableError(
            "y has no variation around each cluster's own line, so the residual "
            "variance is zero and the model has no REML optimum (use sigma > 0)")


def _assemble(data, sums, clusters, theta, crit, violation):
    prof = _profile(theta, sums)
    nobs = int(sums.n.sum())
    sigma2 = prof["rss"] / (nobs - 2)
    beta = prof["beta"] + sums.offset
    se = np.sqrt(np.diag(sigma2 * np.linalg.inv(prof["xtvx"])))
    lam = _relative_factor(theta)
    cov = sigma2 * lam @ lam.T
    sd = np.sqrt(np.diag(cov))
    corr = cov[0, 1] / (sd[0] * sd[1]) if sd.all() else float("nan")
    # Conditional modes of the random effects: b_j = P_j Z_j'(y_j - X_j beta).
    effects = np.einsum("gij,gj->gi", prof["p"], sums.zy - sums.zz @ prof["beta"])

    index = np.searchsorted(sums.cluster, data["cluster"].to_numpy())
    coef = beta + effects[index]
    resid = data["y"].to_numpy(float) - coef[:, 0] - coef[:, 1] * data["x"].to_numpy(float)
    scaled = resid / math.sqrt(sigma2)

    clusters = clusters.copy()
    clusters["mixed_intercept"] = beta[0] + effects[:, 0]
    clusters["mixed_slope"] = beta[1] + effects[:, 1]
    fixed = pd.DataFrame({"estimate": beta, "std_error": se, "t_value": beta / se},
                         index=pd.Index(["Intercept", "x"]))
    return MixedFit(
        nobs=nobs, ngroups=len(sums.cluster), reml_criterion=crit, theta=theta,
        singular=bool(theta[0] < SINGULAR_TOL or theta[2] < SINGULAR_TOL),
        optimality=violation, fixed_effects=fixed,
        variance={"intercept": cov[0, 0], "slope": cov[1, 1], "covariance": cov[0, 1],
                  "correlation": corr, "residual": sigma2},
        scaled_residual_quantiles=np.quantile(scaled, [0, 0.25, 0.5, 0.75, 1]),
        clusters=clusters)
