"""The lowest REML criterion statsmodels' optimisers reach on settings R was not run on.

Writes ``statsmodels_optima.json`` beside this file: for each setting (arguments to
``shrinkage.create_data``), ``-2 * llf`` of ``MixedLM.fit(reml=True, method=...)`` for
each of bfgs, lbfgs and powell, and the lowest of them.  tests/test_fit.py checks that
the package's optimum is never above it.

    python tests/reference/statsmodels_optima.py
"""
import json
import warnings
from pathlib import Path

import numpy as np
import statsmodels
import statsmodels.formula.api as smf
from threadpoolctl import threadpool_limits

from shrinkage import create_data

# Other seeds, correlated effects, sparse unbalanced data with singleton clusters, a large
# intercept and slope, and 1,000 clusters.
SETTINGS = [
    dict(seed=1), dict(seed=4, cor=0.1), dict(seed=5, cor=-0.1, obs_per_cluster=5),
    dict(seed=6, balanced=0.2), dict(seed=9, obs_per_cluster=3, balanced=0.8),
    dict(seed=13, intercept=100, beta=-50),
    dict(seed=21, n_cluster=1000, obs_per_cluster=8),
]
METHODS = ("bfgs", "lbfgs", "powell")


def optima(args):
    data = create_data(**args)
    model = smf.mixedlm("y ~ x", data, groups=data["cluster"], re_formula="~x")
    reached = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in METHODS:
            try:
                reached[method] = -2 * model.fit(reml=True, method=method).llf
            except (np.linalg.LinAlgError, ValueError) as error:
                reached[method] = f"failed: {error}"
    numbers = [value for value in reached.values() if isinstance(value, float)]
    return {"args": args, "by_method": reached, "lowest": min(numbers)}


if __name__ == "__main__":
    threadpool_limits(1)
    out = Path(__file__).with_name("statsmodels_optima.json")
    cases = [optima(args) for args in SETTINGS]
    out.write_text(json.dumps({"statsmodels": statsmodels.__version__, "cases": cases},
                              indent=1) + "\n")
    print(f"wrote {out}")
