"""Partial pooling: the mixed model ``y ~ x + (x | cluster)`` and the fit object.

A fit holds two sets of cluster estimates, compared throughout the book: each
cluster's own least-squares line (no pooling, :mod:`shrinkage.pooling`) and the
mixed model's, fitted by REML like R's ``lmer(y ~ x + (x | cluster))``, whose
cluster estimates are the fixed effects plus that cluster's predicted random
effects (lme4's ``coef()``).

The mixed model is fitted by :mod:`shrinkage.reml`, which minimises lme4's
profiled REML criterion.  Every fit is checked before it is returned: the local
quadratic model of the criterion, minimised over the feasible region, must promise a
decrease of at most ``OPTIMALITY_TOL`` criterion units.  That number does not change
when the data are rescaled or grow.  A fit that fails the check raises
:class:`ConvergenceError`; it is never returned.
"""

import dataclasses
import functools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

from . import formula as formulas
from . import intervals, predict
from .columns import Columns
from .data import SIMULATED
from .pooling import own_lines
from .reml import (
    OPTIMALITY_TOL,
    ClusterSums,
    ConvergenceError,
    UnidentifiableError,
    criterion,
    estimates,
    minimise,
    theta_of,
    verify_optimum,
)
from .report import fit_to_dict, summary_text

# lme4's isSingular() tolerance on the bounded elements of theta (standardised x).
SINGULAR_TOL = 1e-4
# The elements of theta that are standard deviations, bounded below by 0, per model.
_BOUNDED_OF = {"slope": (0, 2), "intercept": (0,), "uncorrelated": (0, 2)}
# Variance parameters per model (lme4's theta), for the fit's df.
_VARIANCE_PARAMETERS = {"slope": 3, "intercept": 1, "uncorrelated": 2}


def check_identifiable(cols, model="slope"):
    """Refuse data whose random effects cannot be estimated, as lme4 does.

    Raises
    ------
    UnidentifiableError
        With a message that says why and what to change.
    """
    nobs, groups = len(cols.y), len(cols.labels)
    if groups < 2:
        raise UnidentifiableError(
            f"the data have {groups} cluster(s); a mixed model needs at least 2 "
            "(increase n_cluster or balanced)")
    if model == "intercept" and nobs <= groups:
        raise UnidentifiableError(
            f"the data have {nobs} observations for {groups} clusters, no more than the "
            f"{groups} random intercepts, so the random effects and the residual variance "
            "cannot be told apart; some clusters need 2 observations or more")
    p = cols.fixed.shape[1]
    if nobs <= p:
        raise UnidentifiableError(
            f"the data have {nobs} observations for {p} fixed effects; the residual variance "
            "needs more observations than fixed effects")
    if model != "intercept" and nobs <= 2 * groups:
        raise UnidentifiableError(
            f"the data have {nobs} observations for {groups} clusters, no more than the "
            f"{2 * groups} random effects (an intercept and a slope per cluster), so the "
            "random effects and the residual variance cannot be told apart; the clusters need "
            "more than 2 observations each on average (in a simulation: a larger obs_per_cluster "
            "or balanced fraction)")
    if (model != "intercept" or cols.design is None) and cols.x.min() == cols.x.max():
        raise UnidentifiableError(
            f"{cols.names['x']} does not vary, so its slope cannot be estimated")


