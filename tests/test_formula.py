"""Formulas: what is parsed, what is refused in one line, and what never runs.

The numbers of the fits these formulas make are checked against lme4 in
test_fit_methods.py; here, the grammar and its refusals.
"""
import numpy as np
import pandas as pd
import pytest

from shrinkage import fit_models
from shrinkage.formula import lme4_name, parse

from conftest import REFERENCE


@pytest.fixture(scope="module")
def orthodont():
    return pd.read_csv(REFERENCE / "formula_Orthodont.csv")


@pytest.mark.parametrize("formula,expected", [
    ("y ~ x + (x | g)", ("y", "x", "x", "g", "slope")),
    ("y ~ x + (1 + x | g)", ("y", "x", "x", "g", "slope")),
    ("y ~ x + (1 | g)", ("y", "x", None, "g", "intercept")),
    ("y ~ x + (x || g)", ("y", "x", "x", "g", "uncorrelated")),
    ("y~a*b+(x|g)+I(x**2)", ("y", "a*b+I(x**2)", "x", "g", "slope")),
    ("y ~ (1 | g)", ("y", "1", None, "g", "intercept")),
    ("y ~ 0 + a + (1 | g)", ("y", "0 + a", None, "g", "intercept")),
])
def test_the_three_random_parts_and_any_fixed_part_are_read(formula, expected):
    parsed = parse(formula)
    assert (parsed.response, parsed.fixed, parsed.slope, parsed.cluster, parsed.model) == expected


@pytest.mark.parametrize("formula,message", [
    ("y ~ x + (1 | a/b)", "grouping must be one column, got 'a/b'"),
    ("y ~ x + (1 | a:b)", "grouping must be one column, got 'a:b'"),
    ("y ~ x + (1 | a) + (1 | b)", "has 2 random terms"),
    ("y ~ x + (x + z | g)", "left side must be 1 or one numeric column"),
    ("y ~ x + (0 + x | g)", "has no random intercept"),
    ("y ~ x", "has no random term"),
    ("y ~ x ~ z + (1 | g)", "must have one '~'"),
    ("log(y) ~ x + (1 | g)", "the response must be one column"),
    ("y ~ x + (1 || g)", "nothing to decorrelate"),
])
def test_formulas_that_are_not_fitted_are_refused_in_one_line(formula, message):
    with pytest.raises(ValueError, match="^formula: ") as error:
        parse(formula)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("term", [
    '{__import__("os").system("touch PWNED")}',
    '__import__("os").system("touch PWNED")',
    'np.save("PWNED", age)',
    'np.lib.npyio.save("PWNED", age)',
    'age.__class__',
    'open("PWNED", "w")',
    'eval("1")',
    '{[c for c in ().__class__.__base__.__subclasses__()]}',
    '{(lambda: 1)()}',
])
def test_a_formula_never_runs_python_beyond_the_transforms(orthodont, term, tmp_path,
                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="^formula: ") as error:
        fit_models(f"distance ~ age + {term} + (1 | Subject)", orthodont)
    assert "\n" not in str(error.value)
    assert not list(tmp_path.iterdir())  # nothing was written


def test_transforms_build_the_columns_r_builds(orthodont):
    # R: model.matrix(~ scale(age, scale = FALSE) + I(age^2) + log(age)), by hand.
    data = orthodont.assign(age=orthodont["age"] + 0.5 * (orthodont.index % 3 == 0))
    fit = fit_models("distance ~ center(age) + I(age**2) + np.log(age) + (1 | Subject)", data)
    x = fit.columns.fixed
    age = data["age"].to_numpy()
    np.testing.assert_allclose(x[:, 1], age - age.mean(), atol=1e-12)
    np.testing.assert_array_equal(x[:, 2], age ** 2)
    np.testing.assert_allclose(x[:, 3], np.log(age))
    assert list(fit.fixed_effects.index) == ["Intercept", "center(age)", "I(age ** 2)",
                                             "np.log(age)"]
    # A new row is centred by the fitted data's mean, not its own.
    one = fit.columns.design.for_new(data.head(1))
    assert one[0, 1] == pytest.approx(age[0] - age.mean())


