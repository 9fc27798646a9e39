"""How much shrinkage, and whether it pays: measures computed from a fit.

Everything here is a pure function of a :class:`shrinkage.MixedFit` (and, for
the error table, the true cluster effects the simulation drew).
"""

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from .columns import as_pandas
from .data import simulate
from .fit import fit_models
from .pooling import complete_pooling, no_pooling, own_lines
from .predict import pooling_matrices_at, random_effects, random_effects_covariance

COVARIANCES = ("fitted", "zero")


def pooling_matrices(fit, covariance="fitted"):
    """Each cluster's 2 x 2 pooling matrix ``M``: ``own - mixed = M (own - average)``.

    For a cluster with design ``X`` (a column of ones and its ``x``), the mixed
    model's estimate is ``average + (I - M) (own - average)`` with
    ``M = sigma2 (Sigma X'X + sigma2 I)^-1``, where ``Sigma`` is the covariance of
    the random effects and ``sigma2`` the residual variance.  ``M`` is diagonal
    only when both ``Sigma`` and ``X'X`` are: a cluster whose ``x`` has a mean
    other than 0 has correlated own intercept and slope estimates, and its
    intercept and slope are pulled together even when the random effects are
    uncorrelated.

    Parameters
    ----------
    fit : shrinkage.MixedFit
        A fit of the random-slope model.
    covariance : {"fitted", "zero"}
        Use the fitted covariance of intercepts and slopes, or set it to zero
        (keeping the fitted variances) to see what the design alone does.

    Returns
    -------
    numpy.ndarray
        Shape ``(ngroups, 2, 2)``, in the order of ``fit.clusters``.
    """
    if covariance not in COVARIANCES:
        raise ValueError(f"covariance must be one of {COVARIANCES}, got {covariance!r}")
    if fit.model != "slope":
        raise ValueError(f"fit.model must be 'slope' (random intercepts and slopes), "
                         f"got {fit.model!r}")
    sigma = random_effects_covariance(fit)
    return pooling_matrices_at(fit, np.diag(np.diag(sigma)) if covariance == "zero" else sigma)


def _pair(table, first, second):
    """Two columns of ``table`` as a (rows, 2) float array.

    (Selecting the columns one by one is several times quicker than ``table[[...]]``,
    which builds a new frame: it counts in a simulation study's every replicate.)
    """
    return np.column_stack((table[first].to_numpy(float), table[second].to_numpy(float)))


def _moves(fit, covariance):
    """Each cluster's own estimate, the average, and the move ``own - mixed`` (G x 2)."""
    c = fit.clusters
    own = _pair(c, "ols_intercept", "ols_slope")
    average = fit.population_line
    if covariance == "fitted":
        moved = own - _pair(c, "mixed_intercept", "mixed_slope")
    else:
        moved = np.einsum("gij,gj->gi", pooling_matrices(fit, covariance), own - average)
    return own, average, moved


def shrinkage_fraction(fit, covariance="fitted"):
    """The fraction of the way to the population average each cluster moves.

    For intercepts, ``(own - mixed) / (own - average)``, and the same for slopes:
    0 means the mixed model kept the cluster's own estimate, 1 that it moved the
    cluster all the way to the fixed effect.  Intercept and slope are moved
    together (see :func:`pooling_matrices`), so a cluster can move by more than
    its own distance, or away, and values outside [0, 1] occur.

    Parameters
    ----------
    fit : shrinkage.MixedFit
    covariance : {"fitted", "zero"}
        ``"fitted"`` measures the fit's own estimates; ``"zero"`` computes where
        the clusters would go with the covariance of intercepts and slopes set to
        zero and everything else as fitted.

    Returns
    -------
    pandas.DataFrame
        Columns ``cluster, n, intercept, slope``; the slope fraction is missing for
        clusters without a least-squares slope.
    """
    own, average, moved = _moves(fit, covariance)
    table = fit.clusters[["cluster", "n"]].copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        fractions = moved / (own - average)
    table["intercept"], table["slope"] = fractions[:, 0], fractions[:, 1]
    return table


def path_angles(fit, covariance="fitted"):
    """How far each cluster's path turns from the straight line to the average.

    The angle, in degrees, between the path from a cluster's own estimate to its
    mixed estimate and the line from its own estimate to the population average,
    0 when the cluster heads straight for the average.  Intercepts and slopes are
    measured in units of the spread (standard deviation) of the clusters' own
    estimates, so the angle does not depend on the units of ``x`` and ``y``.

    Parameters
    ----------
    fit : shrinkage.MixedFit
    covariance : {"fitted", "zero"}
        As in :func:`shrinkage_fraction`.

    Returns
    -------
    pandas.Series
        Indexed by cluster label; missing for clusters without a least-squares slope.
    """
    own, average, moved = _moves(fit, covariance)
    scale = np.nanstd(own, axis=0)
    path, straight = moved / scale, (own - average) / scale
    cosine = np.sum(path * straight, axis=1) / (
        np.linalg.norm(path, axis=1) * np.linalg.norm(straight, axis=1))
    angle = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
    return pd.Series(angle, index=pd.Index(fit.clusters["cluster"], name="cluster"), name="angle")


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


