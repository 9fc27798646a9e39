"""The REML engine for ``y ~ X + (x | cluster)``: lme4's profiled criterion, exactly.

The mixed model is fitted by minimising lme4's profiled REML criterion over the
relative covariance factor ``theta`` (Bates et al. 2015, *J. Stat. Softw.* 67(1),
section 3).  With one random intercept and slope per cluster (``Z = [1, x]``) and any
``p`` fixed-effect columns ``X``, the criterion and its exact gradient are sums over
clusters of closed-form 2 x 2 expressions (:func:`cluster_terms`, used by the criterion
and the estimates alike); each is linear in the entries of the relative covariance, so
one matrix product gives them all.  The random-intercept model is the case ``D =
diag(d11, 0)``, uncorrelated effects (lme4's ``(x || g)``) the case ``d12 = 0``.  The
engine works on standardised ``x``, ``X`` and ``y`` (:class:`ClusterSums`; REML is
equivariant under such changes), so the same tolerances hold at any scale.

:func:`verify_optimum` checks a point: the local quadratic model of the criterion
(exact gradient, Hessian from differences of the gradient), minimised over the
feasible region, must promise a decrease of at most ``OPTIMALITY_TOL`` criterion
units.  :mod:`shrinkage.fit`, the public API, refuses any fit that fails it.
"""

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.linalg import lapack

# Largest decrease of the REML criterion (in its own units, -2 log-likelihood) that
# the local quadratic model may still promise at an accepted optimum.
OPTIMALITY_TOL = 1e-6
_BOUNDED = (0, 2)  # theta[0] and theta[2] are standard deviations: >= 0
_EPS = np.finfo(float).eps


class UnidentifiableError(ValueError):
    """The data cannot identify the model's random effects (lme4 refuses them too)."""


class ConvergenceError(RuntimeError):
    """The optimiser did not reach a verified REML optimum."""


def _standardise(values, centre=True):
    """Centre (or not) and scale ``values`` without overflow; return (standardised, centre, scale).

    Values that do not vary (a random-intercept model without an ``x``) are returned as
    zeros with scale 1.
    """
    peak = np.abs(values).max(initial=0.0)
    if peak == 0:
        return np.zeros_like(values, dtype=float), 0.0, 1.0
    unit = values / peak
    middle = unit.mean() if centre else 0.0
    scale = math.sqrt(np.mean((unit - middle) ** 2))
    if scale == 0:
        return np.zeros_like(unit), middle * peak, 1.0
    return (unit - middle) / scale, middle * peak, scale * peak