def test_factors_use_rs_treatment_contrasts_and_level_order():
    # factor(c("b", "B", "a")) in the C locale has levels "B", "a", "b": the first is the
    # reference, and lme4 names the others "fB"-less: "fa", "fb".
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"y": rng.normal(size=60), "x": rng.normal(size=60),
                         "f": np.tile(["b", "B", "a"], 20), "g": np.repeat(np.arange(12), 5)})
    fit = fit_models("y ~ x * f + (1 | g)", data)
    assert list(fit.fixed_effects.index) == ["Intercept", "x", "fa", "fb", "x:fa", "x:fb"]
    # A pandas categorical keeps its own order, as an R factor keeps its levels.
    ordered = data.assign(f=pd.Categorical(data["f"], categories=["b", "a", "B"]))
    assert list(fit_models("y ~ f + (1 | g)", ordered).fixed_effects.index) == [
        "Intercept", "fa", "fB"]
    # Without an intercept, every level gets its own column (R's full dummy coding).
    assert list(fit_models("y ~ 0 + f + (1 | g)", data).fixed_effects.index) == ["fB", "fa", "fb"]


def test_lme4_names():
    assert lme4_name("Sex[T.Female]") == "SexFemale"
    assert lme4_name("age:Sex[T.Female]") == "age:SexFemale"
    assert lme4_name("Sex[Male]") == "SexMale"


@pytest.mark.parametrize("formula,message", [
    ("distance ~ age + nope + (1 | Subject)", "the data have no column 'nope'"),
    ("distance ~ age + (1 | Nope)", "the data have no column 'Nope'"),
    ("distance ~ age + (Sex | Subject)", "the random slope's column 'Sex' must be numeric"),
    ("distance ~ age + I(2 * age) + (1 | Subject)",
     "rank deficient: I(2 * age) is a combination of the columns before it"),
    ("distance ~ age * Sex + Sex:age + I(age - 1) + (1 | Subject)",
     "rank deficient: I(age - 1) is a combination"),
    ("distance ~ np.log(age - 8) + (1 | Subject)", "'np.log(age - 8)' of the design has values "
     "that are not finite"),
    ("distance ~ age +* Sex + (age | Subject)", "could not read the fixed part"),
])
def test_bad_formulas_on_real_data_are_one_line(orthodont, formula, message):
    with pytest.raises(ValueError) as error:
        fit_models(formula, orthodont)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_level_the_fit_has_not_seen_is_named(orthodont):
    fit = fit_models("distance ~ age * Sex + (age | Subject)", orthodont)
    rows = orthodont.head(2).assign(Sex=["Other", "Male"])
    with pytest.raises(ValueError, match=r"^newdata: column 'Sex' has the level 'Other', which "
                                         r"the fit has not seen \(its levels: 'Female', 'Male'\)"):
        fit.predict(rows)
    with pytest.raises(ValueError, match=r"^newdata: no column 'Sex'"):
        fit.predict(orthodont.head(2).drop(columns="Sex"))


def test_missing_values_in_any_used_column_drop_the_row(orthodont):
    data = orthodont.astype({"Sex": object})
    data.loc[[0, 5], "Sex"] = None
    data.loc[7, "distance"] = np.nan
    fit = fit_models("distance ~ age + Sex + (age | Subject)", data)
    assert (fit.nobs, fit.dropped) == (len(data) - 3, 3)
    full = fit_models("distance ~ age + Sex + (age | Subject)", orthodont.drop(index=[0, 5, 7]))
    assert fit.criterion == pytest.approx(full.criterion, abs=1e-9)


def test_the_command_line_fits_a_formula_and_refuses_a_bad_one(shrinkage_main):
    path = REFERENCE / "formula_Orthodont.csv"
    result = shrinkage_main("fit", "--data", str(path), "--formula",
                            "distance ~ age * Sex + (age | Subject)")
    assert result.returncode == 0, result.stderr
    assert "age:SexMale" in result.stdout and "Formula: distance ~ age * Sex" in result.stdout
    bad = shrinkage_main("fit", "--data", str(path), "--formula", "distance ~ age + (1 | a/b)")
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "grouping must be one column" in bad.stderr