def sampling_variances(fit):
    """The sampling variances of each cluster's own intercept and slope estimates.

    A cluster's least-squares slope has sampling variance ``sigma2 / S_xx`` and its
    intercept ``sigma2 * (1/n + xbar**2 / S_xx)``, where ``S_xx`` is the sum of
    squares of its ``x`` around its mean ``xbar`` and ``sigma2`` the fitted residual
    variance.  (Their covariance, ``-sigma2 * xbar / S_xx``, couples the two unless
    ``xbar`` is 0.)  A cluster whose ``x`` does not vary has no slope: its slope
    variance is missing and its intercept, its mean ``y``, has variance ``sigma2 / n``.

    Returns
    -------
    pandas.DataFrame
        Columns ``cluster, n, intercept, slope, covariance``, in the order of
        ``fit.clusters``.
    """
    cols, sigma2 = fit.columns, fit.variance["residual"]
    groups = len(cols.labels)
    n = np.bincount(cols.codes, minlength=groups).astype(float)
    xbar = np.bincount(cols.codes, cols.x, groups) / n
    sxx = np.bincount(cols.codes, (cols.x - xbar[cols.codes]) ** 2, groups)
    has_slope = fit.clusters["ols_slope"].notna().to_numpy()
    safe = np.where(has_slope, sxx, 1.0)
    table = fit.clusters[["cluster", "n"]].copy()
    table["intercept"] = np.where(has_slope, sigma2 * (1 / n + xbar ** 2 / safe), sigma2 / n)
    table["slope"] = np.where(has_slope, sigma2 / safe, np.nan)
    table["covariance"] = np.where(has_slope, -sigma2 * xbar / safe, np.nan)
    return table


def textbook_fractions(fit):
    """Each cluster's textbook shrinkage fractions, from its own design.

    The sampling variance of each of a cluster's own estimates
    (:func:`sampling_variances`) is passed through :func:`textbook_fraction` with
    the fitted variance between clusters.  This treats intercepts and slopes one at
    a time; the mixed model moves them together (:func:`pooling_matrices`), so
    clusters move somewhat differently unless ``x`` is centred in every cluster and
    the random effects are uncorrelated.

    Parameters
    ----------
    fit : shrinkage.MixedFit

    Returns
    -------
    pandas.DataFrame
        Columns ``cluster, n, intercept, slope``; a cluster whose ``x`` does not vary
        has no own slope, and its slope fraction is missing.
    """
    v = sampling_variances(fit)
    table = v[["cluster", "n"]].copy()
    table["intercept"] = textbook_fraction(v["intercept"], fit.variance["intercept"])
    slope = np.full(len(table), np.nan)
    has_slope = v["slope"].notna().to_numpy()
    slope[has_slope] = textbook_fraction(v["slope"][has_slope], fit.variance["slope"])
    table["slope"] = slope
    return table


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
    values, vectors = np.linalg.eigh(random_effects_covariance(fit))
    root = vectors * np.sqrt(np.maximum(values, 0.0))
    radius = math.sqrt(-2.0 * math.log1p(-level))
    angle = np.linspace(0.0, 2.0 * np.pi, points)
    circle = np.stack([np.cos(angle), np.sin(angle)])
    return fit.population_line + (radius * root @ circle).T


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
    precision = np.linalg.pinv(random_effects_covariance(fit))
    centre = fit.population_line
    radius2 = -2.0 * math.log1p(-level)
    shares = {}
    for name, prefix in (("own", "ols"), ("mixed", "mixed")):
        points = fit.clusters[[f"{prefix}_intercept", f"{prefix}_slope"]].dropna().to_numpy()
        offset = points - centre
        distance2 = np.einsum("ij,jk,ik->i", offset, precision, offset)
        shares[name] = float(np.mean(distance2 > radius2))
    return pd.Series(shares)


