"""A user's CSV file as spreadsheets write it: labels kept as text, dialects, clear refusals.

The reference is lme4 on lme4's sleepstudy data (tests/reference/sleepstudy.json, made by
fit_csv.R from shrinkage/datasets/sleepstudy.csv): every dialect of the same data must give lme4's fit.
"""
import json
import subprocess

import numpy as np
import pandas as pd
import pytest

from shrinkage import fit_models, read_columns

from conftest import REFERENCE, ROOT, SHRINKAGE, run_shrinkage

SLEEP = ROOT / "shrinkage" / "datasets" / "sleepstudy.csv"
COLUMNS = ["--y", "Reaction", "--x", "Days", "--cluster", "Subject"]
# R: -2 * logLik(lmer(Reaction ~ Days + (Days | Subject), sleepstudy))   (REML)
LME4 = json.loads((REFERENCE / "sleepstudy.json").read_text())


@pytest.fixture
def fit_json(shrinkage_main):
    """``python -m shrinkage fit --data PATH ... --json``'s fit of a file, read back."""
    def fit(path, *options):
        result = shrinkage_main("fit", "--data", str(path), *COLUMNS, "--json", *options)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)
    return fit


def assert_is_lme4s_sleepstudy_fit(fitted):
    assert (fitted["nobs"], fitted["ngroups"]) == (180, 18)
    assert fitted["reml_criterion"] == pytest.approx(LME4["reml_criterion"], abs=1e-3)
    # The JSON names the slope after the predictor; lme4's reference file calls it x.
    for ours, name in (("Intercept", "Intercept"), ("Days", "x")):
        assert fitted["fixed_effects"][ours]["estimate"] == pytest.approx(
            LME4["fixed_effects"][name]["estimate"], rel=1e-5)


@pytest.fixture(scope="module")
def sleep():
    return pd.read_csv(SLEEP)


def test_labels_are_text_as_written_and_never_merged(fit_json, tmp_path, sleep):
    # 18 subjects labelled 1, 01, 001, 2, 02, 002, ...: read as numbers they would be 6.
    subjects = sorted(sleep["Subject"].unique())
    written = [f"{'0' * zeros}{number}" for number in range(1, 7) for zeros in range(3)]
    relabelled = sleep.assign(Subject=sleep["Subject"].map(dict(zip(subjects, written))))
    path = tmp_path / "labels.csv"
    relabelled.to_csv(path, index=False)
    fitted = fit_json(path)
    assert_is_lme4s_sleepstudy_fit(fitted)
    labels = [row["cluster"] for row in fitted["clusters"]]
    # Numbers written as text sort by value, then as written.
    assert labels == ["001", "01", "1", "002", "02", "2", "003", "03", "3",
                      "004", "04", "4", "005", "05", "5", "006", "06", "6"]
    # Each label's cluster is the subject that had it: its own line is that subject's.
    ours = {row["cluster"]: row["ols_slope"] for row in fitted["clusters"]}
    theirs = {row["cluster"]: row["ols_slope"] for row in LME4["clusters"]}
    for subject, label in zip(subjects, written):
        assert ours[label] == pytest.approx(theirs[subject], rel=1e-6)


@pytest.mark.parametrize("dialect", ["semicolon, decimal comma", "tab", "comma and space",
                                     "latin-1", "utf-16", "utf-8 with BOM",
                                     "tab, decimal comma, CRLF"])
def test_spreadsheet_dialects_are_read_without_options(fit_json, tmp_path, sleep, dialect):
    path = tmp_path / "sleep.csv"
    data = sleep.copy()
    if dialect == "latin-1":
        data["Subject"] = "Sujet é" + data["Subject"]
        data.to_csv(path, index=False, encoding="latin-1")
    elif dialect == "utf-16":
        data.to_csv(path, index=False, encoding="utf-16")
    elif dialect == "utf-8 with BOM":
        data.to_csv(path, index=False, encoding="utf-8-sig")
    elif dialect == "semicolon, decimal comma":
        data.to_csv(path, index=False, sep=";", decimal=",")
    elif dialect == "tab":
        data.to_csv(path, index=False, sep="\t")
    elif dialect == "tab, decimal comma, CRLF":
        data.to_csv(path, index=False, sep="\t", decimal=",", lineterminator="\r\n")
    else:
        text = data.to_csv(index=False).replace(",", ", ")
        path.write_text(text)
    fitted = fit_json(path)
    assert_is_lme4s_sleepstudy_fit(fitted)
    if dialect == "latin-1":
        assert fitted["clusters"][0]["cluster"] == "Sujet éS308"


