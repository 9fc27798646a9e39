"""The simulation study: each replicate against lme4, the same numbers on every backend."""
import json
import math
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shrinkage import SCENARIOS, Settings, create_data, fit_models, simulate
from shrinkage.study import (
    COLUMNS,
    MOST_WORKERS_PER_CORE,
    replicate_row,
    run_replicate,
    simulation_study,
    summarise_study,
    usable_cores,
    workers,
)

from conftest import CASES, SHRINKAGE, read_reference, run_shrinkage


def _row_of_a_fit(settings, seed):
    data, truth = simulate(replace(settings, seed=seed), with_truth=True)
    return replicate_row(fit_models(data), data, truth, seed, settings)


@pytest.mark.parametrize("make_row", [run_replicate, _row_of_a_fit])
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_replicate_matches_lme4_on_the_article_seed(name, make_row):
    # R: fit <- lmer(y ~ x + (x | cluster), create_data(..., seed = 888)); see make_reference.R
    _, reference = read_reference(name)
    row = make_row(SCENARIOS[name], 888)
    assert row["seed"] == 888
    v = reference["variance"]
    assert row["converged"] and row["singular"] == reference["singular"]
    assert row["sd_intercept"] == pytest.approx(math.sqrt(v["intercept"]), rel=1e-4)
    assert row["sd_slope"] == pytest.approx(math.sqrt(v["slope"]), rel=1e-4)
    assert row["sigma"] == pytest.approx(math.sqrt(v["residual"]), rel=1e-5)
    assert row["correlation"] == pytest.approx(v["correlation"], abs=1e-3)

    # The errors from lme4's cluster estimates and the true effects of the article's data.
    clusters = pd.DataFrame(reference["clusters"])
    _, truth = create_data(**{**CASES[name], "with_truth": True})
    both = clusters.merge(truth, on="cluster")

    def rmse(a, b, rows=slice(None)):
        return float(np.sqrt(np.mean((both[a][rows] - both[b][rows]) ** 2)))

    # Slope errors over the clusters with a slope of their own, for every method.
    has_slope = both["ols_slope"].notna()
    assert row["rmse_intercept_partial"] == pytest.approx(rmse("mixed_intercept", "intercept"), rel=1e-4)
    assert row["rmse_slope_partial"] == pytest.approx(rmse("mixed_slope", "slope", has_slope), rel=1e-4)
    assert row["rmse_slope_none"] == pytest.approx(rmse("ols_slope", "slope"), rel=1e-9)

    fixed = reference["fixed_effects"]
    moved = (both["ols_intercept"] - both["mixed_intercept"]) / (
        both["ols_intercept"] - fixed["Intercept"]["estimate"])
    assert row["shrinkage_intercept"] == pytest.approx(moved.median(), abs=1e-3)


@pytest.fixture(scope="module")
def few_obs_study():
    return simulation_study(SCENARIOS["few_obs"], replicates=24, first_seed=1)


def test_the_study_has_one_row_per_seed(few_obs_study):
    assert list(few_obs_study.columns) == list(COLUMNS)
    assert few_obs_study["seed"].tolist() == list(range(1, 25))
    # Replicate 1 is exactly the seed-1 draw, however the replicates were scheduled.
    assert few_obs_study.iloc[0].to_dict() == pytest.approx(
        run_replicate(SCENARIOS["few_obs"], 1), nan_ok=True)


def test_the_study_is_the_same_for_any_job_count(few_obs_study):
    pd.testing.assert_frame_equal(
        simulation_study(SCENARIOS["few_obs"], replicates=24, first_seed=1, n_jobs=1),
        few_obs_study)


def test_the_study_is_the_same_on_a_dask_cluster(few_obs_study):
    import joblib
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster):
        with joblib.parallel_config(backend="dask"):
            on_dask = simulation_study(SCENARIOS["few_obs"], replicates=24, first_seed=1)
    pd.testing.assert_frame_equal(on_dask, few_obs_study)


def test_the_summary_counts_by_hand():
    rows = pd.DataFrame({
        "seed": [1, 2, 3, 4], "converged": [True, True, True, False],
        "singular": [True, False, False, False],
        "rmse_intercept_none": [2.0, 2.0, 2.0, math.nan],
        "rmse_intercept_complete": [1.0, 4.0, 4.0, math.nan],
        "rmse_intercept_partial": [1.5, 1.0, 3.0, math.nan],
        "rmse_slope_none": [1.0, 1.0, 1.0, math.nan],
        "rmse_slope_complete": [1.0, 1.0, 1.0, math.nan],
        "rmse_slope_partial": [0.5, 0.5, 2.0, math.nan],
        "cover_intercept": [0.9, 1.0, 0.8, math.nan], "cover_slope": [0.5, 0.9, 1.0, math.nan],
        "extreme_intercept": [2, 0, 3, math.nan], "extreme_covered_intercept": [1, 0, 0, math.nan],
        "extreme_slope": [0, 0, 0, math.nan], "extreme_covered_slope": [0, 0, 0, math.nan]})
    summary = summarise_study(rows)
    assert (summary["replicates"], summary["failed"]) == (4, 1)
    assert summary["singular_share"] == pytest.approx(1 / 3)
    assert summary["intercept_beats_none"] == pytest.approx(2 / 3)    # 1.5 < 2, 1 < 2, 3 > 2
    assert summary["intercept_beats_complete"] == pytest.approx(2 / 3)  # 1.5 > 1, 1 < 4, 3 < 4
    assert summary["intercept_ratio_none"] == pytest.approx(0.75)      # median of .75, .5, 1.5
    assert summary["slope_beats_complete"] == pytest.approx(2 / 3)
    assert summary["slope_ratio_complete"] == pytest.approx(0.5)
    assert summary["coverage_intercept"] == pytest.approx(0.9)          # mean of .9, 1, .8
    assert summary["coverage_singular_slope"] == pytest.approx(0.5)     # seed 1 alone
    assert summary["coverage_extreme_intercept"] == pytest.approx(1 / 5)  # 1 of 2 + 3
    assert math.isnan(summary["coverage_extreme_slope"])                 # none that far out


