"""Writing files all-or-none: a finished file or the old one, never half of one.

Every file the package writes goes first to a hidden temporary file beside its
target and is renamed over the target only when all of a command's files are
complete.  An error, Ctrl-C or a full disk on the way leaves the old targets as
they were and removes the temporary files.

Two kinds of target are not replaced:

* A symbolic link is followed: the file it names is replaced (the temporary file
  goes beside that file), and the link stays a link.
* A target that exists and is not a regular file (``/dev/null``, a terminal, a FIFO,
  ``/dev/stdout``) is written through, as ``cat > target`` would: its content is
  made in the temporary folder first and copied into it only when complete.

A file that is replaced keeps its permissions; a file that nobody may write (no write
bit) is refused, and so is an output that names an input or another output.  SIGTERM
is handled as Ctrl-C is (:class:`Terminated`): the old files stay, nothing partial.

A temporary file's name carries the id of the process writing it
(``.NAME.PID-XXXX.partial.SUFFIX``), so one left behind by a killed process is
recognised and removed by the next write to the same target.
"""

import errno
import io
import os
import re
import shutil
import signal
import stat
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

STDOUT = "-"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be, so the same cleanup runs."""


def raise_on_sigterm():
    """From now on, SIGTERM raises :class:`Terminated` in the main thread."""
    def handler(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)
# Streams of this process (/dev/stdout, /proc/self/fd/1) are written through even when
# they are regular files: replacing one would cut off output appended to it.
_STREAM_FOLDERS = ("/dev/", "/proc/")
_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}


def require_name(path, option="out"):
    """Refuse an empty file name with one line naming ``option``."""
    if not str(path).strip():
        raise ValueError(f"{option}: the file name is empty; give a file name")


def writes_through(path):
    """True when ``path`` exists and must be written into rather than replaced.

    That is a device, a FIFO or a socket (following symbolic links), or a name under
    ``/dev`` or ``/proc`` such as ``/dev/stdout``.
    """
    try:
        status = os.stat(path)
    except OSError:
        return False
    if stat.S_ISDIR(status.st_mode):
        return False
    return (not stat.S_ISREG(status.st_mode)
            or os.path.abspath(path).startswith(_STREAM_FOLDERS))


def check_target(path, option="out"):
    """Check that ``path`` can be written, creating its folder if needed.

    Parameters
    ----------
    path : str or pathlib.Path
        The file to write.  A symbolic link stands for the file it names.
    option : str
        The parameter's name, for the message.

    Returns
    -------
    pathlib.Path
        The file that will be replaced (links followed) as an absolute path, or
        the target itself when it is written through (see :func:`writes_through`).

    Raises
    ------
    ValueError
        One line naming ``option`` when the name is empty, the path is a
        directory, its folder cannot be made, or the folder is not writable.
    """
    require_name(path, option)
    if writes_through(path):
        if not os.access(path, os.W_OK):
            raise ValueError(f"{option}: cannot write to {str(path)!r} (permission denied)")
        return Path(path).absolute()
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise ValueError(f"{option}: {str(path)!r} is a directory; give a file name")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f"{option}: cannot make the folder of {str(path)!r}: "
                         "part of that path is a file") from None
    except OSError as error:
        raise ValueError(f"{option}: cannot make the folder of {str(path)!r} "
                         f"({error.strerror or error})") from None
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise ValueError(f"{option}: cannot write into the folder of {str(path)!r} "
                         "(permission denied)")
    try:
        mode = target.stat().st_mode
    except OSError:
        mode = None
    if mode is not None and stat.S_ISREG(mode) and not mode & 0o222:
        raise ValueError(f"{option}: {str(path)!r} is read-only (no write permission); make "
                         "it writable or give another name")
    return target


def same_file(first, second):
    """Whether two paths name one file: links followed, any spelling, hard links too."""
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them does not exist yet
        return os.path.realpath(first) == os.path.realpath(second)


def refuse_overlaps(inputs, outputs):
    """Refuse, before anything is written, an output that names an input or another output.

    Parameters
    ----------
    inputs, outputs : dict
        ``{option: path}``; ``None`` and ``-`` (standard input or output) are left out,
        and so are outputs written through (devices, FIFOs), which replace nothing.

    Raises
    ------
    ValueError
        One line naming the two options.
    """
    files = {option: path for option, path in outputs.items()
             if path is not None and str(path) != STDOUT and not writes_through(path)}
    for option, path in files.items():
        for source_option, source in inputs.items():
            if source is not None and str(source) != STDOUT and same_file(source, path):
                raise ValueError(f"{option}: {str(path)!r} is the input file (--{source_option}); "
                                 "writing it would destroy the data: give another name")
    named = list(files.items())
    for index, (option, path) in enumerate(named):
        for other, other_path in named[index + 1:]:
            if same_file(path, other_path):
                raise ValueError(f"{other}: {str(other_path)!r} is the same file as --{option}; "
                                 "give each output its own name")


def _existing_mode(path):
    """The permission bits of an existing regular file, or None."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return stat.S_IMODE(status.st_mode) if stat.S_ISREG(status.st_mode) else None


