"""The data generator against R's numbers, and the data the package ships."""
import json
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shrinkage
from shrinkage import SCENARIOS, Settings, create_data
from shrinkage.rng import RStream, qnorm

from conftest import REFERENCE


# Values as R 4.x prints them (sample.kind = "Rejection", normal.kind = "Inversion");
# the article settings below check the full precision against R's CSV output.
def test_uniforms_match_r():
    # R: set.seed(42); runif(3)
    np.testing.assert_allclose(RStream(42).unif_rand(3), [0.9148060, 0.9370754, 0.2861395],
                               rtol=0, atol=5e-8)


def test_normals_match_r():
    # R: set.seed(42); rnorm(3)
    np.testing.assert_allclose(RStream(42).rnorm(3), [1.3709584, -0.5646982, 0.3631284],
                               rtol=0, atol=5e-8)
    # R: set.seed(123); rnorm(3, sd = 2), twice R's set.seed(123); rnorm(3)
    np.testing.assert_allclose(RStream(123).rnorm(3, sd=2),
                               2 * np.array([-0.56047565, -0.23017749, 1.55870831]),
                               rtol=0, atol=1e-7)


def test_sample_matches_r():
    # R: set.seed(42); sample.int(10)
    assert RStream(42).sample_int(10, 10).tolist() == [1, 5, 10, 8, 2, 4, 6, 9, 7, 3]


def _r_samples():
    return json.loads((REFERENCE / "sample_int.json").read_text())


@pytest.mark.parametrize("case", _r_samples(), ids=lambda c: f"n={c['n']}")
def test_sample_and_the_stream_after_it_match_r(case):
    # R: set.seed(seed); sample.int(n, size); sprintf("%a", rnorm(3))  (sample_int.R):
    # populations needing one and two 16-bit chunks of bits per attempt, a draw longer
    # than one block of words, and the stream left exactly where R leaves it.
    stream = RStream(case["seed"])
    drawn = stream.sample_int(case["n"], case["size"])
    if "sample" in case:
        assert drawn.tolist() == case["sample"]
    # R: sum(as.numeric(drawn) * seq_along(drawn)); tail(drawn, 5)
    assert float(np.sum(drawn * np.arange(1, len(drawn) + 1))) == case["checksum"]
    assert drawn[-5:].tolist() == case["last"]
    assert [v.hex() for v in stream.rnorm(3)] == [float.fromhex(v).hex()
                                                   for v in case["next_normals"]]


def _r_hex_draws():
    """R's draws as stored by tests/reference/rng_hex.R: (kind, seed, first index, values)."""
    path = Path(__file__).parent / "reference" / "rng_hex.txt"
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            kind, seed, first, *values = line.split()
            yield kind, int(seed), int(first), [float.fromhex(v) for v in values]


@pytest.mark.parametrize("case", list(_r_hex_draws()), ids=lambda c: f"{c[0]}-{c[1]}")
def test_draws_are_bit_identical_to_r(case):
    # R: set.seed(seed); sprintf("%a", rnorm(n))  (or runif), see tests/reference/rng_hex.R
    kind, seed, first, expected = case
    count = first - 1 + len(expected)
    stream = RStream(seed)
    draws = stream.unif_rand(count) if kind == "runif" else stream.rnorm(count)
    got = draws[first - 1:]
    mismatched = [(first + i, a.hex(), b.hex()) for i, (a, b) in enumerate(zip(got, expected))
                  if a != b]
    assert not mismatched, f"{len(mismatched)} draws differ from R's, first: {mismatched[0]}"


def test_a_tail_draw_is_r_to_the_last_bit():
    # R 4.2.2: set.seed(11795); x <- rnorm(6264); sprintf("%a", x[5243])
    assert RStream(11795).rnorm(6264)[5242] == float.fromhex("0x1.c074c37784ca9p+1")


def test_rnorm_with_zero_sd_draws_nothing():
    # R's rnorm(n, sd = 0) returns the mean without touching the stream.
    stream = RStream(7)
    assert stream.rnorm(5, sd=0).tolist() == [0.0] * 5
    np.testing.assert_array_equal(stream.unif_rand(2), RStream(7).unif_rand(2))


