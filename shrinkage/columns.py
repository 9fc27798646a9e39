"""The data of one fit: three columns selected, checked and coded.

The first layer under every fit: a user's table (pandas, or anything with
``to_pandas()``) becomes numeric ``y`` and ``x`` and cluster codes, with the
cluster labels kept exactly as given.  Nothing here knows about models.
"""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data import MAX_MAGNITUDE


@dataclass
class Columns:
    """The data of one fit: numeric ``y`` and ``x``, and clusters coded 0..G-1."""

    y: np.ndarray
    x: np.ndarray
    codes: np.ndarray
    labels: np.ndarray   # the cluster labels as given, sorted; labels[codes] is each row's
    names: dict          # {"y": ..., "x": ..., "cluster": ...}: the data's own column names
    dropped: int = 0     # rows left out for a missing value
    # The fixed-effects design of a formula (shrinkage.formula.Design); None: [1, x].
    design: object = None

    @property
    def fixed(self):
        """The fixed-effects design matrix, ``(n, p)``: a formula's, or ``[1, x]``."""
        if self.design is not None:
            return self.design.matrix
        return np.column_stack([np.ones(len(self.x)), self.x])

    @property
    def fixed_names(self):
        """The fixed effects' names, lme4's: ``Intercept``, then the columns'."""
        return list(self.design.names) if self.design is not None else ["Intercept", self.names["x"]]

    @classmethod
    def from_formula(cls, data, model_formula):
        """The data of a formula (:func:`shrinkage.formula.parse`): its columns, checked.

        ``x`` is the random slope's column; for ``(1 | g)``, the first numeric column the
        fixed part names (the cluster lines' slope), or none (``x`` all zero, its name
        None).  Rows with a missing value in any column the formula uses are left out,
        as lme4 does.
        """
        from .formula import TRANSFORMS, build_design, variables

        data = as_pandas(data)
        available = set(map(str, data.columns))
        for name in variables(model_formula.fixed):
            if name not in available and name not in TRANSFORMS | {"np", "numpy"}:
                shown = ", ".join(map(str, data.columns[:10]))
                raise ValueError(f"formula: the data have no column {name!r} (columns: {shown})")
        used = model_formula.columns(available)
        x = model_formula.slope
        if x is None:
            lookups = [name for name in variables(model_formula.fixed, plain=True)
                       if name in available and pd.api.types.is_numeric_dtype(data[name])
                       and not pd.api.types.is_bool_dtype(data[name])]
            x = lookups[0] if lookups else None
        for name in used:
            if (data.columns == name).sum() > 1:
                raise ValueError(f"formula: the data have {(data.columns == name).sum()} columns "
                                 f"named {name!r}; rename them so that each name is used once")
        if model_formula.slope is not None and model_formula.slope in available and not (
                pd.api.types.is_numeric_dtype(data[x]) and not pd.api.types.is_bool_dtype(data[x])):
            raise ValueError(f"formula: the random slope's column {x!r} must be numeric (a "
                             "slope per cluster of a factor is not fitted here)")
        if model_formula.cluster in (model_formula.response, x):
            raise ValueError(f"formula: the cluster column {model_formula.cluster!r} is also "
                             "the response or the slope's variable")
        # Column by column: selecting the columns as a frame costs as much as a small fit.
        keep = np.logical_and.reduce([data[name].notna().to_numpy() for name in used]) \
            if model_formula.cluster in available else np.ones(len(data), bool)
        complete = data[keep] if not keep.all() else data
        cols = cls.from_frame(complete, model_formula.response, x, model_formula.cluster)
        cols.dropped = int((~keep).sum())
        cols.design = build_design(model_formula, complete)
        return cols

    @classmethod
    def from_frame(cls, data, y="y", x="x", cluster="cluster"):
        """Select, check and code the three columns; drop rows with a missing value.

        Raises
        ------
        ValueError
            If a column is missing, or ``y`` or ``x`` is not numeric or not finite.
        """
        data = as_pandas(data)
        names = {"y": y, "x": x, "cluster": cluster}
        if x is None:  # a random-intercept formula without a numeric predictor
            data = data.assign(**{_NO_X: 0.0})
            names["x"] = _NO_X
        for role, name in names.items():
            if name not in data.columns:
                shown = ", ".join(map(str, data.columns[:10]))
                raise ValueError(f"{role}: the data have no column {name!r} (columns: {shown})")
            if (data.columns == name).sum() > 1:
                raise ValueError(f"{role}: the data have {(data.columns == name).sum()} columns "
                                 f"named {name!r}; rename them so that each name is used once")
        if len(set(names.values())) < 3:
            raise ValueError(f"y, x and cluster must be three different columns, got {names}")
        for role in ("y", "x"):
            column = data[names[role]]
            if pd.api.types.is_complex_dtype(column):
                raise ValueError(f"{role}: column {names[role]!r} holds complex numbers; it "
                                 "must hold real numbers")
            if not (pd.api.types.is_numeric_dtype(column)
                    and not pd.api.types.is_bool_dtype(column)):
                raise ValueError(f"{role}: column {names[role]!r} must be numeric; "
                                 + _first_non_number(column))
        # Column by column: selecting the three as a frame costs as much as a small fit.
        columns = {role: data[name] for role, name in names.items()}
        keep = (columns["y"].notna() & columns["x"].notna() & columns["cluster"].notna()).to_numpy()
        if not keep.all():
            columns = {role: column[keep] for role, column in columns.items()}
        values = {role: columns[role].to_numpy(float) for role in ("y", "x")}
        for role, column in values.items():
            peak = np.abs(column).max(initial=0.0)
            if not peak <= MAX_MAGNITUDE:
                raise ValueError(
                    f"{role}: column {names[role]!r} has a value of magnitude {peak:g}; "
                    f"values must lie in [-{MAX_MAGNITUDE:g}, {MAX_MAGNITUDE:g}] so that "
                    "their variance is finite")
        _check_scales(values, names)
        codes, labels = _code_labels(columns["cluster"])
        if x is None:
            names["x"] = None
        return cls(values["y"], values["x"], codes.astype(np.intp), np.asarray(labels), names,
                   int((~keep).sum()))


