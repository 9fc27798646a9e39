"""Measure what the project promises on speed and size, and print the numbers.

    .venv/bin/python scripts/benchmark.py [--skip-book] [--suite]

- fit time for each article setting and three larger ones, beside lme4's ``lmer`` on the
  same data when Rscript with lme4 is installed (an optional comparator), and beside a
  plain statsmodels MixedLM fit (its default optimiser);
- fit time of each formula of the lme4 references on real data
  (``tests/reference/formula_*``), beside lme4's on the same file;
- one small fit with numpy's BLAS threads and with the fit's limit of one, on a quiet
  machine and with one core busy;
- refusing a 2 GB binary file, and reading three columns of a 100,000-column file;
- time and peak memory of fits of 10^6 and 10^7 rows;
- render time and file size of each setting's animation;
- the simulation study: six scenarios x 200 replicates, on the default backend (all
  cores) and on one core, and a draw of 10^7 normals (R-exact, bit for bit);
- the book: a clean build, a rebuild after a prose-only edit, the weight of every
  page with the files it loads (stylesheets, scripts, images, video, poster), and in
  ``scripts/preview`` the time from saving a prose or code edit to the reloaded page.

- with ``--suite``, the test suite as ``bash scripts/test`` runs it (about five minutes).

Targets: fits at most lme4's time (aim: half); MP4 <= 300 KB and a few seconds to
render; study of 6 x 200 replicates <= 30 s; clean build <= 75 s; prose-only rebuild
< 15 s; no page over 1 MB; the test suite under 6 minutes.
"""

import argparse
import contextlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import shrinkage as sk  # noqa: E402
from shrinkage.data import Settings  # noqa: E402


def timed(function, repeat=1):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def plain_statsmodels(data):
    import statsmodels.formula.api as smf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = smf.mixedlm("y ~ x", data, groups=data["cluster"], re_formula="~x")
        result = model.fit(reml=True)
    return result


def lme4_available():
    """Whether Rscript with lme4 is installed (Debian: r-base-core r-cran-lme4)."""
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(["Rscript", "-e", "library(lme4)"], capture_output=True)
    return probe.returncode == 0