@dataclass
class ClusterSums:
    """Per-cluster sums of standardised data, and the standardisation itself.

    The random effects' design is ``Z = [1, x]``; the fixed effects' is ``X`` (``p``
    columns), standardised to orthogonal columns of mean square 1, ``X_s = X T``; and
    ``y_s = (y - X line) / y_scale``, the least-squares residual scaled to mean square 1.
    ``x_s = (x - x_centre) / x_scale`` (not centred for uncorrelated random effects, whose
    covariance is diagonal in ``x``'s own origin; zero for random intercepts).  Each
    cluster is summarised by its size, the mean and centred sum of squares of ``x_s``, and
    for the columns ``u`` of
    ``[X_s, y_s]`` their means, centred cross-products with ``x_s`` and with each other, and
    the cross-products of their residuals around the cluster's own line in ``x_s``.
    """

    n: np.ndarray
    xbar: np.ndarray
    sxx: np.ndarray
    means: np.ndarray    # (k, G), k = p + 1: the columns of X_s, then y_s
    sx: np.ndarray       # (k, G)
    cross: np.ndarray    # (k, k, G)
    resid: np.ndarray    # (k, k, G)
    x_centre: float
    x_scale: float
    line: np.ndarray     # least-squares fixed effects, original units
    to_fixed: np.ndarray  # T: fixed effects = line + y_scale T beta_s
    log_det_t: float
    y_scale: float
    y_precision: float   # rounding error of y_s: below it, y_s values are noise

    @classmethod
    def from_columns(cls, cols, model="slope"):
        """The sums of a fit's data (:class:`shrinkage.columns.Columns`) for ``model``."""
        # Z = [1] for random intercepts: x's own lines would explain what they cannot.
        xs, x_centre, x_scale = _standardise(cols.x if model != "intercept" else 0 * cols.x,
                                             centre=model != "uncorrelated")
        fixed = cols.fixed
        nobs, p = fixed.shape
        peaks = np.abs(fixed).max(axis=0)
        q, r = np.linalg.qr(fixed / peaks)
        # y centred first where the design holds a constant (then centring changes no
        # fitted value): data such as 1e13 + noise keep every digit of the noise.
        ones = np.ones(nobs)
        constant = np.linalg.norm(ones - q @ (q.T @ ones)) <= 1e-9 * math.sqrt(nobs)
        magnitude = np.abs(cols.y).max()
        y_centre = (float(np.mean(cols.y / magnitude) * magnitude)
                    if constant and magnitude > 0 else 0.0)
        centred = cols.y - y_centre
        peak = np.abs(centred).max()
        unit = centred / peak if peak > 0 else centred
        coef = q.T @ unit
        resid = unit - q @ coef
        correction = q.T @ resid  # a second projection: the residual orthogonal to rounding
        resid -= q @ correction
        coef += correction
        spread = math.sqrt(np.mean(resid * resid))
        if spread == 0:
            raise UnidentifiableError(
                f"{cols.names['y']} is fitted exactly by the fixed effects, so the model has "
                "no residual variance to estimate")
        to_line = np.linalg.solve(r, np.eye(p)) / peaks[:, None]  # coefficients of q's columns
        line = to_line @ coef * peak
        if y_centre:
            # The centre goes to the intercept column exactly where there is one (through
            # the projection, rounding at 1e-16 of a large centre would show).
            flat = np.flatnonzero((fixed == fixed[0]).all(axis=0) & (fixed[0] != 0))
            if len(flat):
                line[flat[0]] += y_centre / fixed[0, flat[0]]
            else:
                line += to_line @ (q.T @ ones) * y_centre
        y_scale = spread * peak
        u = np.column_stack([q * math.sqrt(nobs), resid / spread])
        moments = cluster_moments(cols.codes, len(cols.labels), xs, u)
        return cls(*moments, x_centre, x_scale, line, to_line * math.sqrt(nobs),
                   float(-np.log(peaks).sum() - np.log(np.abs(np.diag(r))).sum()
                         + p / 2 * math.log(nobs)),
                   y_scale, y_precision=8 * _EPS / spread)

    @property
    def nobs(self):
        return int(self.n.sum())

    @property
    def p(self):
        """The number of fixed effects."""
        return self.means.shape[0] - 1

    # The response's own moments, as the starts and checks read them.
    @property
    def ybar(self):
        return self.means[-1]

    @property
    def sxy(self):
        return self.sx[-1]

    @property
    def rss(self):
        """Residual sum of squares of y_s around each cluster's own line."""
        return self.resid[-1, -1]

    def within_rss(self):
        """y_s's residual sum of squares around each cluster's own line and the fixed effects
        (what no variance parameter can explain)."""
        total = self.resid.sum(axis=-1)
        p = self.p
        coef = np.linalg.lstsq(total[:p, :p], total[:p, p], rcond=1e-12)[0]
        return float(total[p, p] - total[p, :p] @ coef)

    def blocks(self, reml=True):
        """The criterion's constants for these sums (:class:`Blocks`), made once per method."""
        made = self.__dict__.setdefault("_blocks", {})
        if reml not in made:
            made[reml] = Blocks(self, reml)
        return made[reml]

    def to_standard(self):
        """``M`` with ``[1, x_s] = [1, x] M``: maps standardised random effects to original."""
        return np.array([[1.0, -self.x_centre / self.x_scale], [0.0, 1.0 / self.x_scale]])

    def criterion_offset(self, reml=True):
        """Original-unit criterion minus the standardised one (equivariance).

        Rescaling y by ``a`` adds ``2 log|a|`` per degree of freedom (``n - p`` for
        REML, ``n`` for ML); ``X_s = X T`` changes only REML's ``log det S``, by
        ``2 log|det T|``; ``x_s`` only reparametrises the random effects' covariance.
        """
        if not reml:
            return 2 * self.nobs * math.log(self.y_scale)
        return -2 * self.log_det_t + 2 * (self.nobs - self.p) * math.log(self.y_scale)


