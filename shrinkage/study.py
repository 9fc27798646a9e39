"""A simulation study: does partial pooling pay, replicate after replicate?

One draw of a scenario is one seed's story.  :func:`simulation_study` repeats a
setting with the seeds ``first_seed, first_seed + 1, ...``: each replicate
simulates the data with the true cluster effects, fits the mixed model and
records the estimation errors of no, complete and partial pooling, the median
shrinkage fractions, the fitted variance components and whether the fit is
singular.

Replicates run in parallel through joblib: on the local cores by default, or on
any joblib backend the caller activates (``joblib.parallel_config(backend=...)``),
for example a Dask cluster with ``dask.distributed``.  Each replicate depends
only on its seed, so the numbers are the same for every backend and job count.
"""

import math
import os
import sys
from dataclasses import replace

import numpy as np
import pandas as pd

from .data import Settings, is_integer, simulate
from .fit import ConvergenceError, fit_models
from .measure import estimation_error, shrinkage_fraction
from .predict import cluster_intervals
from .progress import ProgressBar

MAX_REPLICATES = 1_000_000
_SEED_LIMIT = 2**31 - 1  # R's integer range, for set.seed
METHODS = {"no pooling": "none", "complete pooling": "complete", "partial pooling": "partial"}
COLUMNS = (["seed", "converged", "singular"]
           + [f"rmse_{part}_{short}" for short in METHODS.values()
              for part in ("intercept", "slope")]
           + ["shrinkage_intercept", "shrinkage_slope",
              "sd_intercept", "sd_slope", "correlation", "sigma"]
           + [f"{kind}_{part}" for kind in ("cover", "extreme", "extreme_covered")
              for part in ("intercept", "slope")])
# Nominal coverage of the intervals whose coverage a study measures, and how far out (in
# true standard deviations) a cluster's true effect must lie to count as extreme.
COVERAGE_LEVEL = 0.95
EXTREME_SD = 2.5


def run_replicate(settings, seed):
    """Simulate ``settings`` with ``seed``, fit, and measure: one row of the study.

    Returns
    -------
    dict
        The keys of :data:`COLUMNS`.  A fit that cannot be verified as the REML
        optimum has ``converged`` False and missing values elsewhere: it is
        counted, never used.
    """
    data, truth = simulate(replace(settings, seed=int(seed)), with_truth=True)
    try:
        fit = fit_models(data)
    except ConvergenceError:
        row = dict.fromkeys(COLUMNS, math.nan)
        row.update(seed=int(seed), converged=False, singular=False)
        return row
    return replicate_row(fit, data, truth, seed, settings)


def replicate_row(fit, data, truth, seed, settings):
    """The study's row for a fit already made: errors against ``truth``, shrinkage,
    variances, and how often the clusters' intervals cover their true lines.

    Parameters
    ----------
    fit : shrinkage.MixedFit
        The fit of ``data``, as :func:`shrinkage.fit_models` returns it.
    data, truth : pandas.DataFrame
        ``simulate(settings, with_truth=True)``.
    seed : int
        The seed that drew ``data``, stored in the row.
    settings : shrinkage.Settings
        The settings that drew them, for the true average and spread.

    Notes
    -----
    ``cover_intercept`` and ``cover_slope`` are the shares of clusters whose true
    intercept (slope) lies in its ``COVERAGE_LEVEL`` interval (:func:`cluster_intervals`);
    ``extreme_*`` count the clusters whose true effect lies more than ``EXTREME_SD`` true
    standard deviations from the average, and ``extreme_covered_*`` those of them covered.
    """
    row = dict.fromkeys(COLUMNS, math.nan)
    errors = estimation_error(fit, data, truth).loc[list(METHODS), ["intercept", "slope"]]
    for short, (intercept, slope) in zip(METHODS.values(), errors.to_numpy()):
        row[f"rmse_intercept_{short}"], row[f"rmse_slope_{short}"] = float(intercept), float(slope)
    fractions = shrinkage_fraction(fit)
    v = fit.variance
    row.update(seed=int(seed), converged=True, singular=bool(fit.singular),
               shrinkage_intercept=float(fractions["intercept"].median()),
               shrinkage_slope=float(fractions["slope"].median()),
               sd_intercept=math.sqrt(v["intercept"]), sd_slope=math.sqrt(v["slope"]),
               correlation=float(v["correlation"]), sigma=math.sqrt(v["residual"]))
    row.update(_coverage(fit, truth, settings))
    return row


