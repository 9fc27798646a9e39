"""Uncertainty and prediction: conditional variances, cluster intervals, predictions.

Given a fit, every cluster's random effect has a conditional distribution given the
data (lme4's ``ranef(fit, condVar = TRUE)``), and every new row a prediction: from
its cluster's line if the cluster was fitted, from the population line if not
(lme4's ``predict(fit, newdata, allow.new.levels = TRUE)``).  All of it is computed
at the estimated variances, as lme4 does.  A cluster's line, the fixed effects plus its
predicted random effects, has the exact prediction-error variance of Henderson's
mixed-model equations (:func:`prediction_error_covariances`): the random effect's
conditional variance plus the fixed effects' uncertainty carried through the cluster's
pooling matrix.

These functions read only a fit's parts (``variance``, ``fixed_effects``,
``fixed_covariance``, ``clusters``, ``columns``) and import nothing of
:mod:`shrinkage.fit`, which offers them as methods (``MixedFit.predict``).
"""
import numbers
from statistics import NormalDist

import numpy as np
import pandas as pd

from .columns import as_pandas
from .data import MAX_MAGNITUDE


def random_effects_covariance(fit):
    """The fitted 2 x 2 covariance matrix of the random intercepts and slopes."""
    v = fit.variance
    return np.array([[v["intercept"], v["covariance"]], [v["covariance"], v["slope"]]])


def cluster_crossproducts(fit):
    """Each cluster's ``Z'Z`` (``Z`` a column of ones and its ``x``), shape ``(ngroups, 2, 2)``."""
    cols = fit.columns
    groups = len(cols.labels)
    xtx = np.empty((groups, 2, 2))
    xtx[:, 0, 0] = np.bincount(cols.codes, minlength=groups)
    xtx[:, 0, 1] = xtx[:, 1, 0] = np.bincount(cols.codes, cols.x, groups)
    xtx[:, 1, 1] = np.bincount(cols.codes, cols.x * cols.x, groups)
    return xtx


def pooling_matrices_at(fit, sigma=None):
    """Each cluster's pooling matrix ``M_j = sigma2 (Sigma X_j'X_j + sigma2 I)^-1``, ``(G, 2, 2)``.

    ``sigma`` is the random-effects covariance (default: the fitted one).  The one
    computation behind the conditional variances, the prediction-error covariances and
    :func:`shrinkage.measure.pooling_matrices`.
    """
    sigma = random_effects_covariance(fit) if sigma is None else sigma
    sigma2 = fit.variance["residual"]
    return sigma2 * np.linalg.inv(sigma @ cluster_crossproducts(fit) + sigma2 * np.eye(2))


def random_effects(fit):
    """Each cluster's random effects and their conditional covariance (lme4's condVar).

    The conditional covariance of cluster ``j``'s random effects given the data, at
    the estimated parameters, is ``sigma2 (Sigma X'X + sigma2 I)^-1 Sigma`` with
    ``X`` the cluster's design (a column of ones and its ``x``), ``Sigma`` the
    random-effects covariance and ``sigma2`` the residual variance: what
    ``attr(ranef(fit, condVar = TRUE)$cluster, "postVar")`` holds.

    Returns
    -------
    pandas.DataFrame
        ``cluster, n, intercept, slope`` (the predicted random effects, lme4's
        ``ranef``), and ``var_intercept, var_slope, covariance``, their conditional
        variances and covariance.
    """
    condvar = pooling_matrices_at(fit) @ random_effects_covariance(fit)
    c = fit.clusters
    fixed = fit.population_line
    table = c[["cluster", "n"]].copy()
    table["intercept"] = c["mixed_intercept"].to_numpy() - fixed[0]
    table["slope"] = (c["mixed_slope"].to_numpy() - fixed[1] if fit.names["x"] is not None
                      else 0.0)
    table["var_intercept"] = condvar[:, 0, 0]
    table["var_slope"] = condvar[:, 1, 1]
    table["covariance"] = condvar[:, 0, 1]
    return table


def check_level(level):
    """``level`` as a float in (0, 1); a one-line ``ValueError`` for anything else."""
    if isinstance(level, (bool, np.bool_)) or not isinstance(level, numbers.Real) \
            or not 0 < level < 1:
        raise ValueError(f"level must be a number in (0, 1), got {level!r}")
    return float(level)


def _carried(fit):
    """Each cluster's ``K_j = M_j D Z_j'X_j``, ``(G, 2, p)``: how an error in the fixed
    effects moves its predicted random effects, ``u_hat_j - u_tilde_j = -K_j (beta_hat -
    beta)`` (``D = Sigma / sigma2``; with ``X_j = Z_j``, ``K_j = I - M_j``)."""
    cols = fit.columns
    groups = len(cols.labels)
    fixed = cols.fixed
    ztx = np.stack([np.stack([np.bincount(cols.codes, column, groups),
                              np.bincount(cols.codes, cols.x * column, groups)], axis=1)
                    for column in fixed.T], axis=2)
    relative = random_effects_covariance(fit) / fit.variance["residual"]
    return pooling_matrices_at(fit) @ relative @ ztx