def cluster_moments(codes, groups, x, u):
    """Per-cluster size, mean and centred sum of squares of ``x``, and for the columns of
    ``u``: means, centred cross-products with ``x`` and with each other, and
    cross-products of their residuals around the cluster's own line in ``x``.

    The residual cross-products are summed from the residuals themselves:
    ``s_uv - s_xu s_xv / sxx`` would lose residuals below ``1e-8`` of the spread to
    cancellation.
    """
    n = np.bincount(codes, minlength=groups).astype(float)
    xbar = np.bincount(codes, x, groups) / n
    dx = x - xbar[codes]
    sxx = np.bincount(codes, dx * dx, groups)
    k = u.shape[1]
    means = np.array([np.bincount(codes, column, groups) for column in u.T]) / n
    du = u - means.T[codes]
    sx = np.array([np.bincount(codes, dx * column, groups) for column in du.T])
    slope = np.divide(sx, sxx, out=np.zeros_like(sx), where=sxx > 0)
    ru = du - slope.T[codes] * dx[:, None]
    cross, resid = np.empty((k, k, groups)), np.empty((k, k, groups))
    for a, b in zip(*np.triu_indices(k)):
        cross[a, b] = cross[b, a] = np.bincount(codes, du[:, a] * du[:, b], groups)
        resid[a, b] = resid[b, a] = np.bincount(codes, ru[:, a] * ru[:, b], groups)
    return n, xbar, sxx, means, sx, cross, resid


class Blocks:
    """The per-cluster constants of the criterion, computed once per fit.

    With ``A = Z'Z`` for a cluster, ``D`` the relative covariance and ``u``, ``v`` any two
    columns of ``[X_s, y_s]``, every quantity the criterion needs is a closed form in
    ``D`` whose terms keep their sign, written with centred sums so that nothing cancels:

    * ``det(I + A D) = 1 + tr(D A) + det(D) det(A)``;
    * ``Z'V^-1 Z = (A + det(A) adj(D)) / det(I + A D)``;
    * ``Z'V^-1 u = ((1 + tr(A D)) c_u - A D c_u) / det(I + A D)``, ``c_u = Z'u``;
    * ``u'V^-1 v = (u'v + <D, E_uv> + det(D) det(A) r_uv) / det(I + A D)``, where ``r_uv``
      is the cross-product of u's and v's residuals around the cluster's own line.

    Each is linear in ``(1, d11, d12, d22, det D)``: ``linear`` and ``pair_sums`` hold the
    per-cluster coefficients, so that matrix products give them all at any ``D``.  ``reml``
    chooses the criterion: REML's (with ``log det S`` and ``n - p`` degrees of freedom)
    or maximum likelihood's deviance (``n``).
    """

    def __init__(self, s, reml=True):
        n, xb = s.n, s.xbar
        a, b, c = n, n * xb, s.sxx + n * xb * xb
        det_a = n * s.sxx
        m, sx = s.means, s.sx
        k = m.shape[0]
        self.k, self.p = k, k - 1
        hu = n * sx                            # per column (k, G)
        hv = n * (s.sxx * m - xb * sx)
        c1, c2 = n * m, sx + n * xb * m
        # Every (row, column) pair, both triangles: the sums then fill Q by one reshape.
        rows, cols = np.divmod(np.arange(k * k), k)
        ma, mb, sxa, sxb = m[rows], m[cols], sx[rows], sx[cols]
        cr, rr = s.cross[rows, cols], s.resid[rows, cols]
        mixed = ma * sxb + mb * sxa
        uv = cr + n * ma * mb
        e11 = n * cr
        e12 = n * (xb * cr - mixed / 2)
        e22 = s.sxx * rr + n * (ma * mb * s.sxx - xb * mixed + xb * xb * cr)
        det3 = n * s.sxx * rr
        self.reml = reml
        self.dof = s.nobs - self.p if reml else s.nobs
        zero, one = np.zeros_like(n), np.ones_like(n)
        zeros = np.zeros_like(hu)
        # Rows: delta; w11, w12, w22; h1 (k columns); h2 (k); u'V^-1 v (the pairs).
        # Columns: the coefficients of 1, d11, d12, d22 and det D.
        self.groups = len(n)
        self.linear = np.stack([
            np.concatenate([[one], [a], [b], [c], c1, c2]),
            np.concatenate([[a], [zero], [zero], [det_a], zeros, hu]),
            np.concatenate([[2 * b], [zero], [-det_a], [zero], -hu, -hv]),
            np.concatenate([[c], [det_a], [zero], [zero], hv, zeros]),
            np.concatenate([[det_a], [zero], [zero], [zero], zeros, zeros]),
        ]).reshape(5, -1)
        # The pairs' terms are only ever summed over clusters (weighted by 1 / delta):
        # one (5 x pairs, G) matrix, so that a matrix-vector product gives the sums.
        self.pair_sums = np.stack([uv, e11, 2 * e12, e22, det3]).reshape(-1, self.groups)


