"""Simulated clustered data, identical to the article's R generator.

The article draws its data with an R function (kept in
``tests/reference/create_data.R``).  :func:`create_data` returns the same
values in the same row order for the same arguments, because it draws from
:class:`shrinkage.rng.RStream` in the order R does:

1. ``x = rnorm(N)``, one value per observation;
2. ``mvtnorm::rmvnorm(n_cluster, sigma = varmat)``: ``2 * n_cluster`` normals
   filled into the draw matrix by row, times the symmetric square root of
   ``varmat`` from its eigen decomposition;
3. ``rnorm(N, sd = sigma)``, the residuals;
4. ``dplyr::sample_frac(df, balanced)``: ``sample.int(N, round(N * balanced))``,
   which shuffles the rows even when ``balanced`` is 1.
"""

import json
import math
from dataclasses import asdict, dataclass
from importlib import resources

import numpy as np
import pandas as pd

from .rng import RStream

MAX_ROWS = 10_000_000
# Largest magnitude of a location or scale setting: variances (its square) and the
# data drawn from it must stay finite in double precision.
MAX_MAGNITUDE = 1e150


@dataclass(frozen=True)
class Settings:
    """The arguments of the article's ``create_data()``, with its defaults.

    Parameters
    ----------
    obs_per_cluster : int
        Observations drawn per cluster, before ``balanced`` subsamples them.
    n_cluster : int
        Number of clusters, numbered 1 to ``n_cluster``.
    intercept, beta : float
        The fixed (population-average) intercept and slope.
    sigma : float
        Residual standard deviation.
    sd_int, sd_slope : float
        Standard deviations of the cluster intercepts and slopes.
    cor : float
        Placed off the diagonal of the random-effects covariance matrix.  As in
        the article's R code, it acts as a **covariance**, not a correlation:
        the correlation is ``cor / (sd_int * sd_slope)``.
    balanced : float
        Fraction of the rows kept, in [0, 1]; below 1 clusters end up with
        different numbers of observations.
    seed : int
        The seed for R's ``set.seed``.
    """

    obs_per_cluster: int = 10
    n_cluster: int = 100
    intercept: float = 1.0
    beta: float = 0.5
    sigma: float = 1.0
    sd_int: float = 0.5
    sd_slope: float = 0.25
    cor: float = 0.0
    balanced: float = 1.0
    seed: int = 888

    def __post_init__(self):
        _validate(self)

    def as_dict(self):
        """Return the settings as a plain dict."""
        return asdict(self)

    @property
    def covariance(self):
        """The random-effects covariance matrix, ``cor`` placed as the R code does."""
        return np.array([[self.sd_int**2, self.cor], [self.cor, self.sd_slope**2]])