def _line_selector(fit):
    """The ``2 x p`` matrix that picks ``[intercept, slope of x]`` out of the fixed effects."""
    names = list(fit.fixed_effects.index)
    selector = np.zeros((2, len(names)))
    for row, name in enumerate(("Intercept", fit.names["x"])):
        if name in names:
            selector[row, names.index(name)] = 1.0
    return selector


def prediction_error_covariances(fit):
    """Each cluster's prediction-error covariance of its line, ``(ngroups, 2, 2)``.

    The error of a cluster's mixed-model intercept and slope, ``E beta_hat + u_hat_j -
    (E beta + u_j)`` (``E`` picks the intercept and the slope of ``x`` out of the fixed
    effects), has the covariance that the inverse of Henderson's mixed-model equations
    gives (times ``sigma2``) for that combination.  Per cluster it is

        ``condVar_j + (E - K_j) Var(beta_hat) (E - K_j)'``,  ``K_j = M_j D Z_j'X_j``,

    where ``condVar_j = M_j Sigma`` is the conditional covariance of the random effects
    given the fixed effects (lme4's ``ranef(condVar = TRUE)``), ``M_j = sigma2 (Sigma
    Z_j'Z_j + sigma2 I)^-1`` the cluster's pooling matrix and ``D = Sigma / sigma2``:
    ``u_hat_j - u_tilde_j = -K_j (beta_hat - beta)``, where ``u_tilde_j`` is the
    prediction with the true fixed effects, and ``u_tilde_j - u_j`` is uncorrelated with
    every linear function of the data, ``beta_hat`` included, so the two parts add
    without a cross term.  With ``X = Z = [1, x]``, ``E - K_j = M_j``.  It is then never
    larger (in the order of covariance matrices) than the cluster's own least-squares
    covariance ``sigma2 (Z_j'Z_j)^-1`` at the same ``sigma2``: the own estimate is an
    unbiased predictor too, and the mixed model's is the best.
    """
    condvar = pooling_matrices_at(fit) @ random_effects_covariance(fit)
    moves = _line_selector(fit) - _carried(fit)
    error = condvar + moves @ fit.fixed_covariance @ np.swapaxes(moves, 1, 2)
    return (error + np.swapaxes(error, 1, 2)) / 2  # symmetric to the last bit


def normal_quantile(level):
    """The two-sided normal quantile for coverage ``level`` (1.96 for 0.95)."""
    return NormalDist().inv_cdf(0.5 + check_level(level) / 2)


def cluster_intervals(fit, level=0.95):
    """Intervals for each cluster's intercept and slope (fixed effect plus random effect).

    The standard error of a cluster's coefficient is the square root of its exact
    prediction-error variance (:func:`prediction_error_covariances`); the interval is
    the estimate plus or minus the normal quantile times it.  Like lme4's numbers, it
    treats the estimated variances as known: how often such intervals cover the truth
    is a matter to measure, not to assume.

    Parameters
    ----------
    fit : shrinkage.MixedFit
    level : float, default 0.95
        Coverage, in (0, 1).

    Returns
    -------
    pandas.DataFrame
        ``cluster, n``, and for ``part`` in intercept and slope: ``part`` (the
        cluster's mixed-model estimate), ``part_se``, ``part_lower``, ``part_upper``.
    """
    z = normal_quantile(level)
    error = prediction_error_covariances(fit)
    table = fit.clusters[["cluster", "n"]].copy()
    for i, part in enumerate(("intercept", "slope")):
        estimate = fit.clusters[f"mixed_{part}"].to_numpy()
        se = np.sqrt(np.maximum(error[:, i, i], 0.0))
        table[part], table[f"{part}_se"] = estimate, se
        table[f"{part}_lower"], table[f"{part}_upper"] = estimate - z * se, estimate + z * se
    return table


