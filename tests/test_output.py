"""Files are written all-or-none, and output-path problems are one line with exit status 2.

The command runs in this process (conftest.shrinkage_main) unless the test is about the
process itself: its signals or its standard output as a file descriptor.
"""
import json
import os
import shutil
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from shrinkage import SCENARIOS, fit_models, simulate
from shrinkage.output import replacing

from conftest import REFERENCE, SHRINKAGE, run_shrinkage


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


def _animate_over_old_files(folder):
    """``python -m shrinkage animate`` started over an old video and poster in ``folder``."""
    video, poster = folder / "ok.mp4", folder / "ok.png"
    video.write_bytes(b"the old video")
    poster.write_bytes(b"the old poster")
    process = subprocess.Popen([*SHRINKAGE, "animate", "--out", str(video), "--static", str(poster)],
                               stderr=subprocess.PIPE, text=True)
    return process, video, poster


def test_ctrl_c_during_animate_leaves_the_old_video(tmp_path):
    process, video, poster = _animate_over_old_files(tmp_path)
    # Interrupt while the video is being encoded: its temporary file exists then.
    deadline = time.monotonic() + 60
    while not any(".partial" in name for name in files_in(tmp_path)):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip().splitlines() == ["python -m shrinkage animate: interrupted; no file was changed"]
    assert video.read_bytes() == b"the old video" and poster.read_bytes() == b"the old poster"
    assert files_in(tmp_path) == ["ok.mp4", "ok.png"]


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signals only")
def test_ctrl_c_the_moment_a_temporary_file_is_made_leaves_none(tmp_path, monkeypatch):
    # The interrupt above, at the worst moment: the second temporary file exists and is
    # not yet recorded for removal (the test above met it now and then).
    import tempfile

    made = tempfile.mkstemp

    def make_then_interrupt(*args, **kwargs):
        handle_and_name = made(*args, **kwargs)
        if handle_and_name[1].endswith(".partial.png"):
            signal.raise_signal(signal.SIGINT)
        return handle_and_name

    monkeypatch.setattr(tempfile, "mkstemp", make_then_interrupt)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with replacing(tmp_path / "a.mp4", tmp_path / "a.png"):
                pass
    finally:
        signal.signal(signal.SIGINT, previous)
    assert files_in(tmp_path) == []


def test_a_failed_static_figure_leaves_no_video(tmp_path, monkeypatch):
    import shrinkage.animate as animate

    def fail(fig, path, dpi, facecolor):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(animate, "save_figure", fail)
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
def test_output_path_problems_are_one_line_and_exit_2(shrinkage_main, tmp_path, args, option):
    (tmp_path / "file.txt").write_text("")
    result = shrinkage_main(*[arg.format(tmp=tmp_path) for arg in args])
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"error: {option}" in lines[0], result.stderr
    assert files_in(tmp_path) == ["file.txt"]


def test_the_process_ends_with_the_status_main_returns(tmp_path):
    # The tests above run the command in this process; here it runs as a reader runs it.
    refused = run_shrinkage("data", "--cor", "1", "--out", str(tmp_path / "d.csv"))
    assert refused.returncode == 2 and refused.stdout == "", refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "cor" in refused.stderr
    unreadable = run_shrinkage("fit", "--data", str(tmp_path / "missing.csv"))
    assert unreadable.returncode == 2 and "cannot read" in unreadable.stderr
    assert files_in(tmp_path) == []