class Lme4Server:
    """One R process timing lmer on request (``lme4_timing.R``)."""

    def __enter__(self):
        self.process = subprocess.Popen(["Rscript", str(ROOT / "scripts" / "lme4_timing.R")],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        return self

    def time(self, path, formula, repeat):
        """Mean seconds of ``repeat`` lmer fits in a row, and the REML criterion."""
        self.process.stdin.write(f"{path}\t{formula}\t{repeat}\n")
        self.process.stdin.flush()
        seconds, criterion = map(float, self.process.stdout.readline().split())
        return seconds, criterion

    def __exit__(self, *exc):
        self.process.stdin.close()
        self.process.wait()


def mean_seconds(function, repeat):
    """Mean seconds of ``repeat`` calls in a row, and the last result.

    A mean over a batch, as lme4's side is timed: R's clock resolves a millisecond.
    """
    start = time.perf_counter()
    for _ in range(repeat):
        result = function()
    return (time.perf_counter() - start) / repeat, result


def alternating(ours, server, path, formula, rounds, repeat):
    """Our fit and lme4's in alternating rounds of ``repeat`` fits, after a warm-up round.

    Both sides of a round meet the machine in the same state (this machine's speed
    drifts by up to two times over seconds).  Returns a dict: the median of each side's
    round means (``ours``, ``theirs``), the median of the rounds' ratios (``ratio``), how
    many rounds ours was the faster in (``faster``), our last fit (``fit``) and lme4's
    REML criterion (``criterion``).  Without a server (no R), only ours is timed, in one
    round of ``rounds * repeat`` fits, and lme4's entries are None.
    """
    mean_seconds(ours, 1)
    if server is None:
        seconds, fit = mean_seconds(ours, rounds * repeat)
        return dict(ours=seconds, theirs=None, ratio=None, faster=None, fit=fit,
                    criterion=None)
    server.time(path, formula, 1)
    pairs = []
    for _ in range(rounds):
        seconds, fit = mean_seconds(ours, repeat)
        theirs, criterion = server.time(path, formula, repeat)
        pairs.append((seconds, theirs))
    ratios = [a / b for a, b in pairs]
    return dict(ours=statistics.median(a for a, _ in pairs),
                theirs=statistics.median(b for _, b in pairs), ratio=statistics.median(ratios),
                faster=sum(ratio < 1 for ratio in ratios), fit=fit, criterion=criterion)


def bench_formula_fits(rounds=15, repeat=5):
    """Each formula of tests/reference/formula_*.json: ours beside lme4's, on the same CSV.

    Without R, lme4's time is the one the reference script measured (its median of 11).
    """
    import json

    import pandas as pd

    with_r = lme4_available()
    print(f"\n## Formulas on real data ({rounds} alternating rounds of {repeat} fits each; "
          "time = median of the rounds' means; ratio = ours / lme4's, median of the rounds)")
    if not with_r:
        print("without Rscript and lme4: lme4's time is the one the reference script stored, "
              "measured at another time (not side by side)")
    print(f"{'data: formula':<62}{'ours (ms)':>10}{'lme4 (ms)':>11}{'ratio':>7}"
          f"{'rounds ours faster':>20}")
    with Lme4Server() if with_r else contextlib.nullcontext() as server:
        for path in sorted((ROOT / "tests" / "reference").glob("formula_*.json")):
            data = pd.read_csv(path.with_suffix(".csv"))
            for model in json.loads(path.read_text())["models"].values():
                formula = model["formula"]
                timing = alternating(lambda formula=formula, data=data: sk.fit_models(formula, data),
                                     server, path.with_suffix(".csv"), formula, rounds, repeat)
                theirs = timing["theirs"] if with_r else model["lme4_seconds"]
                shown = f"{timing['faster']} of {rounds}" if with_r else "-"
                label = f"{path.stem.removeprefix('formula_')}: {formula}"
                print(f"{label:<62}{timing['ours'] * 1e3:>10.1f}{theirs * 1e3:>11.1f}"
                      f"{(timing['ratio'] or timing['ours'] / theirs):>7.2f}{shown:>20}")


# The comparison settings: the article's six (many_obs is 100 clusters x 100), and larger ones.
FIT_SETTINGS = {
    **sk.SCENARIOS,
    "1000 clusters x 8": Settings(n_cluster=1000, obs_per_cluster=8),
    "2000 clusters x 3": Settings(n_cluster=2000, obs_per_cluster=3),
}


def bench_fits(workdir, rounds=5, repeat=2):
    with_r = lme4_available()
    print(f"\n## Fits (with lme4: {rounds} alternating rounds of {repeat} fits each, time = "
          "median of the rounds' means, ratio = ours / lme4's, median of the rounds; "
          "statsmodels: one fit)")
    if not with_r:
        print("lme4 comparison skipped: Rscript with lme4 is not installed "
              "(apt-get install r-base-core r-cran-lme4)")
    print(f"{'setting':<22}{'ours (ms)':>10}{'REML':>14}{'lme4 (ms)':>11}{'its REML':>14}"
          f"{'ratio':>7}{'statsmodels (ms)':>18}")
    with Lme4Server() if with_r else contextlib.nullcontext() as server:
        for number, (name, setting) in enumerate(FIT_SETTINGS.items()):
            data = sk.simulate(setting)
            statsmodels_seconds, _ = timed(lambda data=data: plain_statsmodels(data))
            path = workdir / f"setting_{number}.csv"  # R reads each file once
            if with_r:
                data.to_csv(path, index=False)
            timing = alternating(lambda data=data: sk.fit_models(data), server, path,
                                 "y ~ x + (x | cluster)", rounds, repeat)
            compared = (f"{timing['theirs'] * 1e3:>11.1f}{timing['criterion']:>14.3f}"
                        f"{timing['ratio']:>7.2f}" if with_r else f"{'-':>11}{'-':>14}{'-':>7}")
            print(f"{name:<22}{timing['ours'] * 1e3:>10.1f}{timing['fit'].reml_criterion:>14.3f}"
                  f"{compared}{statsmodels_seconds * 1e3:>18.0f}")


def _busy_core():
    """A process that keeps one core busy, as other work on a shared machine does."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def bench_thread_limit():
    """A small fit with BLAS threads as numpy starts them, and with the fit's limit of one."""
    from shrinkage.fit import _fit

    data = sk.read_columns(ROOT / "shrinkage" / "datasets" / "sleepstudy.csv", "Reaction", "Days",
                           "Subject")
    columns = dict(y="Reaction", x="Days", cluster="Subject")
    print("\n## BLAS threads in one small fit (sleepstudy, median of 20 after a warm-up)")
    print(f"{'machine':<22}{'numpy threads (ms)':>20}{'one thread (ms)':>18}")
    for label in ("quiet", "one core busy"):
        busy = _busy_core() if label != "quiet" else None
        try:
            _fit(data, **columns)
            threads, _ = timed(lambda: _fit(data, **columns), repeat=20)
            limited, _ = timed(lambda: sk.fit_models(data, **columns), repeat=20)
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
        print(f"{label:<22}{threads * 1e3:>20.1f}{limited * 1e3:>18.1f}")


def bench_reading(workdir):
    """Refusing a large binary file, and reading three columns of a very wide one."""
    import tracemalloc

    print("\n## Reading files")
    binary = workdir / "zeros.csv"
    with open(binary, "wb") as handle:
        handle.truncate(2 * 10**9)  # 2 GB of NUL bytes (sparse)
    seconds, _ = timed(lambda: _refused(binary))
    print(f"2 GB of NUL bytes refused in {seconds * 1e3:.1f} ms")
    wide = workdir / "wide.csv"
    names = ["y", "x", "cluster"] + [f"c{i}" for i in range(100_000)]
    row = ",".join(["1.5", "2", "a"] + ["0"] * 100_000)
    wide.write_text(",".join(names) + "\n" + "\n".join([row] * 20) + "\n")
    tracemalloc.start()
    seconds, _ = timed(lambda: sk.read_columns(wide, "y", "x", "cluster"))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"three columns of a 100,000-column file ({wide.stat().st_size / 1e6:.0f} MB): "
          f"{seconds:.2f} s, peak {peak / 1e6:.0f} MB")