def is_integer(value):
    """True for Python and numpy integers, but not for booleans."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_))


def _validate(settings):
    for name in ("obs_per_cluster", "n_cluster"):
        value = getattr(settings, name)
        if not is_integer(value) or value < 1:
            raise ValueError(f"{name} must be a positive integer (1 or more), got {value!r}")
    rows = settings.obs_per_cluster * settings.n_cluster
    if rows > MAX_ROWS:
        raise ValueError(
            f"obs_per_cluster * n_cluster must be at most {MAX_ROWS:,}, got {rows:,}")
    for name in ("intercept", "beta"):
        value = getattr(settings, name)
        if not _is_real(value) or not abs(value) <= MAX_MAGNITUDE:
            raise ValueError(f"{name} must be a number in [-{MAX_MAGNITUDE:g}, "
                             f"{MAX_MAGNITUDE:g}], got {value!r}")
    for name in ("sigma", "sd_int", "sd_slope"):
        value = getattr(settings, name)
        if not _is_real(value) or not 0 <= value <= MAX_MAGNITUDE:
            raise ValueError(
                f"{name} must be a number in [0, {MAX_MAGNITUDE:g}], got {value!r}")
    if not _is_real(settings.cor) or not math.isfinite(settings.cor):
        raise ValueError(f"cor must be a finite number, got {settings.cor!r}")
    balanced = settings.balanced
    if isinstance(balanced, (bool, np.bool_)):
        balanced = float(balanced)  # R's TRUE is a fraction of 1
    if not _is_real(balanced) or not 0 <= balanced <= 1:
        raise ValueError(f"balanced must be a number in [0, 1], got {settings.balanced!r}")
    if not is_integer(settings.seed) or abs(settings.seed) > 2**31 - 1:
        raise ValueError(
            f"seed must be an integer in [-2147483647, 2147483647], got {settings.seed!r}")
    eigenvalues = np.linalg.eigvalsh(settings.covariance)
    # mvtnorm's own tolerance for "numerically not positive semidefinite".
    if eigenvalues.min() < -math.sqrt(np.finfo(float).eps) * abs(eigenvalues.max()):
        limit = settings.sd_int * settings.sd_slope
        raise ValueError(
            f"cor must be in [-{limit:g}, {limit:g}] (sd_int * sd_slope) for these "
            f"standard deviations, got {settings.cor!r}: cor is the covariance of "
            "intercepts and slopes, as in the article's R code, and a larger one makes "
            "the covariance matrix not positive semi-definite")


# The article's six settings; every other argument keeps its default.
SCENARIOS = {
    "baseline": Settings(),
    "more_variance": Settings(sd_int=1, sd_slope=1),
    "more_slope_variance": Settings(sd_int=0.25, sd_slope=1),
    "few_obs": Settings(obs_per_cluster=3),
    "many_obs": Settings(obs_per_cluster=100),
    "unbalanced": Settings(balanced=0.5, sd_int=0.5, sd_slope=0.5, sigma=0.25),
}


def _symmetric_sqrt(matrix):
    """Return ``V diag(sqrt(max(l, 0))) V'``, mvtnorm's ``method = "eigen"`` factor."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.maximum(values, 0))) @ vectors.T


def create_data(obs_per_cluster=10, n_cluster=100, intercept=1.0, beta=0.5, sigma=1.0,
                sd_int=0.5, sd_slope=0.25, cor=0.0, balanced=1.0, seed=888,
                with_truth=False):
    """Simulate clustered data exactly as the article's R ``create_data()`` does.

    The model is ``y = (intercept + a_j) + (beta + b_j) * x + e`` with
    ``x ~ N(0, 1)``, ``e ~ N(0, sigma^2)`` and cluster effects ``(a_j, b_j)``
    drawn from a bivariate normal with covariance
    ``[[sd_int^2, cor], [cor, sd_slope^2]]``.  Note that ``cor`` sits in the
    matrix as a **covariance**, as in the article's R code, so its correlation
    is ``cor / (sd_int * sd_slope)``.

    Parameters
    ----------
    obs_per_cluster, n_cluster, intercept, beta, sigma, sd_int, sd_slope, cor, balanced, seed
        See :class:`Settings`.
    with_truth : bool, default False
        Also return each cluster's true intercept and slope.

    Returns
    -------
    pandas.DataFrame or tuple of pandas.DataFrame
        Columns ``y, x, cluster`` in R's row order; with ``with_truth``, also a
        frame with columns ``cluster, intercept, slope`` for every cluster
        (including clusters that ``balanced`` left without rows).

    Raises
    ------
    ValueError
        If a parameter is out of its allowed range; the message names it.
    """
    settings = Settings(obs_per_cluster, n_cluster, intercept, beta, sigma, sd_int,
                        sd_slope, cor, balanced, seed)
    return simulate(settings, with_truth=with_truth)


SIMULATED = "shrinkage_simulated"


# The shapes the clusters' random effects can be drawn in: the article's normal, and two
# that a normal model does not expect, each with the same means and covariance.
SHAPES = ("normal", "bimodal", "heavy-tailed")
# Tukey's h for the heavy-tailed shape: z exp(h z^2 / 2) has variance (1 - 2h)^(-3/2).
_TUKEY_H = 0.25


