"""Confidence intervals for a fit: profile likelihood for every parameter, or Wald.

The profile interval of a parameter holds the values ``v`` at which the deviance (-2
log-likelihood), minimised over every other parameter with that one held at ``v``, lies
less than ``chi2(1, level)`` above its minimum.  This is lme4's default ``confint(fit)``
(``method = "profile"``), which profiles the maximum-likelihood deviance for REML fits
too (it refits by ML first), so a REML fit and its ML refit get the same intervals.
lme4 interpolates a spline through a few profile points; here each end is a root of the
profile, found to high accuracy.  A fixed effect held at ``v`` leaves the others to
generalised least squares, in closed form: the residual sum grows by
``(v - beta_k)^2 / (S^-1)_kk`` in the standardised units.  The correlation has no effect
where a standard deviation is zero; when that ridge lies within the threshold, every
correlation does, and its interval is the whole of [-1, 1].

With sigma held explicitly, the criterion on the data's per-cluster sums is
``L(theta) + dof log(2 pi sigma^2) + r^2(theta) / sigma^2``, whose minimum over sigma
is the profiled criterion the fit minimises (:func:`shrinkage.reml.criterion`).
"""

import math
import warnings

import numpy as np
import pandas as pd
from scipy import optimize

from .predict import normal_quantile
from .reml import Blocks, cluster_terms, generalised_least_squares, theta_of


def _parts(theta, blocks, constraint=None):
    """``L(theta)`` and ``r^2(theta)`` in the standardised units, or None off the domain.

    ``constraint``, ``(a, c)``, holds the standardised fixed effects to ``a' beta = c``:
    the residual sum of the constrained least squares is the free one plus
    ``(c - a' beta_hat)^2 / (a' S^-1 a)``.
    """
    l1, l2, l3 = theta
    d11, d12, d22 = l1 * l1, l1 * l2, l2 * l2 + l3 * l3
    delta, _, _, q = cluster_terms(d11, d12, d22, (l1 * l3) ** 2, blocks)
    if not np.all(delta > 0):
        return None
    _, log_det_s, s_inv, beta, rss = generalised_least_squares(q, blocks.p)
    if beta is None or not rss > 0:
        return None
    if constraint is not None:
        a, c = constraint
        rss = rss + (c - a @ beta) ** 2 / (a @ s_inv @ a)
    return np.log(delta).sum() + (log_det_s if blocks.reml else 0.0), rss