@dataclass
class MixedFit:
    """A verified fit of ``y ~ X + (x | cluster)``, ``(1 | cluster)`` or ``(x || cluster)``.

    It holds both sets of cluster estimates: each cluster's own least-squares line
    and the mixed model's.  With fixed effects beyond ``x``, both are the cluster's
    intercept and slope of ``x`` at the other predictors' reference values (zero, or a
    factor's first level): the own line is fitted to ``y`` less the other fixed effects'
    part.

    Attributes
    ----------
    nobs, ngroups : int
        Numbers of observations used and clusters.
    criterion : float
        The criterion minimised, at the optimum: -2 REML log-likelihood for a REML
        fit (lme4's "REML criterion"), the deviance -2 log-likelihood for an ML fit.
    theta : numpy.ndarray
        The relative covariance factor ``[L11, L21, L22]`` at the optimum (``L21``
        and ``L22`` are 0 for the random-intercept model, ``L21`` for uncorrelated
        effects).
    singular : bool
        lme4's "boundary (singular) fit": a variance at zero or a correlation of +-1.
    optimality : float
        The largest decrease of the criterion that its local quadratic model still
        promises at the optimum (at most ``OPTIMALITY_TOL``).
    fixed_effects : pandas.DataFrame
        Index: lme4's names of the fixed effects (``Intercept``, ``age``,
        ``SexFemale``, ``age:SexFemale``); columns ``estimate, std_error, t_value``.
        The standard errors are lme4's, conditional on the variance estimates.
    variance : dict
        ``intercept, slope, covariance, correlation, residual`` (the random-intercept
        model has no slope variance: 0, and correlation NaN; uncorrelated effects have
        covariance 0 and correlation NaN).
    scaled_residual_quantiles : numpy.ndarray
        Min, 1Q, median, 3Q, max of the residuals over the residual SD.
    clusters : pandas.DataFrame
        ``cluster, n, ols_intercept, ols_slope, mixed_intercept, mixed_slope``; the
        ``cluster`` column holds the data's own labels.
    names : dict
        The data's column names for ``y``, ``x`` and ``cluster`` (``x`` is None for a
        random-intercept formula without a numeric predictor).
    dropped : int
        Rows left out because ``y``, ``x`` or ``cluster`` was missing.
    simulated : bool
        Whether the data came from :func:`shrinkage.simulate` (the article's
        simulations, drawn in the article's fixed view) rather than a user's data.
    model : {"slope", "intercept", "uncorrelated"}
        Random intercepts and slopes, ``(x | cluster)``; intercepts, ``(1 | cluster)``;
        or uncorrelated intercepts and slopes, ``(x || cluster)``.
    method : {"REML", "ML"}
        Restricted or full maximum likelihood.
    """

    nobs: int
    ngroups: int
    criterion: float
    theta: np.ndarray
    singular: bool
    optimality: float
    fixed_effects: pd.DataFrame
    variance: dict
    scaled_residual_quantiles: np.ndarray
    clusters: pd.DataFrame
    names: dict = field(default_factory=lambda: {"y": "y", "x": "x", "cluster": "cluster"})
    dropped: int = 0
    simulated: bool = False
    model: str = "slope"
    method: str = "REML"
    # The data as fitted (rows with missing values left out), for refits and intervals.
    columns: Columns = field(default=None, repr=False, compare=False)
    # The p x p covariance matrix of the fixed effects (lme4's vcov), conditional on the
    # variance estimates; its diagonal gives fixed_effects' std_error.
    fixed_covariance: np.ndarray = field(default=None, repr=False, compare=False)
    # The formula as given (None: the model built from y, x, cluster and model).
    formula_text: str = None

    converged = True  # a fit that did not converge raises instead of existing

    @property
    def reml_criterion(self):
        """-2 REML log-likelihood at the optimum (REML fits only; see ``criterion``)."""
        if self.method != "REML":
            raise AttributeError("an ML fit has no REML criterion; use .criterion "
                                 "(the deviance) or .loglik")
        return self.criterion

    @property
    def formula(self):
        """The model in lme4's notation, with the data's own names."""
        if self.formula_text is not None:
            return self.formula_text
        y, x, cluster = self.names["y"], self.names["x"], self.names["cluster"]
        return f"{y} ~ {x} + ({x if self.model == 'slope' else 1} | {cluster})"

    @property
    def df(self):
        """Number of parameters: fixed effects, variance parameters and sigma (lme4's df)."""
        return len(self.fixed_effects) + _VARIANCE_PARAMETERS[self.model] + 1

    @property
    def population_line(self):
        """``[intercept, slope of x]`` of the fixed effects, at the other predictors'
        reference values; a term the fixed part lacks is 0."""
        return population_line(self.fixed_effects["estimate"], self.names["x"])

    @property
    def loglik(self):
        """The log-likelihood (REML's for a REML fit), as lme4's ``logLik``."""
        return -self.criterion / 2

    @property
    def aic(self):
        """Akaike's criterion, ``-2 loglik + 2 df``, as lme4's ``AIC`` (REML's for REML fits)."""
        return self.criterion + 2 * self.df

    @property
    def bic(self):
        """Schwarz's criterion, ``-2 loglik + log(nobs) df``, as lme4's ``BIC``."""
        return self.criterion + math.log(self.nobs) * self.df

    def __repr__(self):
        label = "REML criterion" if self.method == "REML" else "deviance"
        return (f"<MixedFit {self.formula}: {self.nobs} observations, {self.ngroups} clusters, "
                f"{label} {self.criterion:.1f}{', singular' if self.singular else ''}>")

    @property
    def sums(self):
        """The engine's per-cluster sums of the data."""
        return ClusterSums.from_columns(self.columns, self.model)

    def refit(self, method=None, model=None):
        """The same data fitted by another ``method`` ("REML", "ML") or ``model``."""
        method, model = method or self.method, model or self.model
        if model not in MODELS or method not in METHODS:
            raise ValueError(f"model must be one of {MODELS} and method one of {METHODS}, "
                             f"got {model!r} and {method!r}")
        with _one_blas_thread():
            fit = _fit_columns(self.columns, model, method)
        fit.simulated = self.simulated
        if model == self.model:
            fit.formula_text = self.formula_text
        return fit

    def conf_int(self, level=0.95, method="profile"):
        """Confidence intervals: profile likelihood for every parameter, or Wald.

        See :func:`shrinkage.intervals.conf_int`; lme4's ``confint``.
        """
        return intervals.conf_int(self, level, method)

    def predict(self, newdata, clusters=True, level=None):
        """Predicted ``y`` for new rows; see :func:`shrinkage.predict.predict`.

        lme4's ``predict(fit, newdata, allow.new.levels = TRUE)``, with
        ``clusters=False`` its ``re.form = NA``; ``level`` adds prediction intervals.
        """
        return predict.predict(self, newdata, clusters, level)

    def summary(self):
        """Return the fit laid out like R's ``summary(lmer(...))``."""
        return summary_text(self)

    def to_dict(self):
        """Return the fit as plain data in the layout of lme4's reference JSON."""
        return fit_to_dict(self)


