"""A user's own data: any column names, text labels, missing values, files from the CLI.

The reference is lme4 on lme4's sleepstudy data (tests/reference/sleepstudy.json, made by
fit_csv.R from shrinkage/datasets/sleepstudy.csv).
"""
import json

import numpy as np
import pandas as pd
import pytest

from shrinkage import UnidentifiableError, create_data, fit_models

from conftest import REFERENCE, ROOT

SLEEP = ROOT / "shrinkage" / "datasets" / "sleepstudy.csv"
COLUMNS = dict(y="Reaction", x="Days", cluster="Subject")


@pytest.fixture(scope="module")
def sleep():
    data = pd.read_csv(SLEEP)
    ref = json.loads((REFERENCE / "sleepstudy.json").read_text())
    return data, fit_models(data, **COLUMNS), ref


def test_sleepstudy_matches_lme4(sleep):
    data, fit, r = sleep
    # R: -2 * logLik(lmer(Reaction ~ Days + (Days | Subject), sleepstudy))
    assert fit.reml_criterion == pytest.approx(r["reml_criterion"], abs=1e-3)
    # R: summary(mod)$coefficients
    for ours, name in zip(("Intercept", "Days"), ("Intercept", "x")):
        for key in ("estimate", "std_error"):
            assert fit.fixed_effects.loc[ours, key] == pytest.approx(
                r["fixed_effects"][name][key], rel=1e-4)
    # R: as.data.frame(VarCorr(mod))$vcov
    for key in ("intercept", "slope", "residual"):
        assert fit.variance[key] == pytest.approx(r["variance"][key], rel=1e-3)
    # R: coef(mod)$Subject, to 1e-3 of the estimates' spread
    ref = pd.DataFrame(r["clusters"]).set_index("cluster")
    ours = fit.clusters.set_index("cluster")
    assert list(ours.index) == list(ref.index)  # text labels kept, in R's order
    for column in ("mixed_intercept", "mixed_slope", "ols_intercept", "ols_slope"):
        spread = ref[column].std()
        np.testing.assert_allclose(ours[column], ref[column], rtol=0, atol=1e-3 * spread)


def test_labels_and_names_reach_every_output(sleep):
    _, fit, _ = sleep
    text = fit.summary()
    assert "Formula: Reaction ~ Days + (Days | Subject)" in text
    assert "groups:  Subject, 18" in text
    as_dict = json.loads(json.dumps(fit.to_dict()))
    assert as_dict["columns"] == {"y": "Reaction", "x": "Days", "cluster": "Subject"}
    assert list(as_dict["fixed_effects"]) == ["Intercept", "Days"]
    assert list(fit.fixed_effects.index) == ["Intercept", "Days"]
    assert as_dict["clusters"][0]["cluster"] == "S308"
    assert {row["cluster"] for row in as_dict["clusters"]} == set(fit.clusters["cluster"])


def test_float_and_integer_labels_are_kept():
    data = create_data()
    data["cluster"] = data["cluster"] / 2  # 0.5, 1.0, 1.5, ...
    labels = [row["cluster"] for row in fit_models(data).to_dict()["clusters"]]
    assert labels[:3] == [0.5, 1, 1.5]


@pytest.mark.parametrize("columns, message", [
    (dict(y="reaction"), "y: the data have no column 'reaction'"),
    (dict(y="Subject", cluster="Days", x="Reaction"), "y: column 'Subject' must be numeric"),
    (dict(x="Subject", cluster="Days"), "x: column 'Subject' must be numeric"),
    (dict(cluster="Reaction", y="Reaction"), "three different columns"),
])
def test_bad_columns_name_the_column(sleep, columns, message):
    data = sleep[0]
    with pytest.raises(ValueError, match=message):
        fit_models(data, **{**COLUMNS, **columns})


def test_too_few_clusters_after_dropping_rows(sleep):
    data = sleep[0].copy()
    data.loc[data["Subject"] != "S308", "Reaction"] = np.nan
    with pytest.raises(UnidentifiableError, match="1 cluster"):
        fit_models(data, **COLUMNS)


def test_cli_fits_a_csv_and_reads_standard_input(shrinkage_main, sleep):
    _, fit, r = sleep
    options = ["--y", "Reaction", "--x", "Days", "--cluster", "Subject", "--json"]
    from_file = shrinkage_main("fit", "--data", str(SLEEP), *options)
    from_stdin = shrinkage_main("fit", "--data", "-", *options, stdin=SLEEP.read_text())
    assert from_file.returncode == 0 and from_stdin.returncode == 0, from_file.stderr
    assert json.loads(from_file.stdout) == json.loads(from_stdin.stdout)
    assert json.loads(from_file.stdout)["reml_criterion"] == pytest.approx(
        r["reml_criterion"], abs=1e-3)


def test_cli_reports_dropped_rows(shrinkage_main, tmp_path):
    data = pd.read_csv(SLEEP)
    data.loc[[0, 5], "Reaction"] = np.nan
    path = tmp_path / "gaps.csv"
    data.to_csv(path, index=False)
    result = shrinkage_main("fit", "--data", str(path), "--y", "Reaction", "--x", "Days",
                 "--cluster", "Subject")
    assert result.returncode == 0, result.stderr
    assert "2 rows with missing values left out" in result.stdout
    assert "Number of obs: 178" in result.stdout


def test_cli_animates_a_csv(shrinkage_main, tmp_path):
    out, static = tmp_path / "sleep.mp4", tmp_path / "sleep.png"
    result = shrinkage_main("animate", "--data", str(SLEEP), "--y", "Reaction", "--x", "Days",
                 "--cluster", "Subject", "--out", str(out), "--static", str(static))
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 10_000 and static.stat().st_size > 10_000


@pytest.mark.parametrize("content, message", [
    (None, "cannot read"),                      # no such file
    ("", "is empty"),
    ("y,x,cluster\n", "has a header but no rows"),
    (b"\x00\xff\xfe binary \xd0\x00", "is a binary file, not a CSV text file"),
    ("y,x,cluster\n1,2,a\n2,3,b\n3,4,c\n", "observations for 3 clusters"),
    ("y,x,cluster\n1,2,a\n", "1 cluster"),
    ("a;b;c\n1;2;3\n", "no column 'y'"),
])
def test_cli_bad_files_end_in_one_line(shrinkage_main, tmp_path, content, message):
    path = tmp_path / "data.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    result = shrinkage_main("fit", "--data", str(path))
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_cli_directory_is_not_a_data_file(shrinkage_main, tmp_path):
    result = shrinkage_main("fit", "--data", str(tmp_path))
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_view_is_chosen_from_the_data(sleep):
    from shrinkage import shrinkage_paths
    from shrinkage.animate import BASELINE_ZOOM_SD

    _, fit, _ = sleep
    paths = shrinkage_paths(fit)  # a user's fit gets the data's own view by default
    data_view = shrinkage_paths(fit, zoom_sd="data")
    assert (paths.xlim, paths.ylim) == (data_view.xlim, data_view.ylim)
    inside = ((paths.start[:, 0] > paths.xlim[0]) & (paths.start[:, 0] < paths.xlim[1])
              & (paths.start[:, 1] > paths.ylim[0]) & (paths.start[:, 1] < paths.ylim[1]))
    assert inside.mean() >= 0.9
    # The article's view would hold none of them: it is 3 x (0.5, 0.25) wide.
    article = shrinkage_paths(fit, BASELINE_ZOOM_SD)
    assert article.xlim[1] - article.xlim[0] == pytest.approx(3.0)
    assert paths.x_name == "Days"