def _relative_covariance(theta, swap=False):
    """``(d11, d12, d22)`` of ``D = L L'``, or of ``P L L' P`` with P swapping the axes.

    The lower factor L turns nearly flat (a free rotation) when ``d11`` is near zero;
    the swapped one when ``d22`` is.  The fit uses the one whose leading variance is
    the larger, so the optimiser never meets that flat direction.
    """
    l1, l2, l3 = theta
    lead, cross, other = l1 * l1, l1 * l2, l2 * l2 + l3 * l3
    return (other, cross, lead) if swap else (lead, cross, other)


def _factor_of(d, swap=False):
    """The inverse of :func:`_relative_covariance`: theta for a PSD 2 x 2 ``d``."""
    return theta_of(d[::-1, ::-1] if swap else d)


def cluster_terms(d11, d12, d22, det_d, k):
    """The per-cluster blocks at the relative covariance ``D``.

    Returns ``delta = det(I + A D)`` over clusters, ``W = Z'V^-1 Z`` as a ``(3, G)``
    array of rows ``w11, w12, w22``, ``H = Z'V^-1 [X_s, y_s]`` as a ``(2, k, G)`` array,
    and ``Q = [X_s, y_s]' V^-1 [X_s, y_s]`` summed over clusters, ``(k, k)`` (see
    :class:`Blocks`).  ``det_d`` is passed in because the caller knows it without
    cancellation (``(L11 L22)^2``).
    """
    coefficients = np.array([1.0, d11, d12, d22, det_d])
    terms = (coefficients @ k.linear).reshape(-1, k.groups)
    delta = terms[0]
    ratios = terms[1:] / delta
    w = ratios[:3]
    h = ratios[3:].reshape(2, k.k, k.groups)
    q = (coefficients @ (k.pair_sums @ (1.0 / delta)).reshape(5, -1)).reshape(k.k, k.k)
    return delta, w, h, q


def generalised_least_squares(q, p):
    """The fixed effects' precision ``S``, its log determinant, ``S^-1``, ``S^-1 t`` and
    the residual sum.

    ``q`` is ``[X_s, y_s]' V^-1 [X_s, y_s]``.  Returns ``(s, log_det_s, s_inv, beta, rss)``;
    all but ``s`` are None where ``S`` is not positive definite in floating point.
    """
    s = q[:p, :p]
    # LAPACK directly: S has a row per fixed effect, and numpy's wrappers would cost more
    # than the factorisation.  The inverse serves the fixed effects and the gradient alike.
    factor, info = lapack.dpotrf(s, lower=True)  # (the upper triangle zeroed)
    if info != 0:
        return s, None, None, None, None
    lower, info = lapack.dpotri(factor, lower=True)  # the inverse's lower triangle
    diagonal = factor.diagonal()
    s_inv = lower + lower.T  # dpotri leaves the zeroed upper triangle as it was
    s_inv.flat[::p + 1] = lower.flat[::p + 1]
    t = q[:p, p]
    beta = s_inv @ t
    return s, 2 * np.log(diagonal).sum(), s_inv, beta, q[p, p] - t @ beta


def _scores(h, beta):
    """``g_j = Z_j'V_j^-1 (y_j - X_j beta)``, as a ``(2, G)`` array."""
    return h[:, -1, :] - np.einsum("akg,k->ag", h[:, :-1, :], beta)