MODELS = formulas.MODELS
METHODS = ("REML", "ML")


def population_line(estimates, x):
    """``[intercept, slope of x]`` of named fixed-effect ``estimates`` (a missing one is 0)."""
    return np.array([float(estimates.get("Intercept", 0.0)),
                     float(estimates.get(x, 0.0)) if x is not None else 0.0])


def fit_models(source=None, /, y="y", x="x", cluster="cluster", *, data=None, model="slope",
               method="REML"):
    """Fit both models: per-cluster least squares and the mixed model.

    Parameters
    ----------
    source : pandas.DataFrame or str
        The data, one row per observation, as from :func:`shrinkage.create_data`; or a
        formula in lme4's notation, with the data second or as ``data=``:
        ``fit_models("distance ~ age * Sex + (age | Subject)", df)``.  The fixed part is
        any Wilkinson formula (formulaic builds its design, with R's treatment
        contrasts); the random part is ``(1 | g)``, ``(x | g)`` or ``(x || g)``
        (:mod:`shrinkage.formula`).  Tables with ``to_pandas()`` (polars, pyarrow) are
        converted.
    y, x, cluster : str
        The names of the response, the predictor and the cluster column.  Cluster
        labels may be numbers or text; they are kept as they are.  Rows with a
        missing value in any of the three are left out, as lme4 does by default.
    model : {"slope", "intercept", "uncorrelated"}, default "slope"
        ``y ~ x + (x | cluster)``, random intercepts and slopes;
        ``y ~ x + (1 | cluster)``, random intercepts; or ``y ~ x + (x || cluster)``,
        uncorrelated intercepts and slopes (a formula sets it).
    data : pandas.DataFrame, optional
        The data, by name: ``fit_models(formula, data=df)`` or ``fit_models(data=df)``.
    method : {"REML", "ML"}, default "REML"
        Restricted maximum likelihood (lme4's default) or maximum likelihood
        (``lmer(..., REML = FALSE)``; compare models with different fixed effects
        by their ML fits).

    Returns
    -------
    MixedFit

    Raises
    ------
    ValueError
        When a column is missing or not numeric where it must be, an argument is
        not one of the allowed values, or a formula cannot be fitted (a random part
        other than the three, an unknown column, a rank-deficient design).
    UnidentifiableError
        When the random effects cannot be identified (too few observations
        or clusters, x constant, no residual variation).
    ConvergenceError
        When no start reaches a point that passes the optimality check.
    """
    if isinstance(source, str):  # fit_models(formula, data) or fit_models(formula, data=...)
        model_formula = formulas.parse(source)
        if data is None:
            data, y = (y, "y") if not isinstance(y, str) else (None, y)
        if data is None or isinstance(data, str):
            raise ValueError("data: give the data after the formula, as in "
                             "fit_models('y ~ x + (x | cluster)', data)")
        if method not in METHODS:
            raise ValueError(f"method must be 'REML' or 'ML', got {method!r}")
        with _one_blas_thread():
            cols = Columns.from_formula(data, model_formula)
            fit = _fit_columns(cols, model_formula.model, method)
        fit.simulated = bool(getattr(data, "attrs", {}).get(SIMULATED, False))
        fit.formula_text = source
        return fit
    elif source is not None and data is not None:
        raise ValueError("data: give the data once, either first or as data=")
    else:
        data = source if source is not None else data
        if data is None:
            raise ValueError("data: no data given; fit_models(data) or "
                             "fit_models(formula, data)")
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if method not in METHODS:
        raise ValueError(f"method must be 'REML' or 'ML', got {method!r}")
    with _one_blas_thread():
        return _fit(data, y, x, cluster, model, method)