def test_qnorm_inverts_the_normal_cdf():
    from scipy.stats import norm
    p = np.array([1e-300, 1e-20, 1e-5, 0.02, 0.3, 0.5, 0.7, 0.975, 1 - 1e-12])
    np.testing.assert_allclose(qnorm(p), norm.ppf(p), rtol=1e-13)


def test_article_settings_match_r(article_case):
    name, args, r_data, _ = article_case
    data = create_data(**args)
    assert list(data.columns) == ["y", "x", "cluster"]
    # Same row order: R's sample_frac shuffles even when balanced = TRUE.
    np.testing.assert_array_equal(data["cluster"].to_numpy(), r_data["cluster"].to_numpy())
    # The CSV keeps 15 significant digits; the draws themselves are checked bit for bit above.
    np.testing.assert_allclose(data["x"], r_data["x"], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(data["y"], r_data["y"], rtol=1e-14, atol=1e-15)


def test_scenarios_are_the_article_settings(article_case):
    name, args, _, _ = article_case
    assert SCENARIOS[name] == Settings(**args)


def test_truth_is_fixed_effects_plus_drawn_effects():
    data, truth = create_data(n_cluster=4000, sd_int=0.5, sd_slope=0.25, cor=0.1,
                              seed=31, obs_per_cluster=2, with_truth=True)
    assert truth["cluster"].tolist() == list(range(1, 4001))
    effects = truth[["intercept", "slope"]].to_numpy() - [1.0, 0.5]
    # cor enters as a covariance: 0.1 / (0.5 * 0.25) = 0.8 correlation.
    np.testing.assert_allclose(np.cov(effects.T), [[0.25, 0.1], [0.1, 0.0625]], atol=0.01)
    np.testing.assert_allclose(np.corrcoef(effects.T)[0, 1], 0.8, atol=0.02)


def test_truth_and_data_agree_without_noise():
    data, truth = create_data(sigma=0, seed=5, n_cluster=7, obs_per_cluster=4,
                              with_truth=True)
    line = truth.set_index("cluster").loc[data["cluster"]]
    np.testing.assert_allclose(data["y"], line["intercept"].to_numpy()
                               + line["slope"].to_numpy() * data["x"].to_numpy(), atol=1e-14)


def test_balanced_keeps_a_rounded_fraction_and_shuffles():
    full = create_data(n_cluster=9, obs_per_cluster=5, seed=3)
    half = create_data(n_cluster=9, obs_per_cluster=5, seed=3, balanced=0.5)
    assert len(full) == 45 and len(half) == 22  # R: round(45 * 0.5) is 22 (half to even)
    assert not full["cluster"].is_monotonic_increasing
    assert create_data(n_cluster=3, obs_per_cluster=1, balanced=0).empty


def test_other_seeds_give_other_data():
    a, b = create_data(seed=1), create_data(seed=2)
    assert not np.allclose(a["y"], b["y"])
    pd.testing.assert_frame_equal(create_data(seed=-5), create_data(seed=-5))


@pytest.mark.parametrize("name, value, expected", [
    ("obs_per_cluster", 0, "obs_per_cluster must be a positive integer"),
    ("obs_per_cluster", 2.5, "obs_per_cluster must be a positive integer"),
    ("n_cluster", -3, "n_cluster must be a positive integer"),
    ("n_cluster", True, "n_cluster must be a positive integer"),
    ("sigma", -1, r"sigma must be a number in \[0, 1e\+150\]"),
    ("sd_int", float("inf"), r"sd_int must be a number in \[0, 1e\+150\]"),
    ("sd_slope", float("nan"), r"sd_slope must be a number in \[0, 1e\+150\]"),
    ("intercept", float("nan"), r"intercept must be a number in \[-1e\+150, 1e\+150\]"),
    ("beta", "1", "beta must be a number in"),
    ("cor", float("inf"), "cor must be a finite number"),
    # Variances are squares: a setting whose square overflows is refused by name.
    ("sd_int", 1e200, r"sd_int must be a number in \[0, 1e\+150\], got 1e\+200"),
    ("sd_slope", 1e200, r"sd_slope must be a number in \[0, 1e\+150\]"),
    ("sigma", 1e308, r"sigma must be a number in \[0, 1e\+150\]"),
    ("intercept", -1e300, "intercept must be a number in"),
    ("beta", 1e160, "beta must be a number in"),
    ("balanced", 1.5, r"balanced must be a number in \[0, 1\]"),
    ("balanced", -0.1, r"balanced must be a number in \[0, 1\]"),
    ("seed", 1.5, "seed must be an integer"),
    ("seed", 2**31, "seed must be an integer in"),
    ("cor", 0.2, r"cor must be in \[-0.125, 0.125\].*covariance"),
])
def test_bad_settings_are_refused(name, value, expected):
    with pytest.raises(ValueError, match=expected):
        create_data(**{name: value})


def test_too_many_rows_are_refused():
    with pytest.raises(ValueError, match="obs_per_cluster \\* n_cluster must be at most"):
        create_data(obs_per_cluster=10_000, n_cluster=10_000)


def test_cli_writes_exact_csv(shrinkage_main, tmp_path):
    result = shrinkage_main("data", "--obs-per-cluster", "3", "--seed", "11", "--cor", "0.05")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "y,x,cluster"
    pd.testing.assert_frame_equal(pd.read_csv(StringIO(result.stdout)),
                                  create_data(obs_per_cluster=3, seed=11, cor=0.05),
                                  check_exact=True)
    out = tmp_path / "d.csv"
    assert shrinkage_main("data", "--out", str(out)).returncode == 0
    pd.testing.assert_frame_equal(pd.read_csv(out), create_data(), check_exact=True)


def test_cli_help_lists_every_option_with_default(shrinkage_main):
    text = " ".join(shrinkage_main("data", "--help").stdout.split())
    for option, default in [("--obs-per-cluster N", "10"), ("--n-cluster N", "100"),
                            ("--intercept F", "1"), ("--beta F", "0.5"), ("--sigma F", "1"),
                            ("--sd-int F", "0.5"), ("--sd-slope F", "0.25"), ("--cor F", "0"),
                            ("--balanced F", "1"), ("--seed N", "888")]:
        # The option's own help entry: the last mention, after the usage line.
        entry = text.rsplit(option, 1)[1].split(" --")[0]
        assert f"(default: {default})" in entry, (option, entry)
    assert "--out FILE" in text


@pytest.mark.parametrize("args, name", [
    (["--n-cluster", "0"], "n_cluster"),
    (["--n-cluster", "ten"], "--n-cluster"),
    (["--balanced", "2"], "balanced"),
    (["--sd-int", "-1"], "sd_int"),
    (["--cor", "1"], "cor"),
    (["--seed", "3000000000"], "seed"),
])
def test_cli_bad_input_exits_2_with_one_line(shrinkage_main, args, name):
    result = shrinkage_main("data", *args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize("name", shrinkage.data.LME4_FITS)
def test_the_shipped_lme4_fits_are_the_r_outputs(name):
    # The package's copies are tests/reference/NAME.json, written by make_reference.R /
    # fit_csv.R, byte for byte: the chapters read the package's, the tests R's.
    from importlib import resources

    shipped = resources.files("shrinkage").joinpath("datasets", "lme4", f"{name}.json").read_bytes()
    assert shipped == (REFERENCE / f"{name}.json").read_bytes()
    assert shrinkage.lme4_fit(name) == json.loads(shipped)


def test_the_shipped_sleepstudy_is_lme4s():
    # R: nrow(sleepstudy) 180; nlevels(Subject) 18; mean(Reaction) 298.5079;
    # sleepstudy[sleepstudy$Subject == "308" & sleepstudy$Days == 9, "Reaction"] 466.3535
    data = shrinkage.sleepstudy()
    assert data.shape == (180, 3) and data["Subject"].nunique() == 18
    assert data["Reaction"].mean() == pytest.approx(298.5079, abs=1e-4)
    day9 = data.query("Subject == 'S308' and Days == 9")["Reaction"]
    assert day9.item() == pytest.approx(466.3535, abs=1e-4)


def test_an_unknown_lme4_fit_is_named():
    with pytest.raises(ValueError, match="name must be one of baseline, .*; got 'nope'"):
        shrinkage.lme4_fit("nope")


def test_an_unknown_shape_of_random_effects_is_refused_by_name():
    from shrinkage import SCENARIOS, simulate

    with pytest.raises(ValueError, match=r"^shape must be one of \('normal', 'bimodal', "
                       r"'heavy-tailed'\), got 'uniform'$"):
        simulate(SCENARIOS["baseline"], shape="uniform")


def test_the_shipped_hsb_is_nlmes():
    # R: d <- merge(MathAchieve, MathAchSchool[, c("School", "Sector")], by = "School");
    # nrow(d) 7185; nlevels(d$School) 160; mean(d$MathAch) 12.74785; mean(d$SES) 0.0001433542;
    # table(d$Sector): Public 3642, Catholic 3543; first row of school 1224: SES -1.528,
    # MathAch 5.876, MEANSES -0.428, Public.
    from importlib import resources

    shipped = resources.files("shrinkage").joinpath("datasets", "hsb.csv").read_bytes()
    assert shipped == (REFERENCE / "formula_MathAchieve.csv").read_bytes()
    data = shrinkage.hsb()
    assert (len(data), data["School"].nunique()) == (7185, 160)
    assert data["MathAch"].mean() == pytest.approx(12.74785, abs=5e-6)
    assert data["SES"].mean() == pytest.approx(0.0001433542, abs=5e-11)
    assert data["Sector"].value_counts().to_dict() == {"Public": 3642, "Catholic": 3543}
    first = data[data["School"] == "1224"].iloc[0]
    assert (first["SES"], first["MathAch"], first["MEANSES"], first["Sector"]) == (
        -1.528, 5.876, -0.428, "Public")


def test_the_cluster_level_simulation_draws_what_it_says():
    from shrinkage.data import simulate_cluster_level

    data, truth = simulate_cluster_level(3, n_cluster=400, obs_per_cluster=6, gamma=2.0,
                                         within=0.5, between=1.5, sd_int=0.0, sd_slope=0.0,
                                         sigma=0.0, intercept=1.0)
    # Without noise, every row lies on its cluster's true line ...
    line = truth.set_index("cluster").loc[data["cluster"]]
    np.testing.assert_allclose(data["y"], line["intercept"].to_numpy()
                               + line["slope"].to_numpy() * data["x"], atol=1e-12)
    # ... whose slope is the within slope, and whose intercept rises by gamma per unit of w
    # and by between - within per unit of x's cluster mean: fitted back by least squares.
    first = data.groupby("cluster").first()
    x_mean = data.groupby("cluster")["x"].mean()
    assert (truth["slope"] == 0.5).all()
    assert data.groupby("cluster")["w"].nunique().max() == 1
    m = (truth["intercept"].to_numpy() - 1.0 - 2.0 * first["w"].to_numpy()) / 1.0
    # m is the true cluster mean of x, which the sample mean estimates (6 draws of sd 1).
    assert np.corrcoef(m, x_mean)[0, 1] > 0.9
    again, _ = simulate_cluster_level(3, n_cluster=400, obs_per_cluster=6, gamma=2.0,
                                      within=0.5, between=1.5, sd_int=0.0, sd_slope=0.0,
                                      sigma=0.0, intercept=1.0)
    pd.testing.assert_frame_equal(data, again)
    with pytest.raises(ValueError, match="^n_cluster must be an integer of at least 2, got 1$"):
        simulate_cluster_level(1, n_cluster=1)
    with pytest.raises(ValueError, match="^sigma must be a finite number >= 0, got -1"):
        simulate_cluster_level(1, sigma=-1)