def criterion(theta, k, gradient=True, swap=False):
    """Standardised REML criterion (or ML deviance) at ``theta``, optionally with its gradient.

    The gradient follows from d log det V = tr(V^-1 dV), d V^-1 = -V^-1 dV V^-1 and
    the envelope theorem for the profiled residual sum of squares: with
    ``W_j = Z_j'V_j^-1 Z_j``, ``H_j = Z_j'V_j^-1 X_j``, ``S = sum X_j'V_j^-1 X_j`` and
    ``g_j = Z_j'V_j^-1 (y_j - X_j beta)``,
    ``df/dD = sum W_j - sum H_j S^-1 H_j' - (n - p) / r^2 sum g_j g_j'`` and
    ``df/dLambda = 2 (df/dD) Lambda``.  Maximum likelihood has no ``log det S`` term,
    so no ``H S^-1 H'`` term, and ``n`` in place of ``n - p``.
    """
    l1, l2, l3 = theta
    d11, d12, d22 = _relative_covariance(theta, swap)
    delta, w, h, q = cluster_terms(d11, d12, d22, (l1 * l3) ** 2, k)
    _, log_det_s, s_inv, beta, rss = generalised_least_squares(q, k.p)
    # Only where floating point gives up, far from any optimum.
    if beta is None or not rss > 0 or not delta.min() > 0:
        return (np.inf, np.zeros(3)) if gradient else np.inf
    dof = k.dof
    value = (np.log(delta).sum() + (log_det_s if k.reml else 0.0)
             + dof * (1 + math.log(2 * math.pi * rss / dof)))
    if not gradient:
        return value
    g = _scores(h, beta)
    w11, w12, w22 = w.sum(axis=1)
    m = np.array([[w11, w12], [w12, w22]])
    if k.reml:
        hx = h[:, :-1, :]  # sum_j H_j S^-1 H_j'
        m -= np.einsum("akg,kl,blg->ab", hx, s_inv, hx)
    m -= dof / rss * (g @ g.T)
    m11, m12, m22 = m[0, 0], m[0, 1], m[1, 1]
    if swap:
        m11, m22 = m22, m11
    grad = np.array([2 * (m11 * l1 + m12 * l2), 2 * (m12 * l1 + m22 * l2), 2 * m22 * l3])
    return value, grad


def estimates(d, k):
    """Fixed effects, their precision matrix S, residual variance and the modes at D."""
    l1, _, l3 = theta_of(d)
    _, _, h, q = cluster_terms(d[0, 0], d[0, 1], d[1, 1], (l1 * l3) ** 2, k)
    s, _, _, beta, rss = generalised_least_squares(q, k.p)
    g = _scores(h, beta)
    return beta, s, rss / k.dof, d @ g  # b_j = D g_j


def reml_criterion(theta, sums):
    """lme4's profiled REML criterion (-2 REML log-likelihood) at ``theta``.

    Parameters
    ----------
    theta : array_like
        ``[L11, L21, L22]``, lme4's relative covariance factor, in the data's units.
    sums : ClusterSums
        The data's per-cluster sums.

    Returns
    -------
    float
    """
    lam = _lower_factor(np.asarray(theta, float))
    m_inv = np.linalg.inv(sums.to_standard())
    lam_s = m_inv @ lam  # D_s = M^-1 D M^-T
    return float(criterion(theta_of(lam_s @ lam_s.T), Blocks(sums), gradient=False)
                 + sums.criterion_offset())


def _lower_factor(theta):
    return np.array([[theta[0], 0.0], [theta[1], theta[2]]])


def theta_of(d):
    """lme4's theta for a positive semi-definite ``d``: its lower Cholesky factor."""
    l1 = math.sqrt(max(d[0, 0], 0.0))
    l2 = d[1, 0] / l1 if l1 > 0 else 0.0
    return np.array([l1, l2, math.sqrt(max(d[1, 1] - l2 * l2, 0.0))])