def test_a_name_starting_with_a_dash_is_a_file_name(shrinkage_main, tmp_path):
    result = shrinkage_main("animate", "--out=-x.mp4", "--static=-x.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert files_in(tmp_path) == ["-x.mp4", "-x.png"]


def test_dash_means_standard_output(shrinkage_main, tmp_path):
    data = shrinkage_main("data", "--obs-per-cluster", "3", "--out", "-", cwd=tmp_path)
    assert data.returncode == 0 and data.stdout.startswith("y,x,cluster\n")
    assert len(data.stdout.splitlines()) == 301
    fit = shrinkage_main("fit", "--json", "--out", "-", cwd=tmp_path)
    assert fit.returncode == 0 and fit.stdout.lstrip().startswith("{")
    assert files_in(tmp_path) == []


def test_fit_out_writes_the_file(shrinkage_main, tmp_path):
    result = shrinkage_main("fit", "--json", "--out", str(tmp_path / "fit.json"))
    assert result.returncode == 0 and result.stdout == ""
    assert (tmp_path / "fit.json").read_text().lstrip().startswith("{")


@pytest.mark.parametrize("option", ["--sigma", "--sd-int", "--sd-slope", "--intercept", "--beta",
                                    "--cor", "--balanced"])
@pytest.mark.parametrize("value", ["inf", "nan", "1e308", "-1e308"])
def test_numeric_options_must_be_finite_and_in_range(shrinkage_main, tmp_path, option, value):
    out = tmp_path / "data.csv"
    result = shrinkage_main("data", f"{option}={value}", "--out", str(out))
    assert result.returncode == 2, result.stdout[:200] + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and option[2:].replace("-", "_") in lines[0], result.stderr
    assert not out.exists()


@pytest.mark.parametrize("option", ["--sigma", "--sd-int", "--sd-slope", "--intercept", "--beta"])
def test_large_settings_end_in_one_line(shrinkage_main, option):
    # Settings up to the allowed 1e150 give finite data; the fit either succeeds or says why.
    result = shrinkage_main("fit", f"{option}=1e149")
    assert result.returncode in (0, 2), result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 1


def _children_named(pid, name):
    """Process ids of ``pid``'s children whose command is ``name`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "stat").read_text()
        except OSError:
            continue
        command, rest = status.split(" (", 1)[1].rsplit(") ", 1)
        if int(rest.split()[1]) == pid and name in command:
            found.append(int(entry.name))
    return found


def test_ctrl_c_at_the_terminal_while_ffmpeg_encodes_is_an_interruption(tmp_path):
    # A terminal's Ctrl-C signals the whole process group, ffmpeg included.
    video = tmp_path / "ok.mp4"
    video.write_bytes(b"the old video")
    process = subprocess.Popen([*SHRINKAGE, "animate", "--out", str(video)], stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not _children_named(process.pid, "ffmpeg"):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)  # frames are flowing into ffmpeg
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip().splitlines() == ["python -m shrinkage animate: interrupted; no file was changed"]
    assert video.read_bytes() == b"the old video" and files_in(tmp_path) == ["ok.mp4"]


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe.csv"
    os.mkfifo(path)
    return path


def test_a_fifo_is_written_into_not_replaced(shrinkage_main, fifo):
    received = {}
    reader = threading.Thread(target=lambda: received.update(text=fifo.read_text()), daemon=True)
    reader.start()
    result = shrinkage_main("data", "--obs-per-cluster", "3", "--out", str(fifo))
    reader.join(timeout=10)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    # The reader got the whole CSV: R's data for the few_obs setting, row for row.
    expected = (REFERENCE / "few_obs.csv").read_text().splitlines()[0]
    assert "text" in received, "the reader got nothing"
    assert received["text"].startswith("y,x,cluster\n") and len(received["text"].splitlines()) == 301
    assert expected.replace('"', "") == "y,x,cluster"
    assert files_in(fifo.parent) == ["pipe.csv"]


@pytest.mark.skipif(os.geteuid() != 0, reason="making device nodes needs root")
def test_device_nodes_are_written_into_not_replaced(shrinkage_main, tmp_path):
    null, full = tmp_path / "null", tmp_path / "full"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))   # as /dev/null
    os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))   # as /dev/full
    ok = shrinkage_main("data", "--out", str(null))
    assert ok.returncode == 0 and ok.stderr == "", ok.stderr
    assert stat.S_ISCHR(null.stat().st_mode) and null.stat().st_rdev == os.makedev(1, 3)
    failed = shrinkage_main("fit", "--json", "--out", str(full))
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines() == [
        f"python -m shrinkage fit: error: out: cannot write {str(full)!r} (No space left on device)"]
    assert stat.S_ISCHR(full.stat().st_mode) and full.stat().st_rdev == os.makedev(1, 7)
    assert files_in(tmp_path) == ["full", "null"]


def test_dev_stdout_is_the_standard_output(tmp_path):
    # /proc/self/fd/1, where /dev/stdout points: a regression then replaces only the
    # test's own file, never the machine's /dev/stdout.
    result = run_shrinkage("data", "--obs-per-cluster", "3", "--out", "/proc/self/fd/1",
                           cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("y,x,cluster\n") and len(result.stdout.splitlines()) == 301
    # Appending to a redirected file keeps what the file held.
    log = tmp_path / "log.csv"
    log.write_text("before\n")
    with open(log, "a") as sink:
        subprocess.run([*SHRINKAGE, "data", "--out", "/proc/self/fd/1"], stdout=sink, check=True)
    assert log.read_text().startswith("before\ny,x,cluster\n")


def test_a_symbolic_link_is_written_through_to_its_file(shrinkage_main, tmp_path):
    real = tmp_path / "results" / "fit.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "latest.json"
    link.symlink_to(real)
    dangling = tmp_path / "next.csv"
    dangling.symlink_to(tmp_path / "results" / "data.csv")
    assert shrinkage_main("fit", "--json", "--out", str(link)).returncode == 0
    assert shrinkage_main("data", "--out", str(dangling)).returncode == 0
    assert link.is_symlink() and dangling.is_symlink()
    # R: -2 * logLik(lmer(y ~ x + (x | cluster), baseline data))   (REML)
    lme4 = json.loads((REFERENCE / "baseline.json").read_text())["reml_criterion"]
    assert json.loads(real.read_text())["reml_criterion"] == pytest.approx(lme4, abs=0.01)
    assert (tmp_path / "results" / "data.csv").read_text().startswith("y,x,cluster\n")
    assert files_in(real.parent) == ["data.csv", "fit.json"]


@pytest.mark.parametrize("args, option", [
    (["data", "--out", ""], "out"),
    (["fit", "--out", ""], "out"),
    (["study", "--replicates", "2", "--out", ""], "out"),
    (["animate", "--out", ""], "out"),
    (["animate", "--out", "{tmp}/a.mp4", "--static", ""], "static"),
])
def test_an_empty_file_name_is_named_as_empty(shrinkage_main, tmp_path, args, option):
    result = shrinkage_main(*[arg.format(tmp=tmp_path) for arg in args], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"python -m shrinkage {args[0]}: error: {option}: the file name is empty; give a file name"]
    assert files_in(tmp_path) == []


def test_temporaries_of_killed_runs_are_removed_by_the_next_write(shrinkage_main, tmp_path):
    target = tmp_path / "data.csv"
    # A process that is gone (its id is beyond pid_max), one that runs (this one), the old
    # layout without a process id, and other files that only look alike.
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    dead = tmp_path / f".data.{pid_max + 1}-abcd1234.partial.csv"
    alive = tmp_path / f".data.{os.getpid()}-abcd1234.partial.csv"
    old_layout = tmp_path / ".data.k2j4_x9q.partial.csv"
    others = [tmp_path / ".data.notes.partial.csv", tmp_path / ".other.1-abcd1234.partial.csv",
              tmp_path / ".data.1-abcd1234.partial.png"]
    for path in [dead, alive, old_layout, *others]:
        path.write_text("half a file")
    assert shrinkage_main("data", "--out", str(target)).returncode == 0
    assert sorted(files_in(tmp_path)) == sorted(["data.csv", alive.name, *(p.name for p in others)])


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None,
                    reason="mounting a small file system needs root")
def test_a_full_disk_is_one_line_naming_the_file(shrinkage_main, tmp_path):
    disk = tmp_path / "small"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        (disk / "data.csv").write_text("old")
        result = shrinkage_main("data", "--obs-per-cluster", "100", "--out", str(disk / "data.csv"))
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            f"python -m shrinkage data: error: out: cannot write {str(disk / 'data.csv')!r} "
            "(No space left on device)"]
        assert files_in(disk) == ["data.csv"] and (disk / "data.csv").read_text() == "old"
    finally:
        subprocess.run(["umount", str(disk)], check=True)


# --- No input destroyed, no output half-made ---

def test_an_output_naming_the_input_is_refused_before_anything_is_written(tmp_path):
    data = tmp_path / "s.csv"
    data.write_text(simulate(SCENARIOS["few_obs"]).to_csv(index=False))
    before = data.read_bytes()
    link = tmp_path / "link.csv"
    link.symlink_to(data)
    hard = tmp_path / "hard.csv"
    os.link(data, hard)
    spellings = [str(data), str(tmp_path / "." / "s.csv"), "s.csv", str(link), str(hard)]
    for out in spellings:
        result = run_shrinkage("fit", "--data", str(data), "--out", out, cwd=tmp_path)
        assert result.returncode == 2, (out, result.stderr)
        assert result.stderr.strip().splitlines() == [
            f"python -m shrinkage fit: error: out: {out!r} is the input file (--data); writing it "
            "would destroy the data: give another name"]
    animated = run_shrinkage("animate", "--data", str(data), "--out", "a.mp4", "--static",
                             str(link), cwd=tmp_path)
    assert animated.returncode == 2 and "static: " in animated.stderr
    assert data.read_bytes() == before
    assert files_in(tmp_path) == ["hard.csv", "link.csv", "s.csv"]


def test_the_static_figure_may_not_name_the_video(tmp_path):
    result = run_shrinkage("animate", "--out", "a.mp4", "--static", "./a.mp4", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "python -m shrinkage animate: error: static: './a.mp4' is the same file as --out; give "
        "each output its own name"]
    assert files_in(tmp_path) == []


def test_a_read_only_file_is_refused_and_a_writable_one_keeps_its_mode(tmp_path):
    locked, shared = tmp_path / "locked.csv", tmp_path / "shared.csv"
    for path, mode in ((locked, 0o444), (shared, 0o664)):
        path.write_text("old")
        path.chmod(mode)
    refused = run_shrinkage("data", "--out", str(locked))
    assert refused.returncode == 2 and refused.stderr.strip() == (
        f"python -m shrinkage data: error: out: {str(locked)!r} is read-only (no write "
        "permission); make it writable or give another name")
    assert locked.read_text() == "old" and stat.S_IMODE(locked.stat().st_mode) == 0o444
    assert run_shrinkage("data", "--out", str(shared)).returncode == 0
    assert shared.read_text().startswith("y,x,cluster") and stat.S_IMODE(shared.stat().st_mode) == 0o664


def test_sigterm_during_animate_leaves_the_old_files_and_nothing_partial(tmp_path):
    process, video, poster = _animate_over_old_files(tmp_path)
    deadline = time.monotonic() + 60
    while not (encoders := _children_named(process.pid, "ffmpeg")):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    process.terminate()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert err.strip().splitlines() == ["python -m shrinkage animate: terminated; no file was changed"]
    assert video.read_bytes() == b"the old video" and poster.read_bytes() == b"the old poster"
    assert files_in(tmp_path) == ["ok.mp4", "ok.png"]
    deadline = time.monotonic() + 10  # ffmpeg, in its own session, goes too

    def running(pid):
        try:
            return (Path("/proc") / str(pid) / "stat").read_text().rsplit(") ", 1)[1][0] != "Z"
        except OSError:
            return False

    while any(map(running, encoders)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(running, encoders))


def test_an_animation_to_dev_null_is_written_into(tmp_path):
    result = run_shrinkage("animate", "--n-cluster", "10", "--out", "/dev/null", "--static",
                           "/dev/null", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert files_in(tmp_path) == []
