"""How much shrinkage, and whether it pays: measures computed from a fit.

Everything here is a pure function of a :class:`shrinkage.MixedFit` (and, for
the error table, the true cluster effects the simulation drew).
"""

import math

import numpy as np
import pandas as pd


def shrinkage_fraction(fit):
    """The fraction of the way to the population average each cluster moves.

    For intercepts, ``(own - mixed) / (own - average)``, and the same for slopes:
    0 means the mixed model kept the cluster's own estimate, 1 that it moved the
    cluster all the way to the fixed effect.  With correlated random effects a
    cluster can move by more than its own distance, or away, so values outside
    [0, 1] occur.

    Returns
    -------
    pandas.DataFrame
        Columns ``cluster, n, intercept, slope``; the slope fraction is missing for
        clusters without a least-squares slope.
    """
    c = fit.clusters
    average = fit.fixed_effects["estimate"]
    table = c[["cluster", "n"]].copy()
    for column, fixed in (("intercept", average["Intercept"]), ("slope", average["x"])):
        own = c[f"ols_{column}"]
        table[column] = (own - c[f"mixed_{column}"]) / (own - fixed)
    return table


def textbook_fraction(n, tau2, sigma2):
    """Shrinkage fraction of a random-intercept model with ``n`` observations.

    The mixed estimate of a cluster mean is ``w * own + (1 - w) * average`` with
    ``w = tau2 / (tau2 + sigma2 / n)``, so the fraction of the way moved is
    ``1 - w``.  For the slope of a standardized ``x`` the sampling variance is
    also about ``sigma2 / n``, so the same curve applies with the slope variance.

    Parameters
    ----------
    n : array_like
        Observations per cluster.
    tau2, sigma2 : float
        Random-effect variance and residual variance.
    """
    n = np.asarray(n, dtype=float)
    if tau2 < 0 or sigma2 <= 0:
        raise ValueError(f"tau2 must be >= 0 and sigma2 > 0, got {tau2!r} and {sigma2!r}")
    return 1.0 - tau2 / (tau2 + sigma2 / n)


def random_effects_ellipse(fit, level, points=200):
    """The contour of the fitted random-effects distribution at probability ``level``.

    The distribution is bivariate normal, centred on the fixed effects with the
    estimated covariance; a fraction ``level`` of clusters lies inside the
    ellipse, whose squared Mahalanobis radius is ``-2 log(1 - level)`` (the
    chi-squared quantile with 2 degrees of freedom).

    Returns
    -------
    numpy.ndarray
        (points, 2) array of (intercept, slope) around the ellipse.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    v = fit.variance
    cov = np.array([[v["intercept"], v["covariance"]], [v["covariance"], v["slope"]]])
    values, vectors = np.linalg.eigh(cov)
    root = vectors * np.sqrt(np.maximum(values, 0.0))
    radius = math.sqrt(-2.0 * math.log1p(-level))
    angle = np.linspace(0.0, 2.0 * np.pi, points)
    circle = np.stack([np.cos(angle), np.sin(angle)])
    return fit.fixed_effects["estimate"].to_numpy() + (radius * root @ circle).T


def estimation_error(fit, data, truth):
    """Root mean squared error of three estimates of each cluster's line.

    Parameters
    ----------
    fit : shrinkage.MixedFit
    data : pandas.DataFrame
        The data ``fit`` was fitted to (for the complete-pooling line).
    truth : pandas.DataFrame
        ``cluster, intercept, slope``: the true values, from
        ``create_data(..., with_truth=True)``.

    Returns
    -------
    pandas.DataFrame
        Index ``no pooling, complete pooling, partial pooling``; columns
        ``intercept, slope``.  Clusters without a least-squares slope count only
        towards the intercept error of no pooling.
    """
    c = fit.clusters.merge(truth, on="cluster")
    design = np.column_stack([np.ones(len(data)), data["x"].to_numpy()])
    pooled = np.linalg.lstsq(design, data["y"].to_numpy(), rcond=None)[0]

    def rmse(estimate, true):
        error = np.asarray(estimate, float) - np.asarray(true, float)
        return float(np.sqrt(np.nanmean(error ** 2)))

    rows = {
        "no pooling": (rmse(c["ols_intercept"], c["intercept"]),
                       rmse(c["ols_slope"], c["slope"])),
        "complete pooling": (rmse(np.full(len(c), pooled[0]), c["intercept"]),
                             rmse(np.full(len(c), pooled[1]), c["slope"])),
        "partial pooling": (rmse(c["mixed_intercept"], c["intercept"]),
                            rmse(c["mixed_slope"], c["slope"])),
    }
    return pd.DataFrame(rows, index=["intercept", "slope"]).T
