"""REML against the boundary-avoiding posterior over 50 draws of the few-observations setting.

    .venv/bin/python tests/reference/bayes_study.py tests/reference/bayes_study.json

For the seeds 1 to 50 of the article's few_obs setting (3 observations per cluster):
REML's fit (and whether it is singular) and NumPyro's posterior under the
boundary-avoiding prior (shrinkage.bayes.PRIORS, 2 chains of 500 warm-up and 1000 draws,
seeded with the draw's seed); per draw, each method's mean squared error of the clusters'
intercepts and slopes against the truth, and its 95% intervals' coverage and mean width
(shrinkage.bayes.study_draw).  Too slow for a page (about five seconds a draw), so the
numbers are kept here, a copy ships in shrinkage/datasets/, and
tests/test_bayes.py reruns two draws against them.
"""
import json
import sys
import time

import numpy as np

from shrinkage import bayes

SEEDS = range(1, 51)
SAMPLER = {"warmup": 500, "draws": 1000, "chains": 2}


def main(out):
    import jax
    import numpyro

    start = time.perf_counter()
    rows = [bayes.study_draw(seed, **SAMPLER) for seed in SEEDS]
    result = {"setting": "few_obs", "prior": "boundary-avoiding", "level": 0.95,
              "sampler": SAMPLER, "draws": rows,
              "versions": {"numpyro": numpyro.__version__, "jax": jax.__version__,
                           "numpy": np.__version__},
              "seconds": round(time.perf_counter() - start, 1)}
    with open(out, "w") as handle:
        json.dump(result, handle, indent=1)
        handle.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