def _starts(sums, model="slope"):
    """A moment-based start, lme4's default start ``[1, 0, 1]`` and ``[0.1, 0, 0.1]``.

    For the random-intercept model only the first element of each start is used.
    """
    if model == "intercept":
        return _intercept_starts(sums)
    starts = []
    full = (sums.n >= 3) & (sums.sxx > 1e-8 * sums.n)
    if full.sum() >= 3:
        n, xb, sxx = sums.n[full], sums.xbar[full], sums.sxx[full]
        slope = sums.sxy[full] / sxx
        coef = np.stack([sums.ybar[full] - slope * xb, slope])
        sigma2 = max(sums.rss[full].sum() / (n - 2).sum(), 1e-300)
        # Between-cluster spread of the own estimates, less their sampling variance.
        sampling = np.array([[(sxx + n * xb * xb) / (n * sxx), -xb / sxx],
                             [-xb / sxx, 1 / sxx]]).mean(-1)
        raw = np.cov(coef) / sigma2
        d = raw - sampling
        # Kept positive definite axis by axis, so that very unequal variances survive.
        sd = np.sqrt(np.maximum(np.diag(d), np.maximum(0.1 * np.diag(raw), 1e-6)))
        corr = np.clip(d[0, 1] / (sd[0] * sd[1]), -0.95, 0.95)
        if np.isfinite(sd).all() and np.isfinite(corr):
            starts.append(theta_of(np.array([[sd[0] ** 2, corr * sd[0] * sd[1]],
                                              [corr * sd[0] * sd[1], sd[1] ** 2]])))
    # lme4's default, and a start near the boundary: the criterion can have a local
    # minimum at correlation +-1 beside a lower interior one, and this start reaches it.
    starts += [np.array([1.0, 0.0, 1.0]), np.array([0.1, 0.0, 0.1])]
    return starts


def _intercept_starts(sums):
    """Starts for the random-intercept model: moments, lme4's ``1`` and ``0.1``."""
    starts = []
    if len(sums.n) >= 2:
        sigma2 = max(sums.rss.sum() / max(sums.nobs - 2 * len(sums.n), 1), 1e-300)
        between = np.var(sums.ybar - (sums.xbar * (sums.sxy / np.where(sums.sxx > 0, sums.sxx, 1))).mean())
        d11 = max(between / sigma2 - np.mean(1 / sums.n), 1e-3)
        if np.isfinite(d11):
            starts.append(np.array([math.sqrt(d11), 0.0, 0.0]))
    return starts + [np.array([1.0, 0.0, 0.0]), np.array([0.1, 0.0, 0.0])]


# The elements of theta each model estimates; the others stay 0.
FREE = {"slope": (0, 1, 2), "intercept": (0,), "uncorrelated": (0, 2)}


class _Problem:
    """The criterion over ``phi = theta[free] / kappa`` in one ordering of the factor.

    ``kappa`` makes phi O(1): without it, data whose intercept and slope variances
    differ by orders of magnitude leave the optimiser badly scaled.  ``model`` picks
    the elements of theta that vary: all three (random slope) or ``L11`` alone
    (random intercept, whose ``D`` is ``diag(L11^2, 0)``).
    """

    def __init__(self, blocks, d, swap=None, model="slope"):
        self.blocks = blocks
        self.free = np.array(FREE[model])
        self.bounded = [i for i, element in enumerate(self.free) if element in _BOUNDED]
        self.swap = (bool(d[0, 0] < d[1, 1]) if swap is None else swap) and model == "slope"
        spread = np.sqrt(np.maximum(np.diag(d), 1.0))
        lead, other = (spread[1], spread[0]) if self.swap else (spread[0], spread[1])
        self.kappa = np.array([lead, other, other])[self.free]

    def theta(self, phi):
        theta = np.zeros(3)
        theta[self.free] = phi * self.kappa
        return theta

    def phi_of(self, d):
        return _factor_of(d, self.swap)[self.free] / self.kappa

    def covariance(self, phi):
        d11, d12, d22 = _relative_covariance(self.theta(phi), self.swap)
        return np.array([[d11, d12], [d12, d22]])

    def value_and_grad(self, phi):
        # A trial step may leave floating point's range; that point is simply infinite.
        with np.errstate(all="ignore"):
            value, grad = criterion(self.theta(phi), self.blocks, swap=self.swap)
        grad = grad[self.free]
        if not (np.isfinite(value) and np.isfinite(grad).all()):
            return np.inf, np.zeros(len(self.free))
        return value, grad * self.kappa

    def grad(self, phi):
        return self.value_and_grad(phi)[1]

    def hessian(self, phi):
        """Differences of the exact gradient; one-sided where a bound is in the way."""
        size = len(self.free)
        hess = np.empty((size, size))
        for i in range(size):
            step = 1e-5 * max(abs(phi[i]), 1.0)
            up, down = phi.copy(), phi.copy()
            up[i] += step
            if i in self.bounded and phi[i] - step < 0:
                hess[i] = (self.grad(up) - self.grad(phi)) / step
            else:
                down[i] -= step
                hess[i] = (self.grad(up) - self.grad(down)) / (2 * step)
        return (hess + hess.T) / 2

    def quadratic_step(self, phi):
        """The step minimising the local quadratic model over the box, and its decrease."""
        return _quadratic_step(phi, self.grad(phi), self.hessian(phi), self.bounded)

    def lower_bounds(self):
        return np.array([0.0 if i in self.bounded else -np.inf for i in range(len(self.free))])

    def minimise(self, phi):
        """L-BFGS-B from ``phi``; return the result."""
        bounds = [(0.0, None) if i in self.bounded else (None, None)
                  for i in range(len(self.free))]
        return optimize.minimize(self.value_and_grad, phi, jac=True, method="L-BFGS-B",
                                 bounds=bounds,
                                 options={"ftol": 1e-12, "gtol": 1e-9, "maxiter": 300})

    def polish(self, phi):
        """Newton steps on the bounded quadratic model until it promises nothing more."""
        value = self.value_and_grad(phi)[0]
        for _ in range(8):
            step, decrease = self.quadratic_step(phi)
            if decrease <= OPTIMALITY_TOL * 1e-7:
                break
            for _ in range(20):  # halve the step until the criterion does not increase
                trial_value = self.value_and_grad(phi + step)[0]
                if trial_value <= value:
                    phi, value = phi + step, trial_value
                    break
                step = step / 2
            else:
                break
        return phi