@functools.cache
def _threadpools():
    # Finding the loaded BLAS libraries takes milliseconds, as long as a small fit: once.
    return ThreadpoolController()


def _one_blas_thread():
    """A context in which BLAS runs on one thread.

    The fit's linear algebra is on 2 x 2 blocks and short vectors: BLAS threads only add
    start-up and contention (several-fold slower on a busy machine).
    """
    return _threadpools().limit(limits=1, user_api="blas")


def _fit(data, y, x, cluster, model="slope", method="REML"):
    simulated = bool(getattr(data, "attrs", {}).get(SIMULATED, False))
    fit = _fit_columns(Columns.from_frame(data, y, x, cluster), model, method)
    fit.simulated = simulated
    return fit


def _fit_columns(cols, model, method):
    check_identifiable(cols, model)
    sums = ClusterSums.from_columns(cols, model)
    _check_residual_variation(sums, cols)
    reml = method == "REML"
    d_s = minimise(sums, model, reml)
    decrease = verify_optimum(d_s, sums, model, reml)
    if not decrease <= OPTIMALITY_TOL:
        raise ConvergenceError(
            f"the {method} fit did not reach a verified optimum (the criterion could still "
            f"fall by {decrease:.2e} > {OPTIMALITY_TOL:g})")
    return _assemble(cols, sums, d_s, decrease, model, method)


def _check_residual_variation(sums, cols):
    """Refuse data that the model's cluster lines fit exactly (sigma = 0).

    The criterion then decreases without bound, so there is no optimum.  The spread
    around each cluster's own line and the fixed effects is compared with the rounding
    error of the data, so any residual variation that floating point can hold is enough.
    """
    rss = sums.within_rss()
    if math.sqrt(max(rss, 0.0) / sums.nobs) <= sums.y_precision * 100:
        raise UnidentifiableError(
            f"{cols.names['y']} has no variation around each cluster's own line (at double "
            "precision), so the residual variance is zero and the model has no REML "
            "optimum (in a simulation, use sigma > 0)")


