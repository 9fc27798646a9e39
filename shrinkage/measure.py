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
    for column, fixed in (("intercept", average.iloc[0]), ("slope", average.iloc[1])):
        own = c[f"ols_{column}"]
        table[column] = (own - c[f"mixed_{column}"]) / (own - fixed)
    return table


def textbook_fraction(sampling_variance, tau2):
    """The fraction of the way to the average that precision weighting predicts.

    An estimate with sampling variance ``v`` of an effect whose between-cluster
    variance is ``tau2`` is moved the fraction ``v / (tau2 + v)`` of the way to the
    average: for a cluster mean in a random-intercept model ``v = sigma2 / n``.

    Parameters
    ----------
    sampling_variance : array_like
        Sampling variance of each cluster's own estimate (non-negative).
    tau2 : float
        Between-cluster variance (non-negative).
    """
    v = np.asarray(sampling_variance, dtype=float)
    if not tau2 >= 0 or np.any(~(v >= 0)):
        raise ValueError(f"tau2 and the sampling variances must be >= 0, got tau2={tau2!r}")
    with np.errstate(invalid="ignore"):
        return np.where(np.isinf(v), 1.0, v / (tau2 + v))


def textbook_fractions(fit, data):
    """Each cluster's textbook shrinkage fractions, from its own design.

    A cluster's least-squares slope has sampling variance ``sigma2 / S_xx`` and its
    intercept ``sigma2 * (1/n + xbar**2 / S_xx)``, where ``S_xx`` is the sum of
    squares of its ``x`` around its mean ``xbar``.  Each is passed through
    :func:`textbook_fraction` with the fitted variances.  This treats intercepts and
    slopes one at a time; the joint estimate (and a fitted correlation) moves the
    clusters somewhat differently.

    Parameters
    ----------
    fit : shrinkage.MixedFit
    data : pandas.DataFrame
        The data ``fit`` was fitted to.

    Returns
    -------
    pandas.DataFrame
        Columns ``cluster, n, intercept, slope``; a cluster whose ``x`` does not vary
        has no own slope, and its slope fraction is missing.
    """
    x, cluster = fit.names["x"], fit.names["cluster"]
    groups = data.dropna(subset=[fit.names["y"], x, cluster]).groupby(cluster)[x]
    n, xbar = groups.size(), groups.mean()
    sxx = groups.var(ddof=0) * n
    v = fit.variance
    with np.errstate(divide="ignore", invalid="ignore"):
        slope_var = np.where(sxx > 0, v["residual"] / sxx, np.nan)
        intercept_var = np.where(sxx > 0, v["residual"] * (1 / n + xbar ** 2 / sxx),
                                 v["residual"] / n)
    table = pd.DataFrame({"cluster": n.index.to_numpy(), "n": n.to_numpy()})
    table["intercept"] = textbook_fraction(intercept_var, v["intercept"])
    slope = np.full(len(table), np.nan)
    has_slope = ~np.isnan(slope_var)
    slope[has_slope] = textbook_fraction(slope_var[has_slope], v["slope"])
    table["slope"] = slope
    return table


def _random_effects_covariance(fit):
    v = fit.variance
    return np.array([[v["intercept"], v["covariance"]], [v["covariance"], v["slope"]]])


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
    values, vectors = np.linalg.eigh(_random_effects_covariance(fit))
    root = vectors * np.sqrt(np.maximum(values, 0.0))
    radius = math.sqrt(-2.0 * math.log1p(-level))
    angle = np.linspace(0.0, 2.0 * np.pi, points)
    circle = np.stack([np.cos(angle), np.sin(angle)])
    return fit.fixed_effects["estimate"].to_numpy() + (radius * root @ circle).T


def share_outside_ellipse(fit, level):
    """The share of clusters outside the fitted random-effects contour at ``level``.

    The contour (see :func:`random_effects_ellipse`) describes the true cluster
    effects: a share ``1 - level`` of them is expected outside.  Each cluster's own
    estimate adds sampling error to its true effect, so more of them fall outside.

    Returns
    -------
    pandas.Series
        Index ``own`` (least-squares estimates, clusters with a slope) and ``mixed``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    precision = np.linalg.pinv(_random_effects_covariance(fit))
    centre = fit.fixed_effects["estimate"].to_numpy()
    radius2 = -2.0 * math.log1p(-level)
    shares = {}
    for name, prefix in (("own", "ols"), ("mixed", "mixed")):
        points = fit.clusters[[f"{prefix}_intercept", f"{prefix}_slope"]].dropna().to_numpy()
        offset = points - centre
        distance2 = np.einsum("ij,jk,ik->i", offset, precision, offset)
        shares[name] = float(np.mean(distance2 > radius2))
    return pd.Series(shares)


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