def _refused(path):
    try:
        sk.read_columns(path, "y", "x", "cluster")
    except ValueError:
        return True
    return False


def bench_large_fits(rows_list=(10**6, 10**7)):
    import tracemalloc

    print("\n## Large fits (1000 clusters; time and peak memory of fit_models alone)")
    print(f"{'rows':>12}{'simulate (s)':>14}{'fit (s)':>10}{'peak memory (MB)':>18}")
    for rows in rows_list:
        start = time.perf_counter()
        data = sk.simulate(Settings(n_cluster=1000, obs_per_cluster=rows // 1000))
        simulated = time.perf_counter() - start
        tracemalloc.start()
        seconds, _ = timed(lambda data=data: sk.fit_models(data))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"{rows:>12,}{simulated:>14.1f}{seconds:>10.2f}{peak / 1e6:>18.0f}")
        del data


def bench_animations(workdir):
    print("\n## Animations (600 x 450, 60 moving frames + 6 s hold)")
    print(f"{'setting':<22}{'render (s)':>11}{'MP4 (KB)':>10}{'poster (KB)':>13}")
    for name, setting in sk.SCENARIOS.items():
        fit = sk.fit_models(sk.simulate(setting))
        video, poster = workdir / f"{name}.mp4", workdir / f"{name}.png"
        seconds, _ = timed(lambda fit=fit, video=video, poster=poster:
                           sk.render_files(fit, video, static=poster))
        print(f"{name:<22}{seconds:>11.2f}{video.stat().st_size / 1000:>10.1f}"
              f"{poster.stat().st_size / 1000:>13.1f}")
    fit = sk.fit_models(sk.simulate(sk.SCENARIOS["baseline"]))
    seconds, _ = timed(lambda: sk.render_files(fit, workdir / "baseline.gif"))
    print(f"{'baseline as GIF':<22}{seconds:>11.2f}"
          f"{(workdir / 'baseline.gif').stat().st_size / 1000:>10.1f}")
    # End to end, as a reader runs it: a new process, imports, data, fit and video.
    command = [sys.executable, "-m", "shrinkage", "animate", "--out", str(workdir / "cli.mp4")]
    runs = [timed(lambda: subprocess.run(command, check=True, capture_output=True))[0]
            for _ in range(3)]
    print(f"python -m shrinkage animate (baseline), end to end: median of 3 "
          f"{statistics.median(runs):.2f} s (goal: under 2 s)")


def bench_study():
    print("\n## Simulation study (6 scenarios x 200 replicates)")
    for label, jobs in (("all cores", None), ("one core", 1)):
        seconds, _ = timed(lambda jobs=jobs: {name: sk.simulation_study(s, 200, n_jobs=jobs)
                                    for name, s in sk.SCENARIOS.items()})
        print(f"{label:<22}{seconds:>8.2f} s")
    from shrinkage.rng import RStream

    seconds, _ = timed(lambda: RStream(1).rnorm(10**7))
    print(f"{'10^7 R normals':<22}{seconds:>8.2f} s")


def bench_explorer(workdir):
    from shrinkage import explorer

    print("\n## Explorer (every setting of the grid, fitted and written)")
    seconds, written = timed(lambda: explorer.write_grid(workdir / "explorer"))
    print(f"{written['settings']} settings in {seconds:.1f} s, {written['bytes'] / 1000:.0f} KB "
          f"in all (budget: 20 s, 2000 KB); {written['unfittable']} cannot be fitted")


def build(copy):
    """Build the book at ``copy``; return the seconds it took and its log."""
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    start = time.perf_counter()
    done = subprocess.run([str(jupyter_book), "build", str(copy), "--warningiserror",
                           "--nitpick", "--keep-going"], check=True, capture_output=True,
                          text=True)
    return time.perf_counter() - start, done.stdout + done.stderr


_ASSET = re.compile(r'<(?:link[^>]*rel="stylesheet"[^>]*href|script[^>]*src|img[^>]*src'
                    r'|source[^>]*src|video[^>]*poster)="([^"#?]+)')


def page_weight(page, compressed=False):
    """Bytes of a page and the files it loads; gzip-compressed, as served, if asked."""
    import gzip

    size = (lambda path: len(gzip.compress(path.read_bytes()))) if compressed else (
        lambda path: path.stat().st_size)
    total, seen = size(page), set()
    for url in _ASSET.findall(page.read_text()):
        if "://" in url:
            continue
        asset = (page.parent / unquote(url)).resolve()
        if asset.is_file() and asset not in seen:
            seen.add(asset)
            total += size(asset)
    return total


def bench_book(workdir):
    print("\n## Book")
    copy = workdir / "repo"
    skip = {".git", ".venv", "_build", "_media", "__pycache__", ".pytest_cache"}
    shutil.copytree(ROOT, copy, ignore=lambda _, names: [n for n in names if n in skip])
    seconds, log = build(copy)
    print(f"clean build:               {seconds:6.1f} s")
    from jupyter_cache import get_cache

    # As book/_ext/shrinkage_book/parallel_execution.py reports it: "executing N chapters, K at a time".
    side_by_side = re.search(r"executing \d+ chapters, (\d+) at a time", log)
    print(f"  chapters run {side_by_side.group(1) if side_by_side else '?'} at a time "
          "(each one's time, beside the others):")
    for record in get_cache(copy / "_build" / ".jupyter_cache").list_cache_records():
        print(f"  executing {Path(record.uri).stem + ':':<24}"
              f"{record.data['execution_seconds']:6.1f} s")
    chapter = copy / "book" / "many_obs.md"
    chapter.write_text(chapter.read_text().replace("barely move.", "barely move at all."))
    print(f"rebuild after prose edit:  {build(copy)[0]:6.1f} s")
    print(f"\n{'page':<32}{'weight with media (KB)':>24}{'as served, gzip (KB)':>24}")
    for page in sorted((copy / "_build" / "html" / "book").glob("*.html")):
        print(f"{page.stem:<32}{page_weight(page) / 1000:>24.1f}"
              f"{page_weight(page, compressed=True) / 1000:>24.1f}")
    first = copy / "_build" / "html" / "_static" / "explorer" / "n10-int0.5-slope0.25-sigma1-kept1.js"
    explorer_page = copy / "_build" / "html" / "book" / "explorer.html"
    print(f"{'explorer with its first setting':<32}"
          f"{(page_weight(explorer_page) + first.stat().st_size) / 1000:>24.1f}"
          f"  ({(page_weight(explorer_page, True) + first.stat().st_size) / 1000:.1f} KB "
          "gzip-compressed; budget 300)")
    if shutil.which("chromium"):
        bench_preview(copy)


def bench_preview(copy):
    """Seconds from saving an edit to the reloaded page in scripts/preview (Chromium)."""
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT / "scripts"))
    from preview import launch

    preview, address = launch(copy)
    try:
        chapter = copy / "book" / "model.md"
        text = chapter.read_text()
        edits = {"prose": text.replace("\n## ", "\nA sentence added in an edit.\n\n## ", 1),
                 "code (the chapter runs again)": text.replace(
                     "data = sk.create_data()\n", "data = sk.create_data()  # edited\n", 1)}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium"),
                                                 args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(f"{address}book/model.html")
            for name, edited in edits.items():
                page.evaluate("window.__before = performance.timeOrigin")
                start = time.perf_counter()
                chapter.write_text(edited)
                page.wait_for_function("window.__before === undefined", timeout=300_000)
                page.wait_for_load_state("load")
                print(f"preview, {name} edit saved to page reloaded: "
                      f"{time.perf_counter() - start:5.1f} s (goal for prose: 3 s)")
                chapter.write_text(text)
                page.evaluate("window.__before = performance.timeOrigin")
                page.wait_for_function("window.__before === undefined", timeout=300_000)
            browser.close()
    finally:
        preview.terminate()
        preview.wait()
        preview.stdout.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-book", action="store_true", help="skip the book builds")
    parser.add_argument("--suite", action="store_true",
                        help="also time the whole test suite (bash scripts/test)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_fits(Path(tmp))
        bench_formula_fits()
        bench_thread_limit()
        bench_reading(Path(tmp))
        bench_large_fits()
        bench_animations(Path(tmp))
        bench_study()
        bench_explorer(Path(tmp))
        if not args.skip_book:
            bench_book(Path(tmp))
    if args.suite:
        bench_suite()


def bench_suite():
    """The test suite's wall time and processor time, as the README's command runs it."""
    print("\n## Test suite (bash scripts/test)")
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(["bash", str(ROOT / "scripts" / "test"), "-q"], cwd=ROOT,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = [line for line in done.stdout.splitlines() if " passed" in line or " failed" in line]
    print(f"suite:                     {seconds:6.1f} s wall, "
          f"{after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime:6.1f} s CPU "
          f"({summary[-1].strip('= ') if summary else 'no summary'}; target: under 6 minutes)")


if __name__ == "__main__":
    main()
