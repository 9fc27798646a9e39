"""Reading a user's CSV file as spreadsheets and people write them.

Only the three named columns are kept.  Cluster labels are identifiers: they are
read as text, exactly as written ("01", "1" and "007" are three clusters), while
``y`` and ``x`` must be numbers.  The dialect is found from the file's start when it
is not given: the encoding (UTF-8, UTF-16 with a byte-order mark, else Latin-1), the
separator (comma, semicolon, tab or bar, with or without spaces after it) and the
decimal mark (a comma when the separator is a semicolon or a tab and the numbers are
written ``1,5``).  Every problem is one ``ValueError`` line that names the file, the
column or the line, and says what to pass.
"""

import codecs
import csv
import io
import re
import sys
from contextlib import contextmanager

import pandas as pd

SEPARATORS = [",", ";", "\t", "|"]
_SAMPLE_BYTES = 1 << 16
# A character of UTF-8 that is not ASCII: a lead byte and its continuation bytes.
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}"
                            rb"|[\xf0-\xf4][\x80-\xbf]{3}")
_DECIMAL_COMMA = re.compile(r"(?:^|[;\t|])\s*\"?-?\d+,\d+\"?\s*(?=[;\t|]|$)", re.MULTILINE)


def _describe(separator):
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "bar"}.get(separator,
                                                                        repr(separator))


def _line_at(raw, offset):
    """The line number (from 1) of the byte at ``offset`` of ``raw``."""
    return raw.count(b"\n", 0, offset) + raw.count(b"\r", 0, offset) - raw.count(
        b"\r\n", 0, offset) + 1


def sniff_encoding(raw):
    """The encoding of a file whose bytes are ``raw``: UTF-8, UTF-16 or Latin-1.

    (A binary file is refused from its first bytes, before it is read whole and sniffed:
    :func:`read_columns`.)

    Raises
    ------
    ValueError
        For a file that mixes UTF-8 with another encoding (some lines UTF-8, others not),
        naming a line of each.
    """
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        utf8 = _UTF8_SEQUENCE.search(raw)
        if utf8 is not None:
            raise ValueError(
                f"mixes text encodings: line {_line_at(raw, utf8.start())} is UTF-8 but line "
                f"{_line_at(raw, error.start)} is not; save the file in one encoding, or pass "
                "--encoding to read all of it in one") from None
        return "latin-1"
    return "utf-8"


def _refuse_binary(start):
    """Refuse a file whose first bytes ``start`` hold NUL bytes without a UTF-16 mark."""
    if b"\0" in start and not start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ValueError("is a binary file, not a CSV text file (for UTF-16 text without a "
                         "byte-order mark, pass --encoding utf-16-le or utf-16-be)")


def _check_text_encoding(encoding):
    """Refuse a name that is not a text encoding (unknown, or a codec such as rot13)."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"encoding: unknown encoding {encoding!r} (for example utf-8, "
                         "latin-1, utf-16)") from None
    try:
        b"a".decode(encoding)  # (an empty input is not even looked at)
    except UnicodeDecodeError:
        pass  # a text encoding, to which one byte is not a whole character
    except LookupError:  # a codec of bytes or of text alone: rot13, base64, zlib, hex
        raise ValueError(f"encoding: {encoding!r} is not a text encoding (for example utf-8, "
                         "latin-1, utf-16)") from None


@contextmanager
def _fields_of_any_size():
    """Let the csv module read fields longer than its default limit of 128 KiB."""
    limit = csv.field_size_limit()
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        yield
    finally:
        csv.field_size_limit(limit)


def _check_rows(text, separator, spaced, fields, name):
    """Refuse a row with more or fewer fields than the header, naming its line."""
    reader = csv.reader(io.StringIO(text), delimiter=separator, skipinitialspace=spaced)
    with _fields_of_any_size():
        try:
            for row in reader:
                if reader.line_num == 1 or not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != fields:
                    raise ValueError(
                        f"data: line {reader.line_num} of {name} has {len(row)} fields but the "
                        f"header has {fields}; every row needs one field per column (pass "
                        "--sep if the file uses another separator)")
        except csv.Error as error:
            raise ValueError(f"data: line {reader.line_num} of {name} could not be read "
                             f"({error})") from None


def sniff_dialect(text):
    """``(separator, decimal, spaces_after_separator)`` from the start of a file's text."""
    lines = [line for line in text.splitlines()[:50] if line.strip()]
    header = lines[0] if lines else ""
    counts = {sep: header.count(sep) for sep in SEPARATORS}
    separator = max(SEPARATORS, key=lambda sep: (counts[sep], -SEPARATORS.index(sep)))
    if counts[separator] == 0:
        separator = ","
    body = "\n".join(lines[1:])
    decimal = "," if separator != "," and _DECIMAL_COMMA.search(body) else "."
    spaced = bool(header) and all(part.startswith(" ") for part in header.split(separator)[1:]
                                  if part)
    return separator, decimal, spaced