class Profile:
    """The criterion of a fit as a function of its variance parameters, in the data's units.

    Parameters are ``sd_intercept, correlation, sd_slope, sigma`` for the random-slope
    model, ``sd_intercept, sd_slope, sigma`` for uncorrelated effects and
    ``sd_intercept, sigma`` for the random-intercept model.
    """

    def __init__(self, fit):
        self.fit = fit = fit if fit.method == "ML" else fit.refit(method="ML")
        self.sums = fit.sums
        self.reml = False
        self.blocks = Blocks(self.sums, self.reml)
        self.m_inv = np.linalg.inv(self.sums.to_standard())
        self.offset = self.sums.criterion_offset(self.reml)
        v = fit.variance
        if fit.model == "slope":
            self.names = ["sd_intercept", "correlation", "sd_slope", "sigma"]
            # Rounding can put a boundary fit's correlation a hair beyond +-1.
            corr = float(np.clip(v["correlation"], -1.0, 1.0)) if np.isfinite(
                v["correlation"]) else 0.0
            self.estimate = np.array([math.sqrt(v["intercept"]), corr, math.sqrt(v["slope"]),
                                      math.sqrt(v["residual"])])
        elif fit.model == "uncorrelated":
            self.names = ["sd_intercept", "sd_slope", "sigma"]
            self.estimate = np.array([math.sqrt(v["intercept"]), math.sqrt(v["slope"]),
                                      math.sqrt(v["residual"])])
        else:
            self.names = ["sd_intercept", "sigma"]
            self.estimate = np.array([math.sqrt(v["intercept"]), math.sqrt(v["residual"])])
        self.minimum = self.criterion(self.estimate)
        # The fixed effects as linear functions of the standardised ones:
        # beta = line + y_scale * T beta_s (reml.ClusterSums).
        self.fixed_names = list(fit.fixed_effects.index)
        self.fixed_estimate = fit.fixed_effects["estimate"].to_numpy()
        self.fixed_se = fit.fixed_effects["std_error"].to_numpy()
        self._fixed_rows = self.sums.y_scale * self.sums.to_fixed
        self._ridge = None

    def _constraint(self, index, value):
        """``(a, c)`` holding fixed effect ``index`` at ``value``, in standardised units."""
        return self._fixed_rows[index], value - self.sums.line[index]

    def criterion(self, p, fixed=None):
        """The criterion (original units) at the parameters ``p``; inf off the domain.

        ``fixed``, ``(index, value)``, holds a fixed effect at ``value`` (the others go to
        their least-squares values given it).
        """
        model = self.fit.model
        if model == "slope":
            sd0, corr, sd1, sigma = p
        elif model == "uncorrelated":
            (sd0, sd1, sigma), corr = p, 0.0
        else:
            (sd0, sigma), sd1, corr = p, 0.0, 0.0
        if not (sigma > 0 and sd0 >= 0 and sd1 >= 0 and abs(corr) <= 1):
            return math.inf
        cov = np.array([[sd0 * sd0, corr * sd0 * sd1], [corr * sd0 * sd1, sd1 * sd1]])
        d_s = self.m_inv @ (cov / (sigma * sigma)) @ self.m_inv.T
        parts = _parts(theta_of(d_s), self.blocks,
                       None if fixed is None else self._constraint(*fixed))
        if parts is None:
            return math.inf
        log_dets, rss = parts
        sigma_s = sigma / self.sums.y_scale
        dof = self.blocks.dof
        return (log_dets + dof * math.log(2 * math.pi * sigma_s * sigma_s)
                + rss / (sigma_s * sigma_s) + self.offset)

    def _bounds(self):
        bounds = []
        for name, value in zip(self.names, self.estimate):
            if name == "correlation":
                bounds.append((-1.0, 1.0))
            else:
                bounds.append((0.0 if name != "sigma" else 1e-8 * value, None))
        return bounds

    def profiled(self, index, value, start, fixed=None):
        """The criterion minimised over the other parameters with ``p[index] = value``.

        With ``index`` None and ``fixed`` a fixed effect ``(k, value)``, over every
        variance parameter with that fixed effect held.
        """
        others = [i for i in range(len(self.names)) if i != index]
        scale = np.array([max(abs(self.estimate[i]), 1e-8) if self.names[i] != "correlation"
                          else 1.0 for i in others])
        bounds = [(lo / s if lo is not None else None, hi / s if hi is not None else None)
                  for (lo, hi), s in zip([self._bounds()[i] for i in others], scale)]

        def objective(q):
            p = np.empty(len(self.names))
            if index is not None:
                p[index] = value
            p[others] = q * scale
            return self.criterion(p, fixed)

        result = optimize.minimize(objective, start[others] / scale, method="L-BFGS-B",
                                   bounds=bounds, options={"ftol": 1e-14, "gtol": 1e-10})
        point = np.empty(len(self.names))
        if index is not None:
            point[index] = value
        point[others] = result.x * scale
        return min(result.fun, objective(start[others] / scale)), point

    def ridge(self):
        """The lowest criterion where a standard deviation is zero (the correlation then has
        no effect), or inf for the random-intercept model."""
        if self._ridge is None:
            self._ridge = math.inf
            if self.fit.model == "slope":
                for index in (0, 2):  # sd_intercept = 0, sd_slope = 0
                    self._ridge = min(self._ridge, self.profiled(index, 0.0, self.estimate)[0])
        return self._ridge

    def fixed_interval(self, index, level=0.95):
        """``(lower, upper)`` of the profile interval of fixed effect ``index``."""
        threshold = normal_quantile(level) ** 2
        estimate = self.fixed_estimate[index]

        se = self.fixed_se[index]

        def excess(value, start):
            criterion, point = self.profiled(None, None, start, fixed=(index, value))
            return criterion - self.minimum - threshold, point

        ends = []
        for direction in (-1, 1):
            # The profile of a fixed effect is nearly the quadratic whose crossing is the
            # Wald end: bracket the root around it first, and follow the profile only if
            # that fails.
            wald = math.sqrt(threshold) * se
            near, far = estimate + direction * 0.8 * wald, estimate + direction * 1.25 * wald
            below, point = excess(near, self.estimate)
            above = excess(far, point)[0] if below < 0 else -1.0
            if below < 0 < above:
                ends.append(float(optimize.brentq(lambda value, start=point: excess(value, start)[0],
                                                  near, far,
                                                  xtol=1e-7 * se, rtol=1e-12)))
            else:
                ends.append(_follow(excess, estimate, direction, None, 0.5 * se, self.estimate))
        return tuple(ends)

    def interval(self, index, level=0.95):
        """``(lower, upper)`` of the profile interval of parameter ``index``."""
        threshold = normal_quantile(level) ** 2
        lower, upper = self._bounds()[index]
        estimate = self.estimate[index]
        ends = []
        for direction, limit in ((-1, lower), (1, upper)):
            ends.append(self._end(index, estimate, direction, limit, threshold))
        return tuple(ends)

    def _end(self, index, estimate, direction, limit, threshold):
        """Where the profile crosses ``threshold`` on one side of the estimate.

        The profile is followed outward in growing steps, each minimisation started
        where the previous one ended, as lme4's profile does.  Started from the estimate
        at every value instead, the minimiser can leave the profile's branch: at
        ``sd_intercept = 0`` the correlation has no effect, and that ridge lies below the
        threshold at every correlation.
        """
        name = self.names[index]
        if name == "correlation" and self.ridge() - self.minimum < threshold:
            # Where a standard deviation is zero the correlation has no effect, and that
            # ridge lies within the threshold: so does every correlation.
            return float(limit)

        def excess(value, start):
            level, point = self.profiled(index, value, start)
            return level - self.minimum - threshold, point

        scale = 1.0 if name == "correlation" else max(estimate, 1e-3 * self.estimate[-1])
        return _follow(excess, estimate, direction, limit, 0.1 * scale, self.estimate)


