"""Files are written all-or-none, and output-path problems are one line with exit status 2."""
import signal
import subprocess
import sys
import time

import pytest

from shrinkage import SCENARIOS, fit_models, simulate
from shrinkage.output import replacing

CLI = [sys.executable, "-m", "shrinkage"]


def run(*args, **kwargs):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, **kwargs)


def files_in(folder):
    return sorted(path.name for path in folder.iterdir())


def test_replacing_keeps_the_old_files_when_the_block_fails(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.png"
    first.write_text("old a")
    with pytest.raises(RuntimeError):
        with replacing(first, second) as (new_first, new_second):
            new_first.write_text("new a")
            raise RuntimeError("the second file could not be made")
    assert first.read_text() == "old a"
    assert files_in(tmp_path) == ["a.csv"]


def test_replacing_replaces_every_target_when_the_block_completes(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "sub" / "b.png"
    first.write_text("old a")
    with replacing(first, second) as (new_first, new_second):
        new_first.write_text("new a")
        new_second.write_text("new b")
    assert (first.read_text(), second.read_text()) == ("new a", "new b")
    assert files_in(tmp_path) == ["a.csv", "sub"]
    assert oct(second.stat().st_mode & 0o077) != "0o0"  # readable by others, like any output


def test_ctrl_c_during_animate_leaves_the_old_video(tmp_path):
    video, poster = tmp_path / "ok.mp4", tmp_path / "ok.png"
    video.write_bytes(b"the old video")
    poster.write_bytes(b"the old poster")
    process = subprocess.Popen([*CLI, "animate", "--out", str(video), "--static", str(poster)],
                               stderr=subprocess.PIPE, text=True)
    # Interrupt while the video is being encoded: its temporary file exists then.
    deadline = time.monotonic() + 60
    while not any(".partial" in name for name in files_in(tmp_path)):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err.strip().splitlines() == ["python -m shrinkage animate: interrupted; no file was changed"]
    assert video.read_bytes() == b"the old video" and poster.read_bytes() == b"the old poster"
    assert files_in(tmp_path) == ["ok.mp4", "ok.png"]


def test_a_failed_static_figure_leaves_no_video(tmp_path, monkeypatch):
    import shrinkage.animate as animate

    def fail(fig, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(animate, "save_static", fail)
    fit = fit_models(simulate(SCENARIOS["baseline"]))
    with pytest.raises(OSError):
        animate.render_files(fit, tmp_path / "a.mp4", static=tmp_path / "a.png")
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("args, option", [
    (["data", "--out", "{tmp}"], "out"),                       # a directory
    (["data", "--out", "{tmp}/file.txt/x.csv"], "out"),        # its folder is a file
    (["data", "--out", "/proc/x.csv"], "out"),                 # a folder nobody can write
    (["fit", "--json", "--out", "{tmp}"], "out"),
    (["animate", "--out", "{tmp}"], "out"),
    (["animate", "--out", "/proc/x.mp4"], "out"),
    (["animate", "--out", "{tmp}/a.mp4", "--static", "/proc/x.png"], "static"),
    (["animate", "--out", "-"], "out"),                        # video to standard output
])
def test_output_path_problems_are_one_line_and_exit_2(tmp_path, args, option):
    (tmp_path / "file.txt").write_text("")
    result = run(*[arg.format(tmp=tmp_path) for arg in args])
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"error: {option}" in lines[0], result.stderr
    assert files_in(tmp_path) == ["file.txt"]


def test_a_name_starting_with_a_dash_is_a_file_name(tmp_path):
    result = run("animate", "--out=-x.mp4", "--static=-x.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert files_in(tmp_path) == ["-x.mp4", "-x.png"]


def test_dash_means_standard_output(tmp_path):
    data = run("data", "--obs-per-cluster", "3", "--out", "-", cwd=tmp_path)
    assert data.returncode == 0 and data.stdout.startswith("y,x,cluster\n")
    assert len(data.stdout.splitlines()) == 301
    fit = run("fit", "--json", "--out", "-", cwd=tmp_path)
    assert fit.returncode == 0 and fit.stdout.lstrip().startswith("{")
    assert files_in(tmp_path) == []


def test_fit_out_writes_the_file(tmp_path):
    result = run("fit", "--json", "--out", str(tmp_path / "fit.json"))
    assert result.returncode == 0 and result.stdout == ""
    assert (tmp_path / "fit.json").read_text().lstrip().startswith("{")


@pytest.mark.parametrize("option", ["--sigma", "--sd-int", "--sd-slope", "--intercept", "--beta",
                                    "--cor", "--balanced"])
@pytest.mark.parametrize("value", ["inf", "nan", "1e308", "-1e308"])
def test_numeric_options_must_be_finite_and_in_range(tmp_path, option, value):
    out = tmp_path / "data.csv"
    result = run("data", f"{option}={value}", "--out", str(out))
    assert result.returncode == 2, result.stdout[:200] + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and option[2:].replace("-", "_") in lines[0], result.stderr
    assert not out.exists()


@pytest.mark.parametrize("option", ["--sigma", "--sd-int", "--sd-slope", "--intercept", "--beta"])
def test_large_settings_end_in_one_line(option):
    # Settings up to the allowed 1e150 give finite data; the fit either succeeds or says why.
    result = run("fit", f"{option}=1e149")
    assert result.returncode in (0, 2), result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 1