def _shaped(z, shape):
    """Standard normal draws ``z`` turned into ``shape``, with mean 0 and variance 1.

    ``bimodal``: ``sign(z) (0.9 + 0.3 |z|)``, two modes near -0.8 and 0.8 (in units of
    the SD) and hardly any effect near 0; ``heavy-tailed``: Tukey's h distribution,
    ``z exp(z^2 / 8)``, whose far tail holds several times the normal's extremes.
    """
    if shape == "normal":
        return z
    if shape == "bimodal":
        a, b = 0.9, 0.3
        variance = a * a + 2 * a * b * math.sqrt(2 / math.pi) + b * b
        return np.sign(z) * (a + b * np.abs(z)) / math.sqrt(variance)
    return z * np.exp(_TUKEY_H * z * z / 2) * (1 - 2 * _TUKEY_H) ** 0.75


def simulate(settings, with_truth=False, shape="normal"):
    """Simulate data for a :class:`Settings`; see :func:`create_data`.

    ``shape`` draws the clusters' random effects from another distribution with the same
    covariance (see :data:`SHAPES`): the same random numbers of R's stream, each turned
    into that shape before the covariance is applied.  ``"normal"`` is the article's
    model, R's numbers exactly.
    """
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
    s = settings
    stream = RStream(s.seed)
    rows = s.obs_per_cluster * s.n_cluster
    cluster = np.repeat(np.arange(1, s.n_cluster + 1), s.obs_per_cluster)
    x = stream.rnorm(rows)
    effects = _shaped(stream.rnorm(2 * s.n_cluster).reshape(s.n_cluster, 2), shape) @ (
        _symmetric_sqrt(s.covariance))
    index = cluster - 1
    y = (s.intercept + effects[index, 0]) + (s.beta + effects[index, 1]) * x + stream.rnorm(
        rows, sd=s.sigma)
    kept = stream.sample_int(rows, round(rows * float(s.balanced))) - 1
    data = pd.DataFrame({"y": y[kept], "x": x[kept], "cluster": cluster[kept]})
    # Fits of the article's simulations are drawn in the article's fixed view.
    data.attrs[SIMULATED] = True
    if not with_truth:
        return data
    truth = pd.DataFrame({"cluster": np.arange(1, s.n_cluster + 1),
                          "intercept": s.intercept + effects[:, 0],
                          "slope": s.beta + effects[:, 1]})
    return data, truth


def simulate_cluster_level(seed, n_cluster=50, obs_per_cluster=10, gamma=1.0, within=0.5,
                           between=0.5, sd_int=0.5, sd_slope=0.25, sigma=1.0, intercept=1.0):
    """Clusters with a predictor at the cluster level, and x's cluster means apart.

    Not the article's generator (its draws are numpy's, not R's).  Each cluster ``j`` has
    a value ``w_j ~ N(0, 1)`` of a cluster-level predictor and a mean ``m_j ~ N(0, 1)``
    of ``x``; ``x = m_j + N(0, 1)``, and

        ``y = intercept + gamma w_j + within x + (between - within) m_j + u0_j + u1_j x + e``,

    with ``u0_j ~ N(0, sd_int^2)``, ``u1_j ~ N(0, sd_slope^2)`` and ``e ~ N(0, sigma^2)``.
    A cluster's true line is ``intercept + gamma w_j + (between - within) m_j + u0_j``
    plus ``within + u1_j`` times ``x``: ``within`` is the slope inside a cluster,
    ``between`` that of the clusters' mean ``y`` on their mean ``x``.

    Returns
    -------
    data : pandas.DataFrame
        ``y, x, w, cluster`` (``cluster`` 1 to ``n_cluster``).
    truth : pandas.DataFrame
        ``cluster, intercept, slope``: each cluster's true line.
    """
    for name, value in (("n_cluster", n_cluster), ("obs_per_cluster", obs_per_cluster)):
        if not is_integer(value) or value < 2:
            raise ValueError(f"{name} must be an integer of at least 2, got {value!r}")
    for name, value in (("sd_int", sd_int), ("sd_slope", sd_slope), ("sigma", sigma)):
        if not _is_real(value) or not 0 <= value < math.inf:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(n_cluster), obs_per_cluster)
    w, m = rng.normal(size=n_cluster), rng.normal(size=n_cluster)
    u0, u1 = rng.normal(0, sd_int, n_cluster), rng.normal(0, sd_slope, n_cluster)
    x = m[cluster] + rng.normal(size=len(cluster))
    true_intercept = intercept + gamma * w + (between - within) * m + u0
    true_slope = within + u1
    y = (true_intercept[cluster] + true_slope[cluster] * x
         + rng.normal(0, sigma, len(cluster)))
    data = pd.DataFrame({"y": y, "x": x, "w": w[cluster], "cluster": cluster + 1})
    truth = pd.DataFrame({"cluster": np.arange(1, n_cluster + 1), "intercept": true_intercept,
                          "slope": true_slope})
    return data, truth


