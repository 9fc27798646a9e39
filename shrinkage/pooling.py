"""No pooling and complete pooling: the two least-squares answers a mixed model lies between.

* **no pooling**: each cluster's own least-squares line, like R's
  ``lmList(y ~ x | cluster)``;
* **complete pooling**: one least-squares line for all rows, clusters ignored.
"""

import numpy as np
import pandas as pd

from .columns import Columns
from .reml import cluster_moments


def own_lines(cols):
    """Each cluster's least-squares line (lmList): size, intercept and slope (or NaN)."""
    n, xbar, sxx, means, sx, _, _ = cluster_moments(cols.codes, len(cols.labels), cols.x,
                                                    cols.y[:, None])
    ybar, sxy = means[0], sx[0]
    sumsq_x = np.bincount(cols.codes, cols.x * cols.x, len(cols.labels))
    # lm's QR pivoting drops x when its centred norm is below 1e-7 of its raw norm.
    varies = (n > 1) & (np.sqrt(sxx) > 1e-7 * np.sqrt(sumsq_x))
    slope = np.where(varies, sxy / np.where(varies, sxx, 1.0), np.nan)
    intercept = ybar - np.where(varies, slope, 0.0) * xbar
    return n.astype(int), intercept, slope


def no_pooling(data, y="y", x="x", cluster="cluster"):
    """Each cluster's own least-squares intercept and slope, like R's ``lmList``.

    A cluster with one observation, or whose x values do not vary, gets an
    intercept (its mean y) and a missing slope, as ``lm`` gives ``NA`` for an
    aliased coefficient.  Rows with a missing value are left out.

    Parameters
    ----------
    data : pandas.DataFrame
    y, x, cluster : str
        The names of the response, predictor and cluster columns.

    Returns
    -------
    pandas.DataFrame
        Columns ``cluster, n, ols_intercept, ols_slope``, one row per cluster, in
        the sorted order of the cluster labels.
    """
    cols = Columns.from_frame(data, y, x, cluster)
    n, intercept, slope = own_lines(cols)
    return pd.DataFrame({"cluster": cols.labels, "n": n, "ols_intercept": intercept,
                         "ols_slope": slope})


def complete_pooling(data, y="y", x="x"):
    """One least-squares line for all rows, clusters ignored: ``[intercept, slope]``."""
    design = np.column_stack([np.ones(len(data)), data[x].to_numpy(float)])
    return np.linalg.lstsq(design, data[y].to_numpy(float), rcond=None)[0]