def test_options_override_what_is_found(fit_json, tmp_path, sleep):
    path = tmp_path / "sleep.txt"
    # A bar-separated file with decimal commas: found from the file, or given.
    sleep.to_csv(path, index=False, sep="|", decimal=",")
    assert_is_lme4s_sleepstudy_fit(fit_json(path))
    assert_is_lme4s_sleepstudy_fit(fit_json(path, "--sep", "|", "--decimal", ","))
    sleep.to_csv(path, index=False, encoding="cp1252")
    assert_is_lme4s_sleepstudy_fit(fit_json(path, "--encoding", "cp1252"))


def the_one_line(result):
    """The one line a refused command printed; its exit status must be 2."""
    assert result.returncode == 2 and result.stdout == "", result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def one_line_error(shrinkage_main):
    """The one line a refused command prints (run in this process)."""
    return lambda *args: the_one_line(shrinkage_main(*args))


def test_a_bad_number_is_named_with_its_line(one_line_error, tmp_path, sleep):
    data = sleep.astype({"Reaction": str})
    data.loc[4, "Reaction"] = "23.5a"
    path = tmp_path / "bad.csv"
    data.to_csv(path, index=False)
    line = one_line_error("fit", "--data", str(path), *COLUMNS)
    assert line.endswith(f"error: y: column 'Reaction' must hold numbers; line 6 of "
                         f"{str(path)!r} holds '23.5a'")
    # Blank lines count as lines too.
    path.write_text("Reaction,Days,Subject\n1,0,a\n\n2,x1,a\n")
    assert "line 4 of" in one_line_error("fit", "--data", str(path), *COLUMNS)
    # The same in Python, by row.
    with pytest.raises(ValueError, match=r"y: column 'Reaction' must be numeric; row 4 holds '23.5a'"):
        fit_models(data, y="Reaction", x="Days", cluster="Subject")