# The column that stands in for x when a formula has none (all zero).
_NO_X = "\0no x"

# The smallest spread of y or x, and the largest ratio of the two, whose variances (and
# the slope's) a double can hold: 1e-150 squared is 1e-300, near the smallest normal double.
MIN_SPREAD = 1e-150


def spread(values):
    """The standard deviation of ``values``, without overflow or underflow of its squares."""
    if len(values) == 0:
        return 0.0
    centred = values - values.mean()
    peak = np.abs(centred).max()
    if peak == 0:
        return 0.0
    return float(peak * np.sqrt(np.mean((centred / peak) ** 2)))


def _check_scales(values, names):
    """Refuse columns so small, or so unequal, that the fit's variances cannot be held."""
    spreads = {role: spread(column) for role, column in values.items()}
    for role, size in spreads.items():
        if 0 < size < MIN_SPREAD:
            raise ValueError(
                f"{role}: column {names[role]!r} varies by only {size:.1e} (its standard "
                f"deviation); it must vary by at least {MIN_SPREAD:g}, so that the variances "
                "are numbers a computer can hold: multiply it by a power of 10")
    if spreads["y"] > 0 and spreads["x"] > 0:
        ratio = spreads["y"] / spreads["x"]
        if not MIN_SPREAD <= ratio <= 1 / MIN_SPREAD:
            raise ValueError(
                f"x: the spreads of {names['y']!r} and {names['x']!r} differ by a factor of "
                f"{ratio:.1e}, so the slope's variance cannot be held; the factor must lie in "
                f"[{MIN_SPREAD:g}, {1 / MIN_SPREAD:g}]: multiply one of them by a power of 10")


def as_pandas(data, parameter="data"):
    """``data`` as a pandas DataFrame: polars, pyarrow, Modin and cuDF tables convert.

    ``parameter`` is the name a refusal gives the argument (``newdata`` for predictions).

    Any object with a ``to_pandas()`` method that gives a DataFrame is converted;
    anything else is refused by its full type name.  (The dataframe interchange
    protocol is deprecated in pandas 3, so it is not used.)
    """
    if isinstance(data, pd.DataFrame):
        return data
    kind = f"{type(data).__module__}.{type(data).__qualname__}"
    converted = None
    if callable(getattr(data, "to_pandas", None)):
        try:
            converted = data.to_pandas()
        except Exception as error:  # noqa: BLE001 - the other library's own failure
            raise ValueError(f"{parameter}: the {kind} could not be converted to a pandas "
                             f"DataFrame ({error})") from None
    if not isinstance(converted, pd.DataFrame):
        raise ValueError(f"{parameter} must be a pandas DataFrame or a table with to_pandas() "
                         f"(polars, pyarrow), got {kind}")
    return converted


def _first_non_number(column):
    """Where a column that should be numeric first holds something else, in words."""
    present = column.dropna()
    if pd.api.types.is_bool_dtype(column):
        return f"it holds true/false values, such as {present.iloc[0]!r} in row {present.index[0]!r}"
    numbers = pd.to_numeric(present.astype(str).str.strip(), errors="coerce")
    bad = present[numbers.isna()]
    if bad.empty:
        return ("it holds numbers written as text (such as "
                f"{present.iloc[0]!r}); convert it with pandas.to_numeric")
    return f"row {bad.index[0]!r} holds {bad.iloc[0]!r}"


def _label_key(label):
    # Numbers written as text sort by value ("2" before "10"), then as written ("01" before "1").
    try:
        value = float(label)
    except (TypeError, ValueError):
        return (1, 0.0, str(label))
    return (0, value if math.isfinite(value) else math.inf, str(label))


def _code_labels(column):
    """Codes 0..G-1 for the rows and the labels, exactly as given, in a natural order."""
    text = pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)
    codes, labels = pd.factorize(column, sort=not text)
    labels = np.asarray(labels, dtype=object) if text else np.asarray(labels)
    if text:
        order = np.array(sorted(range(len(labels)), key=lambda i: _label_key(labels[i])),
                         dtype=np.intp)
        position = np.empty_like(order)
        position[order] = np.arange(len(order))
        codes, labels = position[codes], labels[order]
    return codes, labels