def _header_names(text, separator, spaced):
    with _fields_of_any_size():
        first = next(csv.reader(io.StringIO(text), delimiter=separator,
                                skipinitialspace=spaced), [])
    return [name.strip() if spaced else name for name in first]


def _first_bad_number(raw, line_of, decimal):
    """The first value of ``raw`` (text) that is not a number, and its line."""
    text = raw.dropna().astype(str)
    if decimal != ".":
        text = text.str.replace(decimal, ".", regex=False)
    numbers = pd.to_numeric(text.str.strip(), errors="coerce")
    bad = numbers[numbers.isna()]
    if bad.empty:
        return None
    row = bad.index[0]
    return raw[row], line_of(row)


def read_columns(source, y, x, cluster, sep=None, decimal=None, encoding=None, stdin=None,
                 others=()):
    """Read the columns ``y``, ``x``, ``cluster`` and ``others`` of a CSV file.

    Parameters
    ----------
    source : str or pathlib.Path
        The file, or ``-`` for standard input.
    y, x, cluster : str
        The column names, as written in the header (``x`` may be None: not read).
    sep, decimal, encoding : str, optional
        The separator, the decimal mark and the text encoding; found from the file
        when not given.
    stdin : binary file, optional
        Where ``-`` reads from (default: the process's standard input).
    others : sequence of str
        More columns a formula uses: each is read as numbers when every value in it is
        a number, else as text (as R's ``read.csv`` decides).

    Returns
    -------
    pandas.DataFrame
        The columns under their own names: ``y`` and ``x`` as floats, ``cluster`` as
        text exactly as written, ``others`` as numbers or text; missing values as NaN.
        Blank lines are skipped.

    Raises
    ------
    ValueError
        One line naming the file, the column or the line.
    """
    name = "standard input" if str(source) == "-" else repr(str(source))
    if encoding is not None:
        _check_text_encoding(encoding)
    raw = _read_bytes(source, name, stdin, check_start=None if encoding else _refuse_binary)
    if not raw.strip():
        raise ValueError(f"data: {name} is empty")
    try:
        encoding = encoding or sniff_encoding(raw)
    except ValueError as error:
        raise ValueError(f"data: {name} {error}") from None
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as error:
        raise ValueError(f"data: {name} is not {encoding} text (line {_line_at(raw, error.start)}"
                         "); pass --encoding, for example --encoding latin-1") from None
    except MemoryError:
        raise ValueError(f"data: {name} is too large to read into memory") from None
    # Old Mac files end their lines with a carriage return alone.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    sniffed_sep, sniffed_decimal, spaced = sniff_dialect(text[:_SAMPLE_BYTES])
    sep = sep or sniffed_sep
    decimal = decimal or sniffed_decimal
    if sep == decimal:
        raise ValueError(f"sep and decimal must differ, both are {sep!r}")
    names = _header_names(text, sep, spaced)
    wanted = {"y": y, "x": x, "cluster": cluster}
    if x is None:
        del wanted["x"]
    extra = [name for name in dict.fromkeys(others) if name not in wanted.values()]
    wanted.update({f"formula: the column {name!r}": name for name in extra})
    for role, column in wanted.items():
        count = names.count(column)
        if count > 1:
            raise ValueError(f"{role}: the header of {name} names {column!r} {count} times; "
                             "rename the columns so that each name is used once")
        if count == 0:
            shown = ", ".join(repr(n) for n in names[:10]) + (", ..." if len(names) > 10 else "")
            hint = (f" (read as {_describe(sep)}-separated; pass --sep if the file uses "
                    "another separator)" if len(names) <= 1 else "")
            raise ValueError(f"{role}: {name} has no column {column!r}; its columns are "
                             f"{shown}{hint}")
    if len({wanted[role] for role in ("y", "x", "cluster") if role in wanted}) < 3 - (x is None):
        raise ValueError(f"y, x and cluster must be three different columns, got {wanted}")
    _check_rows(text, sep, spaced, len(names), name)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, usecols=list(wanted.values()),
                            dtype=str, keep_default_na=False, na_values=["", "NA", "NaN"],
                            skipinitialspace=spaced, skip_blank_lines=False, engine="c")
    except MemoryError:
        raise ValueError(f"data: {name} is too large to read into memory") from None
    except (pd.errors.ParserError, ValueError) as error:
        reason = str(error).strip().splitlines()[-1]
        raise ValueError(f"data: {name} could not be read as {_describe(sep)}-separated text "
                         f"({reason}); pass --sep, --decimal or --encoding") from None
    blank = frame.isna().all(axis=1) & _blank_lines(text, len(frame))
    frame = frame[~blank]
    if frame.empty:
        raise ValueError(f"data: {name} has a header but no rows")

    def line_of(row):  # the header is line 1 and no row spans two lines but quoted ones
        return row + 2

    result = {}
    for role in [role for role in ("y", "x") if role in wanted]:
        column = wanted[role]
        bad = _first_bad_number(frame[column], line_of, decimal)
        if bad is not None:
            value, line = bad
            raise ValueError(f"{role}: column {column!r} must hold numbers; line {line} of "
                             f"{name} holds {value!r}"
                             + (" (pass --decimal ',' for decimal commas)"
                                if decimal == "." and re.fullmatch(r"\s*-?\d+,\d+\s*", value)
                                else ""))
        values = frame[column]
        if decimal != ".":
            values = values.str.replace(decimal, ".", regex=False)
        result[column] = pd.to_numeric(values.str.strip(), errors="raise").astype(float)
    result[cluster] = frame[cluster]
    for column in extra:
        values = frame[column]
        if decimal != ".":
            values = values.str.replace(decimal, ".", regex=False)
        numbers = pd.to_numeric(values.str.strip(), errors="coerce")
        all_numbers = numbers.notna().sum() == values.notna().sum()
        result[column] = numbers.astype(float) if all_numbers else frame[column]
    return pd.DataFrame(result, columns=list(wanted.values())).reset_index(drop=True)