def _mode_for_new_files():
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _process_exists(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(final):
    """Remove temporary files of ``final`` left by processes that no longer run.

    Returns the names removed.  Names from an older layout without a process id
    (``.NAME.XXXXXXXX.partial.SUFFIX``) count as stale too.
    """
    prefix, suffix = f".{final.stem}.", f".partial{final.suffix}"
    middle = re.compile(r"(?:(\d+)-)?[a-z0-9_]{8}")
    removed = []
    try:
        entries = list(os.scandir(final.parent))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        match = middle.fullmatch(name[len(prefix):len(name) - len(suffix)])
        if match is None or (match.group(1) and _process_exists(int(match.group(1)))):
            continue
        try:
            os.unlink(entry.path)
            removed.append(name)
        except OSError:
            pass
    return removed


def _new_temporary(final, through, target, option, suffix=None):
    # A written-through target's folder (/dev) is no place for files of ours.
    folder = None if through else final.parent
    prefix = f".{final.stem}.{os.getpid()}-" if not through else "shrinkage-"
    try:
        handle, name = tempfile.mkstemp(dir=folder, prefix=prefix,
                                        suffix=f".partial{suffix or final.suffix}")
    except OSError as error:
        raise ValueError(f"{option}: cannot write into the folder of {str(target)!r} "
                         f"({error.strerror or error})") from None
    os.close(handle)
    return Path(name)


@contextmanager
def _interrupts_held():
    """Hold Ctrl-C (SIGINT) and SIGTERM back until the block ends.

    A temporary file is made, then recorded for removal: an interrupt between the two
    would leave a file that nothing removes.  The finished files replace their targets
    one after another: an interrupt between two would leave some new and some old.
    Held back, it arrives once the block is done.
    """
    if not hasattr(signal, "pthread_sigmask"):  # not on POSIX: nothing to hold with
        yield
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _disk_error(error, targets, options, temporaries):
    """The same error, naming the target whose file was being written."""
    named = [index for index, temporary in enumerate(temporaries)
             if error.filename and os.path.abspath(error.filename) == str(temporary)]
    if not named:  # the writer did not say: the file written last is the one
        existing = [(temporary.stat().st_mtime_ns, index)
                    for index, temporary in enumerate(temporaries) if temporary.exists()]
        named = [max(existing)[1]] if existing else [0]
    index = named[0]
    return OSError(f"{options[index]}: cannot write {str(targets[index])!r} "
                   f"({error.strerror or os.strerror(error.errno)})")


def _copy_into(temporary, final, target, option):
    # O_APPEND without O_TRUNC: a stream redirected with >> keeps what it holds.
    try:
        handle = os.open(final, os.O_WRONLY | os.O_APPEND)
        with open(handle, "wb") as sink, open(temporary, "rb") as source:
            shutil.copyfileobj(source, sink)
    except OSError as error:
        raise OSError(f"{option}: cannot write {str(target)!r} "
                      f"({error.strerror or error})") from None


@contextmanager
def replacing(*targets, options=None, suffixes=None):
    """Yield temporary paths that replace ``targets`` together when the block ends.

    Parameters
    ----------
    *targets : str or pathlib.Path
        The files to write.  Each temporary file keeps its target's suffix (so
        writers that choose a format by suffix work) and starts with a dot (so
        tools that read a leading ``-`` as an option never see one).
    options : sequence of str, optional
        The parameter name of each target, for error messages (default ``out``).
    suffixes : sequence of str, optional
        The suffix of each temporary file, for a target written through whose name has
        none (``/dev/null``); by default the target's own.

    Yields
    ------
    list of pathlib.Path
        Write the files here.  If the block raises (or is interrupted), the
        temporary files are removed and no target changes.  A full disk while
        writing raises ``OSError`` naming the target.
    """
    options = options or ["out"] * len(targets)
    suffixes = suffixes or [None] * len(targets)
    finals = [check_target(target, option) for target, option in zip(targets, options)]
    through = [writes_through(target) for target in targets]
    modes = [_existing_mode(final) if not direct else None
             for final, direct in zip(finals, through)]
    temporaries = []
    try:
        for target, option, final, direct, suffix in zip(targets, options, finals, through,
                                                          suffixes):
            if not direct:
                remove_stale_temporaries(final)
            with _interrupts_held():
                temporaries.append(_new_temporary(final, direct, target, option, suffix))
        try:
            yield temporaries
        except OSError as error:
            if error.errno in _DISK_ERRORS:
                raise _disk_error(error, targets, options, temporaries) from None
            raise
        new_mode = _mode_for_new_files()
        for temporary, direct, mode in zip(temporaries, through, modes):
            if not direct:
                # mkstemp makes files private; a new output is not, a replaced one keeps
                # the permissions it had.
                os.chmod(temporary, new_mode if mode is None else mode)
        # Streams and devices first: a copy into them is the step that can still fail (and
        # may wait for a reader, so Ctrl-C stays free there).
        for temporary, final, target, option, direct in zip(temporaries, finals, targets,
                                                            options, through):
            if direct:
                _copy_into(temporary, final, target, option)
        with _interrupts_held():  # every file replaced, or (before this) none
            for temporary, final, direct in zip(temporaries, finals, through):
                if not direct:
                    os.replace(temporary, final)
    finally:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)


def write_text(text, target, option="out"):
    """Write ``text`` to ``target`` all-or-none, or to standard output for ``-``."""
    if str(target) == STDOUT:
        sys.stdout.write(text)
        return
    with replacing(target, options=[option]) as (temporary,):
        temporary.write_text(text)


def save_figure(fig, path, dpi, facecolor):
    """Save a matplotlib figure reproducibly: no dates, versions or random ids in the file.

    A PNG gets ``dpi`` and a 256-colour palette (:func:`save_palette_png`); an SVG its
    ids from a fixed salt.  Write to a temporary path from :func:`replacing`.
    """
    import matplotlib

    path = Path(path)
    if path.suffix.lower() == ".svg":
        with matplotlib.rc_context({"svg.hashsalt": "shrinkage"}):
            fig.savefig(path, facecolor=facecolor, metadata={"Date": None})
        return
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor=facecolor)
    save_palette_png(buffer, path)


def save_palette_png(source, target):
    """Write the PNG ``source`` (a path or file object) to ``target`` in a 256-colour palette.

    Plots have few colours, so the palette keeps them and takes about a third of the bytes.
    """
    from PIL import Image

    with Image.open(source) as image:
        palette = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
    palette.save(target, format="png", optimize=True)