def _with_truth(fit, truth):
    """``fit.clusters`` of the clusters ``truth`` has, and their true effects (G x 2), aligned."""
    at = pd.Index(truth["cluster"]).get_indexer(fit.clusters["cluster"])
    found = at >= 0
    c = fit.clusters if found.all() else fit.clusters[found]
    return c, _pair(truth, "intercept", "slope")[at[found]]


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
        ``intercept, slope``.  Every method's slope error is taken over the same
        clusters, those with a least-squares slope of their own.
    """
    c, true = _with_truth(fit, truth)
    own = _pair(c, "ols_intercept", "ols_slope")
    estimates = {
        "no pooling": own,
        "complete pooling": np.broadcast_to(complete_pooling(data), own.shape),
        "partial pooling": _pair(c, "mixed_intercept", "mixed_slope"),
    }
    has_slope = ~np.isnan(own[:, 1])
    rows = {}
    for method, estimate in estimates.items():
        error = estimate - true
        rows[method] = (math.sqrt(np.mean(error[:, 0] ** 2)),
                        math.sqrt(np.mean(error[has_slope, 1] ** 2)))
    return pd.DataFrame.from_dict(rows, orient="index", columns=["intercept", "slope"])


def cluster_errors(fit, truth, settings):
    """Each cluster's estimation errors under no and partial pooling, and how extreme it is.

    Parameters
    ----------
    fit : shrinkage.MixedFit
    truth : pandas.DataFrame
        ``cluster, intercept, slope``: the true values, from
        ``simulate(settings, with_truth=True)``.
    settings : shrinkage.Settings
        The settings the data were drawn with, for the true average and spread.

    Returns
    -------
    pandas.DataFrame
        One row per cluster: ``cluster, n``; ``extremity_intercept`` and
        ``extremity_slope``, how far the true effect lies from the population
        average in true standard deviations; and the errors (estimate minus truth)
        ``none_intercept, partial_intercept, none_slope, partial_slope``.  The
        no-pooling slope error is missing for clusters without a slope of their own.
    """
    c, true = _with_truth(fit, truth)
    table = c[["cluster", "n"]].reset_index(drop=True)
    parts = (("intercept", settings.intercept, settings.sd_int),
             ("slope", settings.beta, settings.sd_slope))
    for column, (part, average, sd) in enumerate(parts):
        with np.errstate(divide="ignore", invalid="ignore"):
            table[f"extremity_{part}"] = np.abs(true[:, column] - average) / sd
    for column, (part, _, _) in enumerate(parts):
        table[f"none_{part}"] = c[f"ols_{part}"].to_numpy() - true[:, column]
        table[f"partial_{part}"] = c[f"mixed_{part}"].to_numpy() - true[:, column]
    return table


def break_even_extremity(sampling_variance, tau2):
    """How extreme a true effect must be for partial pooling to estimate it worse.

    With the textbook fraction ``f = v / (tau2 + v)``, an effect ``u`` from the
    average is estimated with expected squared error ``(1 - f)**2 v + f**2 u**2``
    under partial pooling against ``v`` under no pooling.  Partial pooling is worse
    when ``u**2 > 2 tau2 + v``: beyond ``sqrt(2 + v / tau2)`` standard deviations.

    Parameters
    ----------
    sampling_variance : float
        ``v``, the sampling variance of a cluster's own estimate (> 0).
    tau2 : float
        The between-cluster variance (> 0).

    Returns
    -------
    float
        The break-even distance in between-cluster standard deviations.
    """
    if not (sampling_variance > 0 and tau2 > 0):
        raise ValueError(f"sampling_variance and tau2 must be > 0, got "
                         f"{sampling_variance!r} and {tau2!r}")
    return math.sqrt(2.0 + sampling_variance / tau2)


POOLINGS = ("no pooling", "complete pooling", "partial pooling")


def holdout_predictions(data, folds, y="y", x="x", cluster="cluster"):
    """Predict held-out rows by no, complete and partial pooling, each fitted on the rest.

    Parameters
    ----------
    data : pandas.DataFrame
    folds : array_like
        One label per row: the rows sharing a label are held out together and
        predicted from a fit to all other rows; rows labelled None or NaN are never
        held out.  ``data[x]`` gives leave-one-``x``-out; ``numpy.where(last, 1,
        None)`` forecasts the rows marked ``last``.
    y, x, cluster : str
        The column names.

    Returns
    -------
    pandas.DataFrame
        One row per held-out row (``data``'s index): ``fold``, ``observed`` and a
        column per entry of :data:`POOLINGS`.  No pooling uses the cluster's own
        least-squares line on its training rows (its mean when its ``x`` does not
        vary there; missing when it has none); complete pooling one line for all
        training rows; partial pooling the mixed model's prediction, the population
        line for a cluster absent from the training rows.
    """
    data = as_pandas(data)
    folds = np.asarray(folds, dtype=object)
    if folds.shape != (len(data),):
        raise ValueError(f"folds must have one label per row ({len(data)}), got {folds.shape}")
    folds = pd.Series(folds, index=data.index)
    tables = []
    for label in folds.dropna().unique():
        test = folds.eq(label).to_numpy()
        train, held = data[~test], data[test]
        pooled = complete_pooling(train, y, x)
        own = no_pooling(train, y, x, cluster).set_index("cluster")
        own = own.reindex(held[cluster])
        table = pd.DataFrame({"fold": label, "observed": held[y].to_numpy(float)},
                             index=held.index)
        table["no pooling"] = (own["ols_intercept"].to_numpy()
                               + own["ols_slope"].fillna(0.0).to_numpy() * held[x].to_numpy(float))
        table["complete pooling"] = pooled[0] + pooled[1] * held[x].to_numpy(float)
        table["partial pooling"] = fit_models(train, y, x, cluster).predict(held).to_numpy()
        tables.append(table)
    return pd.concat(tables)


def holdout_error(predictions):
    """Root mean squared error of each pooling's held-out predictions.

    Rows that no pooling cannot predict (a cluster with no training rows) are left
    out for every pooling, so that the three are compared on the same rows.
    """
    usable = predictions.dropna(subset=list(POOLINGS))
    errors = usable[list(POOLINGS)].sub(usable["observed"], axis=0)
    return np.sqrt((errors ** 2).mean()).rename("RMSE")


def intercept_errors_by_shape(settings, shape, seeds):
    """Each cluster's squared intercept error under every pooling, over many draws of a shape.

    Parameters
    ----------
    settings : shrinkage.Settings
        The setting to draw (its seed is replaced by each of ``seeds``).
    shape : str
        The shape of the random effects, one of :data:`shrinkage.data.SHAPES`.
    seeds : iterable of int

    Returns
    -------
    pandas.DataFrame
        One row per cluster of every draw: ``none``, ``complete`` and ``partial``, the
        squared errors of the three estimates of its intercept, and ``distance``, how far
        its true intercept lies from the setting's average.
    """
    tables = []
    for seed in seeds:
        data, truth = simulate(replace(settings, seed=int(seed)), with_truth=True, shape=shape)
        c = fit_models(data).clusters.merge(truth, on="cluster")
        tables.append(pd.DataFrame({
            "none": (c["ols_intercept"] - c["intercept"]) ** 2,
            "complete": (complete_pooling(data)[0] - c["intercept"]) ** 2,
            "partial": (c["mixed_intercept"] - c["intercept"]) ** 2,
            "distance": (c["intercept"] - settings.intercept).abs()}))
    return pd.concat(tables, ignore_index=True)


def cluster_level_columns(fit):
    """The fixed-effect columns, other than the intercept and ``x``, that are constant
    within every cluster: the predictors at the cluster level (a school's mean SES)."""
    cols = fit.columns
    names = cols.fixed_names
    frame = pd.DataFrame(cols.fixed, columns=range(len(names)))
    constant = frame.groupby(cols.codes).nunique().max(axis=0) == 1
    return [name for index, name in enumerate(names)
            if constant[index] and name not in ("Intercept", fit.names["x"])]


def toward_targets(fit):
    """Each cluster's own line, the line it is pulled toward, and where it ends.

    With predictors at the cluster level, a cluster is not pulled toward one population
    line but toward its own *target*: the fixed effects evaluated at the cluster's own
    values of those predictors.  The mixed model's line is the target plus the cluster's
    predicted random effects, ``target + (I - M_j)(own - target)`` (``M_j`` the pooling
    matrix).  Predictors that vary within clusters are held at their reference values
    (zero, or a factor's first level) in all three, and the own line is fitted to ``y``
    less their part.

    Returns
    -------
    pandas.DataFrame
        ``cluster, n, ols_intercept, ols_slope, target_intercept, target_slope,
        mixed_intercept, mixed_slope``; without predictors at the cluster level, every
        target is the population line and the rest is ``fit.clusters``.
    """
    cols = fit.columns
    names = cols.fixed_names
    estimate = fit.fixed_effects["estimate"]
    level = cluster_level_columns(fit)
    # The cluster-level columns' part is in the target; only the others leave y.
    within = [name for name in names if name not in ("Intercept", fit.names["x"], *level)]
    positions = [names.index(name) for name in within]
    partial = cols.y - cols.fixed[:, positions] @ estimate[within].to_numpy()
    n, own_intercept, own_slope = own_lines(replace(cols, y=partial))
    first_row = np.unique(cols.codes, return_index=True)[1]
    shift = (cols.fixed[first_row][:, [names.index(name) for name in level]]
             @ estimate[level].to_numpy())
    line = fit.population_line
    effects = random_effects(fit)
    table = fit.clusters[["cluster", "n"]].copy()
    table["ols_intercept"], table["ols_slope"] = own_intercept, own_slope
    table["target_intercept"] = line[0] + shift
    table["target_slope"] = line[1]
    table["mixed_intercept"] = table["target_intercept"] + effects["intercept"].to_numpy()
    table["mixed_slope"] = table["target_slope"] + effects["slope"].to_numpy()
    return table