def test_decimal_commas_in_a_comma_file_are_explained(one_line_error, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('y,x,cluster\n"1,5",2,a\n')
    line = one_line_error("fit", "--data", str(path))
    assert "line 2" in line and "'1,5'" in line and "--decimal ','" in line


def test_binary_files_are_refused_at_once(one_line_error, tmp_path):
    path = tmp_path / "zeros.csv"
    with open(path, "wb") as handle:
        handle.truncate(300 * 10**6)  # 300 MB of NUL bytes, sparse
    line = one_line_error("fit", "--data", str(path))
    assert f"error: data: {str(path)!r} is a binary file, not a CSV text file" in line


def test_utf16_without_a_byte_order_mark_reads_with_its_encoding(one_line_error, fit_json, tmp_path, sleep):
    path = tmp_path / "sleep.csv"
    path.write_bytes(sleep.to_csv(index=False).encode("utf-16-le"))
    assert "pass --encoding utf-16-le" in one_line_error("fit", "--data", str(path), *COLUMNS)
    assert_is_lme4s_sleepstudy_fit(fit_json(path, "--encoding", "utf-16-le"))


def test_a_duplicated_column_name_is_refused_by_name(one_line_error, tmp_path):
    path = tmp_path / "twice.csv"
    path.write_text("Reaction,Days,Subject,Days\n1,0,a,5\n")
    line = one_line_error("fit", "--data", str(path), *COLUMNS)
    assert line.endswith(f"error: x: the header of {str(path)!r} names 'Days' 2 times; "
                         "rename the columns so that each name is used once")


def test_a_wrong_separator_says_what_was_seen_and_what_to_pass(one_line_error, tmp_path, sleep):
    path = tmp_path / "semi.csv"
    sleep.to_csv(path, index=False, sep=";")
    line = one_line_error("fit", "--data", str(path), *COLUMNS, "--sep", ",")
    assert "has no column 'Reaction'" in line and "'Reaction;Days;Subject'" in line
    assert "read as comma-separated; pass --sep" in line
    assert "sep must be one character" in one_line_error("fit", "--data", str(path), "--sep", "ab")
    assert "encoding: unknown encoding 'klingon'" in one_line_error(
        "fit", "--data", str(path), "--encoding", "klingon")


def test_only_the_named_columns_are_read(tmp_path):
    path = tmp_path / "wide.csv"
    names = ["y", "x", "cluster"] + [f"note{i}" for i in range(2000)]
    rows = [[1.0, 0, "a"], [2.5, 1, "a"], [2.0, 0, "b"], [3.0, 1, "b"], [0.5, 2, "a"],
            [4.0, 2, "b"], [1.5, 0, "c"], [3.5, 2, "c"], [2.2, 1, "c"]]
    lines = [",".join(names)] + [",".join(map(str, row + ["x" * 5] * 2000)) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    frame = read_columns(path, "y", "x", "cluster")
    assert list(frame.columns) == ["y", "x", "cluster"] and len(frame) == 9
    assert frame["cluster"].tolist() == ["a", "a", "b", "b", "a", "b", "c", "c", "c"]


def test_the_summary_keeps_its_columns_with_long_names(sleep):
    data = sleep.rename(columns={"Subject": "Subject ID", "Days": "Days of restriction"})
    data.loc[3, "Reaction"] = float("nan")
    text = fit_models(data, y="Reaction", x="Days of restriction", cluster="Subject ID").summary()
    lines = text.splitlines()
    header = next(line for line in lines if line.lstrip().startswith("Groups"))
    name_at, variance_end = header.index("Name"), header.index("Variance") + len("Variance")
    sd_end = header.index("Std.Dev.") + len("Std.Dev.")
    rows = {"(Intercept)": " Subject ID", "Days of restriction": "  ", "": " Residual"}
    for name, start in rows.items():
        row = next(line for line in lines if line.startswith(start) and
                   (not name or name in line) and line[1:].strip())
        # Each field lies in its own column, under its heading.
        if name:
            assert row[name_at:variance_end - 9].strip() == name
        assert float(row[variance_end - 9:variance_end]) > 0
        assert float(row[sd_end - 9:sd_end]) > 0
    fixed = next(line for line in lines if line.startswith("Days of restriction") and "." in line)
    assert fixed.split()[3] == f"{float(fixed.split()[3]):.5f}"  # the estimate is its own field
    assert "1 row with missing values left out" in text


def test_tables_of_other_libraries_convert_and_others_are_named(sleep):
    class Table:  # as polars and pyarrow tables offer it
        def __init__(self, frame):
            self.frame = frame

        def to_pandas(self):
            return self.frame.copy()

    fitted = fit_models(Table(sleep), y="Reaction", x="Days", cluster="Subject")
    assert fitted.reml_criterion == pytest.approx(LME4["reml_criterion"], abs=1e-3)
    with pytest.raises(ValueError, match=r"got builtins\.dict$"):
        fit_models({"y": [1, 2]})


def test_each_fit_runs_on_one_blas_thread(monkeypatch, sleep):
    from threadpoolctl import threadpool_info

    import shrinkage.fit as fit_module

    seen = []
    inner = fit_module._fit

    def recording(*args, **kwargs):
        seen.extend(pool["num_threads"] for pool in threadpool_info()
                    if pool["user_api"] == "blas")
        return inner(*args, **kwargs)

    monkeypatch.setattr(fit_module, "_fit", recording)
    fit_models(sleep, y="Reaction", x="Days", cluster="Subject")
    assert seen and set(seen) == {1}


def test_the_fit_repr_is_one_line(sleep):
    text = repr(fit_models(sleep, y="Reaction", x="Days", cluster="Subject"))
    assert text == ("<MixedFit Reaction ~ Days + (Days | Subject): 180 observations, "
                    f"18 clusters, REML criterion {LME4['reml_criterion']:.1f}>")


# --- Hostile and careless files: a correct result or one line, never a silent misreading ---
# (run as a user runs them: python -m shrinkage in a process of its own)

@pytest.fixture
def refused():
    """The one line ``python -m shrinkage ARGS``, run in a process, is refused with."""
    return lambda *args: the_one_line(run_shrinkage(*args))


@pytest.fixture
def fitted_json():
    """``python -m shrinkage fit --data PATH ... --json``, run in a process, read back."""
    def run(path, *options):
        result = run_shrinkage("fit", "--data", str(path), *COLUMNS, "--json", *options)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)
    return run

@pytest.mark.parametrize("row, fields", [("1,0,a,9", 4), ("1,0", 2), ("7,1,0,a", 4)])
def test_a_row_with_more_or_fewer_fields_than_the_header_is_refused_by_line(
        refused, tmp_path, row, fields):
    # Ragged rows, or extra leading fields, were shifted or cut and fitted.
    path = tmp_path / "ragged.csv"
    path.write_text("y,x,cluster\n1,0,a\n2,1,a\n\n" + row + "\n3,2,b\n")
    line = refused("fit", "--data", str(path))
    assert line.endswith(f"error: data: line 5 of {str(path)!r} has {fields} fields but the "
                         "header has 3; every row needs one field per column (pass --sep if "
                         "the file uses another separator)")


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_old_mac_line_ends_are_read(fitted_json, tmp_path, sleep, bom):
    path = tmp_path / "mac.csv"
    path.write_bytes(bom + sleep.to_csv(index=False).replace("\n", "\r").encode())
    assert_is_lme4s_sleepstudy_fit(fitted_json(path))


def test_a_field_longer_than_the_csv_modules_limit_is_read(fitted_json, tmp_path, sleep):
    data = sleep.astype({"Subject": str})
    long_label = "S" * 200_000  # past the csv module's default 128 KiB
    data["Subject"] = data["Subject"].where(data["Subject"] != "S308", long_label)
    path = tmp_path / "long.csv"
    data.to_csv(path, index=False)
    fitted = fitted_json(path)
    assert_is_lme4s_sleepstudy_fit(fitted)
    assert long_label in [cluster["cluster"] for cluster in fitted["clusters"]]


@pytest.mark.parametrize("codec", ["rot13", "base64", "hex", "zlib"])
def test_codecs_that_are_not_text_encodings_are_named(refused, tmp_path, sleep, codec):
    path = tmp_path / "sleep.csv"
    sleep.to_csv(path, index=False)
    line = refused("fit", "--data", str(path), *COLUMNS, "--encoding", codec)
    assert line.endswith(f"error: encoding: {codec!r} is not a text encoding (for example "
                         "utf-8, latin-1, utf-16)")


def test_a_file_mixing_utf8_and_latin1_is_refused_naming_both_lines(refused, tmp_path):
    path = tmp_path / "mixed.csv"
    rows = [f"{i},{i % 5},Zoë" for i in range(10)]
    path.write_bytes(("y,x,cluster\n" + "\n".join(rows[:5]) + "\n").encode("utf-8")
                     + ("\n".join(rows[5:]) + "\n").encode("latin-1"))
    line = refused("fit", "--data", str(path))
    assert line.endswith(f"error: data: {str(path)!r} mixes text encodings: line 2 is UTF-8 "
                         "but line 7 is not; save the file in one encoding, or pass --encoding "
                         "to read all of it in one")


def test_latin1_whose_only_accent_is_in_the_last_bytes_is_read_as_latin1(tmp_path):
    path = tmp_path / "late.csv"
    text = "y,x,cluster\n" + "".join(f"{i * 0.7 % 3},{i % 4},c{i % 3}\n" for i in range(30))
    path.write_bytes((text + "4,2,Zoë").encode("latin-1"))
    frame = read_columns(path, "y", "x", "cluster")
    assert frame["cluster"].iloc[-1] == "Zoë" and len(frame) == 31


@pytest.mark.parametrize("stdin, message", [
    (subprocess.DEVNULL, "data: standard input is empty"),
    (None, "data: standard input is closed; pipe the file in, or give its name"),
])
def test_standard_input_empty_or_closed_is_one_line(stdin, message):
    # None: the command runs with its standard input closed, as `<&-` leaves it.
    command = [*SHRINKAGE, "fit", "--data", "-"]
    if stdin is None:
        command = ["sh", "-c", '"$@" <&-', "sh", *command]
    result = subprocess.run(command, stdin=stdin, capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.strip() == (
        f"python -m shrinkage fit: error: {message}")


def test_a_symbolic_link_loop_and_an_unreadable_file_are_named_in_words(refused, tmp_path):
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    line = refused("fit", "--data", str(loop))
    assert line.endswith(f"error: data: cannot read {str(loop)!r}: Too many levels of symbolic "
                         "links")
    line = refused("fit", "--data", "/proc/self/mem")
    assert line.endswith("error: data: cannot read '/proc/self/mem': Input/output error")


def test_running_out_of_memory_reading_a_file_is_one_line(one_line_error, tmp_path, monkeypatch):
    # (Simulated: a real one would take the machine's memory.)
    path = tmp_path / "big.csv"
    path.write_text("y,x,cluster\n1,0,a\n")

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(pd, "read_csv", exhausted)
    line = one_line_error("fit", "--data", str(path))
    assert line.endswith(f"error: data: {str(path)!r} is too large to read into memory")


def test_a_formulas_other_columns_are_numbers_or_text_as_read_csv_decides(tmp_path):
    from shrinkage.csvfile import read_columns

    path = tmp_path / "d.csv"
    path.write_text("y;x;g;dose;arm;code\n1,5;1;a;0,5;A;01\n2,5;2;a;1,5;B;02\n3;3;b;;A;x\n")
    frame = read_columns(path, "y", "x", "g", others=["dose", "arm", "code"])
    assert list(frame.columns) == ["y", "x", "g", "dose", "arm", "code"]
    assert frame["dose"].tolist()[:2] == [0.5, 1.5] and np.isnan(frame["dose"].iloc[2])
    assert frame["arm"].tolist() == ["A", "B", "A"]      # text: a factor
    assert frame["code"].tolist() == ["01", "02", "x"]   # one value is not a number: text
    # Without x (a random-intercept formula whose fixed part has no numeric column).
    assert list(read_columns(path, "y", None, "g", others=["arm"]).columns) == ["y", "g", "arm"]
    with pytest.raises(ValueError, match="formula: the column 'nope'.*has no column 'nope'"):
        read_columns(path, "y", "x", "g", others=["nope"])