def _follow(excess, estimate, direction, limit, step, start):
    """Where ``excess`` (the profile less its minimum and threshold) crosses zero.

    From ``estimate`` in ``direction``, toward ``limit`` (None: unbounded), in steps that
    double, each minimisation started where the last ended.  Toward a bound at most half
    of the room left is taken at once, so no step jumps onto another branch.  Returns the
    limit when the profile stays below the threshold up to it, NaN when no crossing is
    found in 100 steps.
    """
    scale = 10 * step
    near = estimate
    for _ in range(100):
        room = math.inf if limit is None else abs(limit - near)
        at_limit = room <= 1e-3 * scale
        far = limit if at_limit else near + direction * min(step, room / 2)
        above, point = excess(far, start)
        if above > 0:
            break
        if at_limit:
            return float(limit)  # the profile stays below the threshold up to the bound
        near, start, step = far, point, step * 2
    else:
        return float("nan")
    return float(optimize.brentq(lambda value: excess(value, start)[0], near, far,
                                 xtol=1e-10 * max(abs(estimate), 1.0), rtol=1e-12))


METHODS = ("profile", "Wald")


def conf_int(fit, level=0.95, method="profile"):
    """Confidence intervals for every parameter, as lme4's ``confint(fit)``.

    Parameters
    ----------
    fit : shrinkage.MixedFit
    level : float, default 0.95
        The coverage, in (0, 1).
    method : {"profile", "Wald"}, default "profile"
        Profile-likelihood intervals for every parameter (lme4's default), or Wald
        intervals for the fixed effects, estimate plus or minus the normal quantile times
        the fit's own standard error (``confint(fit, method = "Wald")``); the variance
        parameters have no Wald interval in lme4 and get their profile interval here.

    Returns
    -------
    pandas.DataFrame
        Index: the fixed effects' names, then ``sd_intercept``, ``correlation`` and
        ``sd_slope`` (random-slope model; uncorrelated effects have no correlation) and
        ``sigma``; columns
        ``lower, upper``.  lme4: ``confint(fit, oldNames = FALSE)``.  The profile
        intervals are those of the maximum-likelihood fit (see the module's notes).  An
        end at a bound (a standard deviation of 0, a correlation of +-1) means the
        profile stays within the level up to the bound.  An end that cannot be found is
        NaN, named in ``result.attrs["not_found"]`` and in an :class:`IntervalWarning`.
    """
    z = normal_quantile(level)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    profile = Profile(fit)
    fe = fit.fixed_effects
    with np.errstate(all="ignore"), warnings.catch_warnings():
        # A trial point off the domain is simply infinite; that is not news to the reader.
        warnings.simplefilter("ignore", RuntimeWarning)
        if method == "Wald":
            rows = {name: (row.estimate - z * row.std_error, row.estimate + z * row.std_error)
                    for name, row in fe.iterrows()}
        else:
            rows = {name: profile.fixed_interval(index, level)
                    for index, name in enumerate(profile.fixed_names)}
        for index, name in enumerate(profile.names):
            rows[name] = profile.interval(index, level)
    result = pd.DataFrame.from_dict(rows, orient="index", columns=["lower", "upper"])
    missing = [f"the {end} end of {name}" for name, row in result.iterrows()
               for end in ("lower", "upper") if np.isnan(row[end])]
    result.attrs["not_found"] = missing
    if missing:
        warnings.warn(f"conf_int: {', '.join(missing)} could not be found: the profile did "
                      f"not cross its {level:.0%} threshold where it could be followed "
                      "(those ends are NaN; the rest hold)", IntervalWarning, stacklevel=3)
    return result


class IntervalWarning(UserWarning):
    """An end of a profile interval that could not be found (it is NaN in the result)."""