def _coverage(fit, truth, settings):
    """The coverage columns of a replicate's row (see :func:`replicate_row`)."""
    intervals = cluster_intervals(fit, COVERAGE_LEVEL)
    at = pd.Index(truth["cluster"]).get_indexer(intervals["cluster"])
    found = at >= 0
    counts = {}
    for part, average, sd in (("intercept", settings.intercept, settings.sd_int),
                              ("slope", settings.beta, settings.sd_slope)):
        true = truth[part].to_numpy(float)[at[found]]
        inside = ((intervals[f"{part}_lower"].to_numpy()[found] <= true)
                  & (true <= intervals[f"{part}_upper"].to_numpy()[found]))
        with np.errstate(divide="ignore", invalid="ignore"):
            extreme = np.abs(true - average) / sd > EXTREME_SD
        counts[f"cover_{part}"] = float(inside.mean())
        counts[f"extreme_{part}"] = int(extreme.sum())
        counts[f"extreme_covered_{part}"] = int((inside & extreme).sum())
    return counts


def _run_batch(settings, seeds):
    return [run_replicate(settings, seed) for seed in seeds]


def simulation_study(settings=None, replicates=200, first_seed=1, n_jobs=None, progress=False):
    """Repeat a setting over many seeds and measure every replicate.

    Parameters
    ----------
    settings : shrinkage.Settings, optional
        The setting to repeat (default: the baseline); its ``seed`` is ignored.
    replicates : int, default 200
        Number of replicates, between 1 and 1,000,000.
    first_seed : int, default 1
        Replicate ``i`` (from 0) uses the seed ``first_seed + i``.
    n_jobs : int, optional
        Parallel jobs; by default -1, every core of the active joblib backend: the
        local cores, or the workers of a Dask cluster inside
        ``joblib.parallel_config(backend="dask")``.
    progress : bool, default False
        Show a progress bar on standard error.

    Returns
    -------
    pandas.DataFrame
        One row per replicate, in seed order, with the columns of :data:`COLUMNS`.
        The same arguments give the same frame on every backend.

    Raises
    ------
    ValueError
        If ``replicates``, ``first_seed`` or ``n_jobs`` is out of range.
    """
    from joblib import Parallel, delayed

    settings = Settings() if settings is None else settings
    if not is_integer(replicates) or not 1 <= replicates <= MAX_REPLICATES:
        raise ValueError(f"replicates must be an integer in [1, {MAX_REPLICATES:,}], "
                         f"got {replicates!r}")
    if not is_integer(first_seed) or not (
            -_SEED_LIMIT <= first_seed and first_seed + replicates - 1 <= _SEED_LIMIT):
        raise ValueError("first_seed must be an integer with first_seed + replicates - 1 in "
                         f"[-{_SEED_LIMIT}, {_SEED_LIMIT}], got {first_seed!r}")
    if n_jobs is not None and (not is_integer(n_jobs) or n_jobs == 0 or n_jobs < -1):
        raise ValueError(f"n_jobs must be a positive integer or -1 (all cores), got {n_jobs!r}")

    seeds = np.arange(first_seed, first_seed + replicates)
    # Batches of about 10 replicates (a few hundred ms) keep the scheduling overhead small.
    batches = np.array_split(seeds, max(1, math.ceil(replicates / 10)))
    bar = ProgressBar(replicates, "replicates", sys.stderr) if progress else None
    rows = []
    parallel = Parallel(n_jobs=workers(n_jobs, len(batches)), return_as="generator")
    for batch in parallel(delayed(_run_batch)(settings, batch) for batch in batches):
        rows.extend(batch)
        if bar:
            bar.advance(len(batch))
    return pd.DataFrame(rows, columns=list(COLUMNS))


# Workers per core that an explicit n_jobs may ask for on this machine's own cores.
MOST_WORKERS_PER_CORE = 4


