"""Confidence intervals for a fit: Wald for the fixed effects, profile likelihood for the rest.

The profile interval of a standard deviation, the correlation or sigma holds the values
``v`` at which the deviance (-2 log-likelihood), minimised over every other parameter
with that one held at ``v``, lies less than ``chi2(1, level)`` above its minimum.  This
is lme4's ``confint(fit, method = "profile")``, which profiles the maximum-likelihood
deviance for REML fits too (it refits by ML first), so a REML fit and its ML refit get
the same intervals.  lme4 interpolates a spline through a few profile points; here
each end is a root of the profile, found to high accuracy.

With sigma held explicitly, the criterion on the data's per-cluster sums is
``L(theta) + dof log(2 pi sigma^2) + r^2(theta) / sigma^2``, whose minimum over sigma
is the profiled criterion the fit minimises (:func:`shrinkage.reml.criterion`).
"""

import math
import warnings
from statistics import NormalDist

import numpy as np
import pandas as pd
from scipy import optimize

from .predict import normal_quantile
from .reml import Blocks, cluster_terms, generalised_least_squares, theta_of


def _parts(theta, blocks):
    """``L(theta)`` and ``r^2(theta)`` in the standardised units, or None off the domain."""
    l1, l2, l3 = theta
    d11, d12, d22 = l1 * l1, l1 * l2, l2 * l2 + l3 * l3
    delta, w, h, yvy = cluster_terms(d11, d12, d22, (l1 * l3) ** 2, blocks)
    _, det_s, beta, rss = generalised_least_squares(w, h, yvy)
    if beta is None or not rss > 0 or not np.all(delta > 0):
        return None
    return np.log(delta).sum() + (math.log(det_s) if blocks.reml else 0.0), rss


class Profile:
    """The criterion of a fit as a function of its variance parameters, in the data's units.

    Parameters are ``sd_intercept, correlation, sd_slope, sigma`` for the random-slope
    model and ``sd_intercept, sigma`` for the random-intercept model.
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
        else:
            self.names = ["sd_intercept", "sigma"]
            self.estimate = np.array([math.sqrt(v["intercept"]), math.sqrt(v["residual"])])
        self.minimum = self.criterion(self.estimate)

    def criterion(self, p):
        """The criterion (original units) at the parameters ``p``; inf off the domain."""
        if self.fit.model == "slope":
            sd0, corr, sd1, sigma = p
            cov = np.array([[sd0 * sd0, corr * sd0 * sd1], [corr * sd0 * sd1, sd1 * sd1]])
        else:
            sd0, sigma = p
            cov = np.array([[sd0 * sd0, 0.0], [0.0, 0.0]])
        if not (sigma > 0 and sd0 >= 0 and (self.fit.model == "intercept"
                                             or (sd1 >= 0 and abs(corr) <= 1))):
            return math.inf
        d_s = self.m_inv @ (cov / (sigma * sigma)) @ self.m_inv.T
        parts = _parts(theta_of(d_s), self.blocks)
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

    def profiled(self, index, value, start):
        """The criterion minimised over the other parameters with ``p[index] = value``."""
        others = [i for i in range(len(self.names)) if i != index]
        scale = np.array([max(abs(self.estimate[i]), 1e-8) if self.names[i] != "correlation"
                          else 1.0 for i in others])
        bounds = [(lo / s if lo is not None else None, hi / s if hi is not None else None)
                  for (lo, hi), s in zip([self._bounds()[i] for i in others], scale)]

        def objective(q):
            p = np.empty(len(self.names))
            p[index], p[others] = value, q * scale
            return self.criterion(p)

        result = optimize.minimize(objective, start[others] / scale, method="L-BFGS-B",
                                   bounds=bounds, options={"ftol": 1e-14, "gtol": 1e-10})
        point = np.empty(len(self.names))
        point[index], point[others] = value, result.x * scale
        return min(result.fun, objective(start[others] / scale)), point

    def interval(self, index, level=0.95):
        """``(lower, upper)`` of the profile interval of parameter ``index``."""
        threshold = NormalDist().inv_cdf(0.5 + level / 2) ** 2
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

        def excess(value, start):
            level, point = self.profiled(index, value, start)
            return level - self.minimum - threshold, point

        scale = 1.0 if name == "correlation" else max(estimate, 1e-3 * self.estimate[-1])
        near, start, step = estimate, self.estimate, 0.1 * scale
        for _ in range(100):
            # Toward a bound, at most half the way left: no step jumps onto another branch.
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


def conf_int(fit, level=0.95):
    """Wald intervals for the fixed effects, profile intervals for the variance parameters.

    Parameters
    ----------
    fit : shrinkage.MixedFit
    level : float, default 0.95
        The coverage, in (0, 1).

    Returns
    -------
    pandas.DataFrame
        Index: ``Intercept``, the predictor's name, then ``sd_intercept``,
        ``correlation``, ``sd_slope`` (random-slope model) and ``sigma``; columns
        ``lower, upper``.  lme4: ``confint(fit, parm = "beta_", method = "Wald")`` and
        ``confint(fit, parm = "theta_", method = "profile", oldNames = FALSE)``.  The
        Wald intervals use the fit's own standard errors; the profile intervals are
        those of the maximum-likelihood fit (see the module's notes).  An end at a
        bound (a standard deviation of 0, a correlation of +-1) means the profile stays
        within the level up to the bound.  An end that cannot be found is NaN, named
        in ``result.attrs["not_found"]`` and in an :class:`IntervalWarning`.
    """
    z = normal_quantile(level)
    fe = fit.fixed_effects
    rows = {name: (row.estimate - z * row.std_error, row.estimate + z * row.std_error)
            for name, row in fe.iterrows()}
    profile = Profile(fit)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        # A trial point off the domain is simply infinite; that is not news to the reader.
        warnings.simplefilter("ignore", RuntimeWarning)
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