def centre_within_clusters(data, x="x", cluster="cluster"):
    """A copy of ``data`` with ``x`` replaced by its deviation from its cluster's mean.

    In the centred data each cluster's own intercept is its mean ``y`` and its own
    intercept and slope estimates are uncorrelated, so the mixed model pulls them
    separately unless the random effects are correlated.

    Raises
    ------
    ValueError
        If ``x`` or ``cluster`` is not a column of ``data``.
    """
    for role, name in (("x", x), ("cluster", cluster)):
        if name not in data.columns:
            raise ValueError(f"{role}: the data have no column {name!r}")
    centred = data.copy()
    centred[x] = data[x] - data.groupby(cluster, sort=False)[x].transform("mean")
    return centred


def _dataset(name):
    return resources.files(__package__).joinpath("datasets", name)


def sleepstudy():
    """lme4's ``sleepstudy`` data (Belenky et al. 2003), shipped with the package.

    Returns
    -------
    pandas.DataFrame
        180 rows: ``Reaction`` (ms), ``Days`` (0-9) and ``Subject`` (text labels
        such as ``"S308"``), 18 subjects. Source: ``datasets/README.md``.
    """
    with _dataset("sleepstudy.csv").open(encoding="utf-8") as handle:
        return pd.read_csv(handle, dtype={"Subject": str})


def hsb():
    """The High School and Beyond mathematics scores (nlme's ``MathAchieve``), shipped.

    Returns
    -------
    pandas.DataFrame
        7185 students in 160 schools: ``MathAch`` (a mathematics achievement score),
        ``SES`` (the student's socioeconomic status, a standardised composite),
        ``MEANSES`` (the school's mean SES, a school-level predictor), ``Sector``
        (``"Catholic"`` or ``"Public"``, school-level) and ``School`` (text labels such
        as ``"1224"``).  Source: ``datasets/README.md``.
    """
    with _dataset("hsb.csv").open(encoding="utf-8") as handle:
        return pd.read_csv(handle, dtype={"School": str, "Sector": str})


LME4_FITS = ("baseline", "more_variance", "more_slope_variance", "few_obs", "many_obs",
             "unbalanced", "sleepstudy", "sleepstudy_predict", "sleepstudy_pev",
             "sleepstudy_confint")


def lme4_fit(name):
    """lme4's stored fit of one of :data:`LME4_FITS` (R 4.2.2, lme4 1.1-31).

    Returns
    -------
    dict
        The JSON of ``tests/reference/NAME.json``: for the fits, ``fixed_effects``,
        ``variance``, ``clusters``, ``REML``, the R and lme4 versions, ...; for the sleep
        study also its conditional variances and predictions (``sleepstudy_predict``), the
        exact prediction-error covariances (``sleepstudy_pev``) and ``confint(fit)``
        (``sleepstudy_confint``).
    """
    if name not in LME4_FITS:
        raise ValueError(f"name must be one of {', '.join(LME4_FITS)}; got {name!r}")
    return json.loads(_dataset(f"lme4/{name}.json").read_text(encoding="utf-8"))