def usable_cores():
    """The cores this process may run on (a container or taskset can allow fewer)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def workers(n_jobs, items):
    """How many workers to start for ``items`` pieces of work.

    Never more than the pieces of work.  On this machine (joblib's process and thread
    backends), never more than its usable cores unless ``n_jobs`` asks for more, and then
    at most ``MOST_WORKERS_PER_CORE`` per core; on another backend (a Dask cluster),
    ``-1`` is all of its workers, as joblib counts them.
    """
    from joblib.parallel import get_active_backend

    backend, _ = get_active_backend()
    local = type(backend).__name__ in ("LokyBackend", "MultiprocessingBackend",
                                       "ThreadingBackend", "SequentialBackend")
    if n_jobs in (None, -1):
        return min(items, usable_cores()) if local else -1
    if local:
        n_jobs = min(n_jobs, MOST_WORKERS_PER_CORE * usable_cores())
    return min(n_jobs, items)


def summarise_study(results):
    """Summarise a study: how often partial pooling wins, error ratios, singular fits.

    Parameters
    ----------
    results : pandas.DataFrame
        The output of :func:`simulation_study`.

    Returns
    -------
    dict
        ``replicates``, ``failed`` (fits not verified, left out), ``singular_share``;
        for ``part`` in intercept and slope: ``{part}_beats_none`` and
        ``{part}_beats_complete`` (the share of replicates where partial pooling's
        RMSE is lower), and ``{part}_ratio_none`` and ``{part}_ratio_complete``
        (the median of partial pooling's RMSE divided by the other's); and how often the
        clusters' ``COVERAGE_LEVEL`` intervals cover their true lines:
        ``coverage_{part}`` over every cluster of every replicate,
        ``coverage_singular_{part}`` over the singular fits' clusters, and
        ``coverage_extreme_{part}`` over the clusters more than ``EXTREME_SD`` true
        standard deviations out (missing where there are none).
    """
    ok = results[results["converged"]]
    summary = {"replicates": int(len(results)), "failed": int((~results["converged"]).sum()),
               "singular_share": float(ok["singular"].mean()) if len(ok) else math.nan}
    for part in ("intercept", "slope"):
        partial = ok[f"rmse_{part}_partial"]
        for other in ("none", "complete"):
            rival = ok[f"rmse_{part}_{other}"]
            summary[f"{part}_beats_{other}"] = float((partial < rival).mean())
            summary[f"{part}_ratio_{other}"] = float((partial / rival).median())
    singular = ok[ok["singular"].astype(bool)]
    for part in ("intercept", "slope"):
        summary[f"coverage_{part}"] = float(ok[f"cover_{part}"].mean()) if len(ok) else math.nan
        summary[f"coverage_singular_{part}"] = (float(singular[f"cover_{part}"].mean())
                                                if len(singular) else math.nan)
        extreme = ok[f"extreme_{part}"].sum()
        summary[f"coverage_extreme_{part}"] = (float(ok[f"extreme_covered_{part}"].sum() / extreme)
                                               if extreme else math.nan)
    return summary


def study_text(results, summary, settings):
    """The study as a short text table: median RMSE per method, wins, singular fits.

    ``results`` and ``summary`` are :func:`simulation_study`'s and
    :func:`summarise_study`'s; ``settings`` the :class:`~shrinkage.data.Settings` studied.
    """
    seeds = results["seed"]
    ok = results[results["converged"]]
    lines = [f"Simulation study: {summary['replicates']} replicates "
             f"(seeds {seeds.min()} to {seeds.max()})",
             "Settings: " + ", ".join(f"{k}={v:g}" for k, v in settings.as_dict().items()
                                      if k != "seed"),
             "",
             f"{'median RMSE':<12}" + "".join(f"{m:>18}" for m in METHODS)]
    for part in ("intercept", "slope"):
        lines.append(f"{part:<12}" + "".join(f"{ok[f'rmse_{part}_{short}'].median():>18.4f}"
                                             for short in METHODS.values()))
    lines += ["", "Partial pooling has the lower RMSE in this share of replicates:"]
    for part in ("intercept", "slope"):
        lines.append(f"  {part + 's':<11} vs no pooling {summary[f'{part}_beats_none']:6.1%}"
                     f"   vs complete pooling {summary[f'{part}_beats_complete']:6.1%}")
    lines += ["", f"Coverage of the clusters' {COVERAGE_LEVEL:.0%} intervals "
              f"(the true line inside):"]
    for part in ("intercept", "slope"):
        lines.append(f"  {part + 's':<11} all {summary[f'coverage_{part}']:6.1%}   singular fits "
                     f"{summary[f'coverage_singular_{part}']:6.1%}   beyond {EXTREME_SD:g} SD "
                     f"{summary[f'coverage_extreme_{part}']:6.1%}")
    lines += ["", f"Singular (boundary) fits: {summary['singular_share']:.1%}",
              f"Fits not verified as the optimum (left out): {summary['failed']}"]
    return "\n".join(lines) + "\n"