def test_coverage_counts_the_true_lines_inside_their_intervals():
    # By hand from the intervals: replicate_row's coverage is the share of clusters whose
    # true intercept (slope) lies between cluster_intervals' ends, and the extremes those
    # more than 2.5 true SDs out.
    from shrinkage.predict import cluster_intervals

    settings = replace(SCENARIOS["few_obs"], seed=3)
    data, truth = simulate(settings, with_truth=True)
    fit = fit_models(data)
    row = replicate_row(fit, data, truth, 3, settings)
    table = cluster_intervals(fit).merge(truth, on="cluster", suffixes=("", "_true"))
    for part, average, sd in (("intercept", 1.0, 0.5), ("slope", 0.5, 0.25)):
        inside = table[f"{part}_lower"].le(table[f"{part}_true"]) & table[f"{part}_true"].le(
            table[f"{part}_upper"])
        far = (table[f"{part}_true"] - average).abs() > 2.5 * sd
        assert row[f"cover_{part}"] == pytest.approx(inside.mean())
        assert (row[f"extreme_{part}"], row[f"extreme_covered_{part}"]) == (far.sum(),
                                                                          (inside & far).sum())


@pytest.mark.parametrize("kwargs, match", [
    ({"replicates": 0}, "replicates must be"),
    ({"replicates": 2.5}, "replicates must be"),
    ({"replicates": 2, "first_seed": 2**31 - 1}, "first_seed"),
    ({"replicates": 2, "n_jobs": 0}, "n_jobs"),
])
def test_bad_study_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulation_study(Settings(), **kwargs)


def test_the_command_line_study_as_json():
    result = run_shrinkage("study", "--replicates", "5", "--first-seed", "888",
                           "--obs-per-cluster", "3", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no progress bar when standard error is not a terminal
    study = json.loads(result.stdout)
    assert study["settings"]["obs_per_cluster"] == 3 and study["first_seed"] == 888
    assert [row["seed"] for row in study["replicates"]] == [888, 889, 890, 891, 892]
    # The first replicate is the article's few_obs data: lme4's residual SD.
    _, reference = read_reference("few_obs")
    assert study["replicates"][0]["sigma"] == pytest.approx(
        math.sqrt(reference["variance"]["residual"]), rel=1e-5)


@pytest.mark.parametrize("args, name", [(["--replicates", "0"], "replicates"),
                                        (["--jobs", "-2"], "jobs"),
                                        (["--sigma=nan"], "sigma")])
def test_the_command_line_study_refuses_bad_input(shrinkage_main, args, name):
    result = shrinkage_main("study", *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0]


# --- Never more processes than work, and none left behind ---

def _descendants(pid):
    """Process ids of every descendant of ``pid`` (from /proc)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(") ", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _running(pid):
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_workers_never_outnumber_the_work_or_a_sane_share_of_the_cores():
    cores = usable_cores()
    assert workers(16, 1) == 1 and workers(None, 1) == 1 and workers(-1, 3) == min(3, cores)
    assert workers(None, 1000) == cores
    assert workers(10**20, 1000) == MOST_WORKERS_PER_CORE * cores


@pytest.mark.parametrize("jobs", ["16", "99999999999999999999"])
def test_a_huge_job_count_starts_no_more_processes_than_replicates_allow(jobs):
    process = subprocess.Popen([*SHRINKAGE, "study", "--replicates", "3", "--jobs", jobs],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    most = 0
    while process.poll() is None:
        most = max(most, len(_descendants(process.pid)))
        time.sleep(0.02)
    out, err = process.communicate()
    assert process.returncode == 0 and err == "", err
    assert "Simulation study: 3 replicates" in out
    assert 1 + most <= 3 + 2


def test_sigterm_to_a_parallel_study_takes_its_workers_with_it():
    process = subprocess.Popen([*SHRINKAGE, "study", "--replicates", "400", "--jobs", "2"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(started := _descendants(process.pid)) < 2:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    started = set(started) | set(_descendants(process.pid))
    process.terminate()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143
    assert err.strip().splitlines()[-1] == "python -m shrinkage study: terminated; no file was changed"
    deadline = time.monotonic() + 15
    while any(map(_running, started)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in started if _running(pid)]
