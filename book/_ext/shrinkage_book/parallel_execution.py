"""Execute the chapters that need it side by side, before Sphinx reads them one by one.

myst-nb executes a notebook when Sphinx reads its page, and Sphinx reads pages one after
another, so a clean build waits for every chapter in turn.  Just before the pages are
read, this extension finds the chapters that jupyter-cache cannot serve, executes them
in a pool of kernels (one per core) in the way myst-nb's "cache" mode does (the
chapter's own folder as working directory, the configured timeout), and stores each
result in the same cache.  When Sphinx then reads the pages, myst-nb finds every
execution cached.

Longer chapters start first: the previous build's execution times when the cache has
them, the chapter's length otherwise.  A chapter that fails stops the build with its
traceback, as myst-nb does with ``nb_execution_raise_on_error``.
"""

import json
import os
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from sphinx.util import logging

from . import compat, fresh_outputs

logger = logging.getLogger(__name__)

# The last execution time of each chapter, kept beside the cache to order the next build.
_TIMES = "shrinkage-execution-seconds.json"


def _read_notebook(env, docname):
    """The page's path, and the notebook and its format as myst-nb reads them (None for a
    page that is not a notebook)."""
    path = Path(env.doc2path(docname))
    if path.suffix not in (".md", ".ipynb"):
        return path, None
    content = path.read_text(encoding="utf8")
    reader = compat.create_nb_reader(str(path), env.myst_config, env.mystnb_config, content)
    return path, None if reader is None else (reader.read(content), reader.read_fmt)


def _execute(notebook, path, config):
    return compat.single_nb_execution(notebook, cwd=str(path.parent), timeout=config.execution_timeout,
                               allow_errors=config.execution_allow_errors, meta_override=True)


def _usable_cores():
    # The cores this process may run on (a container or taskset can allow fewer than exist).
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def execution_times(cache):
    """``{chapter path: seconds}`` of each chapter's last execution into the cache folder
    ``cache`` (empty before the first)."""
    try:
        return json.loads((cache / _TIMES).read_text())
    except (OSError, ValueError):
        return {}


def _save_times(cache, times):
    fresh_outputs.write_whole(cache / _TIMES, json.dumps(times, indent=1, sort_keys=True))


def execute_in_parallel(app, env, docnames):
    config = env.mystnb_config
    if config.execution_mode != "cache":
        return
    from jupyter_cache import get_cache

    cache_folder = Path(config.execution_cache_path)  # as myst-nb resolved it
    store = get_cache(cache_folder)
    pending = []
    for docname in sorted(docnames):
        path, read = _read_notebook(env, docname)
        if read is None:
            continue
        notebook, read_fmt = read
        try:
            store.match_cache_notebook(notebook)
        except KeyError:
            pending.append((path, notebook, read_fmt))
    if not pending:
        return
    times = execution_times(cache_folder)
    root = Path(app.srcdir)

    def expected_seconds(job):
        # The last run's seconds; for a chapter never run here, a second per kilobyte of
        # source (the long chapters are the ones with the long computations).
        path = job[0]
        return times.get(path.relative_to(root).as_posix(), path.stat().st_size / 1000)

    pending.sort(key=expected_seconds, reverse=True)
    workers = min(len(pending), _usable_cores())
    logger.info(f"shrinkage: executing {len(pending)} chapters, {workers} at a time")
    started, finished = time.perf_counter(), 0
    with ThreadPoolExecutor(workers) as pool:
        running = {pool.submit(_execute, notebook, path, config): (path, notebook, read_fmt)
                   for path, notebook, read_fmt in pending}
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                path, notebook, read_fmt = running.pop(future)
                result = future.result()
                name = path.relative_to(root).as_posix()
                if result.err is not None:
                    if config.execution_raise_on_error:
                        for other in running:
                            other.cancel()
                        _fail(env.path2doc(str(path)), name, result)
                    # Errors allowed: myst-nb executes it again when it reads the page
                    # and records the error there.
                    continue
                record = store.add_nb_to_project(str(path), read_data=read_fmt)
                store.cache_notebook_bundle(
                    compat.CacheBundleIn(notebook, record.uri, data={"execution_seconds": result.time}),
                    check_validity=False, overwrite=True)
                times[name] = round(result.time, 2)
                _save_times(cache_folder, times)
                finished += 1
                logger.info(f"shrinkage: executed {name} in {result.time:.1f} s "
                            f"({finished} of {len(pending)})")
    logger.info(f"shrinkage: chapters executed in {time.perf_counter() - started:.1f} s")


def _fail(docname, name, result):
    """Stop the build: the traceback as a warning on the chapter, then one line."""
    logger.warning(f"Executing notebook failed: {result.err.__class__.__name__}\n"
                   f"{result.exc_string}", location=docname)
    error = result.err
    what = (f"{error.ename}: {error.evalue}" if getattr(error, "ename", None)
            else error.__class__.__name__)
    raise compat.ExecutionError(f"{name} failed to execute ({what})") from None


def connect(app):
    # After fresh_outputs has decided which pages are read again (env-get-outdated).
    app.connect("env-before-read-docs", execute_in_parallel)