def predict(fit, newdata, clusters=True, level=None):
    """Predicted ``y`` for new rows, from their cluster's line or the population's.

    Parameters
    ----------
    fit : shrinkage.MixedFit
    newdata : pandas.DataFrame
        Columns named as in the fitted data: ``x``, and ``cluster`` unless
        ``clusters`` is False.  Cluster labels are matched to the fitted labels as
        they are; a label the fit has not seen is a new cluster.
    clusters : bool, default True
        Use each fitted cluster's own line (lme4's ``re.form = NULL``, with
        ``allow.new.levels = TRUE``: new clusters get the population line), or the
        population line for every row (``re.form = NA``).
    level : float, optional
        Also give a prediction interval for a new observation at this coverage: its
        variance is, for a fitted cluster, ``z' P_j z`` with ``P_j`` the cluster's
        prediction-error covariance (:func:`prediction_error_covariances`), and for a
        new cluster (or with ``clusters=False``) the fixed effects' ``z' V_beta z`` plus
        the random effects' full ``z' Sigma z``; and then the residual variance.  The
        estimated variances are taken as known.

    Returns
    -------
    pandas.Series or pandas.DataFrame
        The predictions, on ``newdata``'s index; with ``level``, a frame with columns
        ``fit, lower, upper, se`` and ``new_cluster``.

    Raises
    ------
    ValueError
        If a needed column is missing or ``x`` is not numeric and finite.
    """
    newdata = as_pandas(newdata, "newdata")
    if not isinstance(clusters, (bool, np.bool_)):
        raise ValueError(f"clusters must be True or False, got {clusters!r}")
    if level is not None:
        check_level(level)
    x_name, cluster_name = fit.names["x"], fit.names["cluster"]
    design = fit.columns.design
    needed = ([] if design is not None else [x_name]) + ([cluster_name] if clusters else [])
    if design is not None:
        needed = list(dict.fromkeys(design.variables + ([x_name] if x_name else []) + needed))
    for name in needed:
        if name not in newdata.columns:
            raise ValueError(f"newdata: no column {name!r} (the fit uses "
                             f"{', '.join(map(repr, needed))})")
        if name != cluster_name and newdata[name].isna().any():
            raise ValueError(f"newdata: column {name!r} has a missing value in row "
                             f"{newdata.index[newdata[name].isna().to_numpy()][0]!r}")
    x = _finite_column(newdata, x_name) if x_name is not None else np.zeros(len(newdata))
    rows = (np.column_stack([np.ones(len(x)), x]) if design is None
            else design.for_new(newdata))
    z = np.column_stack([np.ones(len(x)), x])
    position = (pd.Index(fit.clusters["cluster"]).get_indexer(newdata[cluster_name])
                if clusters else np.full(len(x), -1))
    known = position >= 0
    effects = np.zeros((len(x), 2))
    effects[known] = random_effects(fit)[["intercept", "slope"]].to_numpy()[position[known]]
    prediction = rows @ fit.fixed_effects["estimate"].to_numpy() + np.einsum("ij,ij->i", z, effects)
    if level is None:
        return pd.Series(prediction, index=newdata.index, name="fit")

    z_value = normal_quantile(level)
    new_part = (np.einsum("ij,jk,ik->i", rows, fit.fixed_covariance, rows)
                + np.einsum("ij,jk,ik->i", z, random_effects_covariance(fit), z))
    # A fitted cluster: the fixed effects' error less what its random effects absorb,
    # and the random effects' conditional variance (see prediction_error_covariances).
    condvar = pooling_matrices_at(fit) @ random_effects_covariance(fit)
    moves = rows[known] - np.einsum("ia,iap->ip", z[known], _carried(fit)[position[known]])
    known_part = np.zeros(len(x))
    known_part[known] = (np.einsum("ip,pq,iq->i", moves, fit.fixed_covariance, moves)
                         + np.einsum("ia,iab,ib->i", z[known], condvar[position[known]], z[known]))
    variance = np.where(known, known_part, new_part) + fit.variance["residual"]
    se = np.sqrt(variance)
    return pd.DataFrame({"fit": prediction, "lower": prediction - z_value * se,
                         "upper": prediction + z_value * se, "se": se, "new_cluster": ~known},
                        index=newdata.index)


def _finite_column(newdata, name):
    values = pd.to_numeric(newdata[name], errors="coerce").to_numpy(float)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"newdata: column {name!r} must be numeric and finite")
    if not np.all(np.abs(values) <= MAX_MAGNITUDE):
        raise ValueError(f"newdata: column {name!r} has a value of magnitude "
                         f"{np.abs(values).max():g}; values must lie in [-{MAX_MAGNITUDE:g}, "
                         f"{MAX_MAGNITUDE:g}]")
    return values


def fitted_values(fit):
    """Each fitted row's value on its cluster's mixed-model line (lme4's ``fitted``).

    Rows are those of the fitted data without missing values, in their order.
    """
    cols = fit.columns
    effects = random_effects(fit)
    intercept = effects["intercept"].to_numpy()[cols.codes]
    slope = effects["slope"].to_numpy()[cols.codes]
    return cols.fixed @ fit.fixed_effects["estimate"].to_numpy() + intercept + slope * cols.x


def residuals(fit):
    """Each fitted row's ``y`` minus its fitted value (lme4's ``residuals``)."""
    return fit.columns.y - fitted_values(fit)