def _blank_lines(text, rows):
    """Which of the ``rows`` data rows are blank lines (True) in ``text``."""
    lines = text.splitlines()[1:]
    flags = [not line.strip() for line in lines[:rows]]
    flags += [False] * (rows - len(flags))
    return pd.Series(flags)


def _read_bytes(source, name, stdin=None, check_start=None):
    """The bytes of ``source`` (a path, or ``-`` for standard input), or one-line refusals.

    ``check_start`` sees the first bytes before the rest is read (a binary file is
    refused at once, however large).
    """
    try:
        if str(source) == "-":
            if stdin is None and (sys.stdin is None or sys.stdin.closed):
                raise ValueError("data: standard input is closed; pipe the file in, or give "
                                 "its name")
            handle = stdin or sys.stdin.buffer
        else:
            handle = open(source, "rb")
        with handle:
            start = handle.read(_SAMPLE_BYTES)
            if check_start is not None:
                try:
                    check_start(start)
                except ValueError as error:
                    raise ValueError(f"data: {name} {error}") from None
            return start + handle.read()
    except MemoryError:
        raise ValueError(f"data: {name} is too large to read into memory") from None
    except (OSError, ValueError) as error:
        if isinstance(error, ValueError) and str(error).startswith("data:"):
            raise
        reason = getattr(error, "strerror", None) or str(error)
        raise ValueError(f"data: cannot read {name}: {reason}") from None