def _quadratic_step(phi, grad, hess, bounded):
    """Minimise the local quadratic model over the feasible box; return (step, decrease).

    The Hessian's eigenvalues are floored at a small positive fraction of the largest,
    so the model is convex; its minimum over the box is the best of the points that
    fix some ``bounded`` coordinates at their bound and solve for the others.
    """
    size = len(phi)
    values, vectors = np.linalg.eigh(hess)
    top = max(values.max(), 1e-300)
    hess = (vectors * np.maximum(values, 1e-9 * top)) @ vectors.T
    best, best_step = 0.0, np.zeros(size)
    subsets = [list(c) for r in range(len(bounded) + 1)
               for c in itertools.combinations(bounded, r)]
    for fixed in subsets:
        step = np.zeros(size)
        step[fixed] = -phi[fixed]
        free = [i for i in range(size) if i not in fixed]
        if free:
            rhs = -(grad[free] + hess[np.ix_(free, fixed)] @ step[fixed])
            step[free] = np.linalg.solve(hess[np.ix_(free, free)], rhs)
        if all(phi[i] + step[i] >= -1e-15 for i in bounded):
            change = grad @ step + 0.5 * step @ hess @ step
            if change < best:
                best, best_step = change, step
    for i in bounded:  # a bounded coordinate lands exactly on its bound, not below
        best_step[i] = max(best_step[i], -phi[i])
    return best_step, -best


def _as_covariance(theta):
    lam = _lower_factor(theta)
    return lam @ lam.T


def minimise(sums, model="slope", reml=True):
    """Optimise from each start, then polish the best; return the standardised D.

    Where the best point's larger variance is the slope's, it is optimised again with
    the factor ordered by it (see :func:`_relative_covariance`); Newton steps then
    finish from either.
    """
    blocks = sums.blocks(reml)
    best = None
    for start in _starts(sums, model):
        problem = _Problem(blocks, _as_covariance(start), swap=False, model=model)
        result = problem.minimise(problem.phi_of(_as_covariance(start)))
        if np.isfinite(result.fun) and (best is None or result.fun < best[0]):
            best = result.fun, problem.covariance(np.maximum(result.x, problem.lower_bounds()))
    if best is None:
        raise ConvergenceError("the criterion is not finite at any start")
    problem = _Problem(blocks, best[1], model=model)
    phi = problem.phi_of(best[1])
    if problem.swap:  # the factor reordered: optimise again in the new coordinates
        result = problem.minimise(phi)
        if result.fun <= best[0]:
            phi = np.maximum(result.x, problem.lower_bounds())
    return problem.covariance(problem.polish(phi))


def verify_optimum(d, sums, model="slope", reml=True):
    """How much the criterion could still fall near the standardised covariance ``d``.

    The local quadratic model (exact gradient, Hessian from its differences),
    minimised over the feasible region, gives the decrease; it is in criterion
    units, so it means the same at any scale and any number of rows.
    """
    problem = _Problem(sums.blocks(reml), d, model=model)
    return problem.quadratic_step(problem.phi_of(d))[1]


