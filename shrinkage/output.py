"""Writing files all-or-none: a finished file or the old one, never half of one.

Every file the package writes goes first to a hidden temporary file beside its
target and is renamed over the target only when all of a command's files are
complete.  An error, Ctrl-C or a full disk on the way leaves the old targets as
they were and removes the temporary files.
"""

import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

STDOUT = "-"


def check_target(path, option="out"):
    """Check that ``path`` can be written, creating its folder if needed.

    Parameters
    ----------
    path : str or pathlib.Path
        The file to write.
    option : str
        The parameter's name, for the message.

    Returns
    -------
    pathlib.Path
        The target as an absolute path.

    Raises
    ------
    ValueError
        One line naming ``option`` when the path is a directory, its folder
        cannot be made, or the folder is not writable.
    """
    target = Path(path).absolute()
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
    return target


def _mode_for_new_files():
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def replacing(*targets, options=None):
    """Yield temporary paths that replace ``targets`` together when the block ends.

    Parameters
    ----------
    *targets : str or pathlib.Path
        The files to write.  Each temporary file keeps its target's suffix (so
        writers that choose a format by suffix work) and starts with a dot (so
        tools that read a leading ``-`` as an option never see one).
    options : sequence of str, optional
        The parameter name of each target, for error messages (default ``out``).

    Yields
    ------
    list of pathlib.Path
        Write the files here.  If the block raises (or is interrupted), the
        temporary files are removed and no target changes.
    """
    options = options or ["out"] * len(targets)
    finals = [check_target(target, option) for target, option in zip(targets, options)]
    temporaries = []
    try:
        for target, option, final in zip(targets, options, finals):
            try:
                handle, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.stem}.",
                                                suffix=f".partial{final.suffix}")
            except OSError as error:
                raise ValueError(f"{option}: cannot write into the folder of {str(target)!r} "
                                 f"({error.strerror or error})") from None
            os.close(handle)
            temporaries.append(Path(name))
        yield temporaries
        mode = _mode_for_new_files()
        for temporary, final in zip(temporaries, finals):
            os.chmod(temporary, mode)  # mkstemp makes files private; outputs are ordinary files
        for temporary, final in zip(temporaries, finals):
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