def _assemble(cols, sums, d_s, decrease, model="slope", method="REML"):
    reml = method == "REML"
    blocks = sums.blocks(reml)
    beta_s, s_mat, sigma2_s, modes_s = estimates(d_s, blocks)
    m = sums.to_standard()
    scale = sums.y_scale
    beta = sums.line + scale * sums.to_fixed @ beta_s
    cov_beta = scale ** 2 * sigma2_s * sums.to_fixed @ np.linalg.inv(s_mat) @ sums.to_fixed.T
    cov_beta = (cov_beta + cov_beta.T) / 2
    se = np.sqrt(np.diag(cov_beta))
    d = m @ d_s @ m.T      # relative covariance in the data's units
    if model == "uncorrelated":
        d[0, 1] = d[1, 0] = 0.0  # exactly: x_s is not centred, so D_s's zero stays zero
    sigma2 = scale ** 2 * sigma2_s
    cov = sigma2 * d
    sd = np.sqrt(np.diag(cov))
    # Clipped: rounding can put a boundary fit's correlation a hair beyond +-1.
    corr = (float(np.clip(cov[0, 1] / (sd[0] * sd[1]), -1, 1))
            if sd.all() and model == "slope" else float("nan"))
    effects = scale * (m @ modes_s).T  # (G, 2)

    names = cols.fixed_names
    estimate = dict(zip(names, beta))
    line = population_line(estimate, cols.names["x"])
    fitted = cols.fixed @ beta + np.einsum("ij,ij->i", effects[cols.codes],
                                           np.column_stack([np.ones(len(cols.x)), cols.x]))
    resid = cols.y - fitted
    n, ols_intercept, ols_slope = own_lines(_partial(cols, names, beta))
    clusters = pd.DataFrame({
        "cluster": cols.labels, "n": n, "ols_intercept": ols_intercept,
        "ols_slope": ols_slope if cols.names["x"] is not None else np.nan,
        "mixed_intercept": line[0] + effects[:, 0],
        "mixed_slope": line[1] + effects[:, 1] if cols.names["x"] is not None else np.nan})
    fixed = pd.DataFrame({"estimate": beta, "std_error": se, "t_value": beta / se},
                         index=pd.Index(names))
    return MixedFit(
        nobs=len(cols.y), ngroups=len(cols.labels),
        criterion=float(criterion(theta_of(d_s), blocks, gradient=False)
                        + sums.criterion_offset(reml)),
        theta=theta_of(d),
        singular=bool(theta_of(d_s)[list(_BOUNDED_OF[model])].min() < SINGULAR_TOL),
        optimality=float(decrease), fixed_effects=fixed,
        variance={"intercept": cov[0, 0], "slope": cov[1, 1], "covariance": cov[0, 1],
                  "correlation": corr, "residual": sigma2},
        scaled_residual_quantiles=np.quantile(resid / math.sqrt(sigma2), [0, .25, .5, .75, 1]),
        clusters=clusters, names=dict(cols.names), dropped=cols.dropped, model=model,
        method=method, columns=cols, fixed_covariance=cov_beta)


def _partial(cols, names, beta):
    """``cols`` with ``y`` less the part of the fixed effects other than intercept and x.

    Each cluster's own line through these partial residuals is its intercept and slope
    of x at the other predictors' reference values, as the mixed model's are reported.
    ``names`` and ``beta`` are the fixed effects' names and estimates.
    """
    if cols.design is None:
        return cols
    others = [i for i, name in enumerate(names) if name not in ("Intercept", cols.names["x"])]
    if not others:
        return cols
    return dataclasses.replace(cols, y=cols.y - cols.fixed[:, others] @ beta[others])
