"""lme4's model formulas: the fixed part through formulaic, the random part parsed here.

A formula such as ``"distance ~ age * Sex + (age | Subject)"`` has a fixed part, any
Wilkinson formula (numeric columns, factors with R's treatment contrasts, interactions,
``I(x**2)``, ``np.log(x)``, ``center(x)``, ``- 1``), whose design matrix formulaic builds;
and one random term, which this package fits in three forms:

* ``(1 | g)``: a random intercept per cluster;
* ``(x | g)`` (or ``(1 + x | g)``): a random intercept and slope of the numeric column
  ``x``, correlated;
* ``(x || g)``: the two uncorrelated, as lme4 expands it (``(1 | g) + (0 + x | g)``).

Nothing in a formula runs as Python beyond formulaic's own transforms and numpy's
elementwise functions (:func:`check_safe`).  Factor levels are ordered as R's
``factor()`` orders text in the C locale (by code point); a pandas categorical keeps its
own order, as an R factor does.
"""

import ast
import functools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

# The names a fixed part may call, besides the data's columns: formulaic's transforms
# and numpy's elementwise functions.  Anything else (builtins, numpy's file functions,
# attributes beginning with "_") is refused before formulaic evaluates a term.
TRANSFORMS = frozenset({"I", "C", "center", "scale", "log", "log10", "log2", "log1p",
                        "exp", "sqrt", "abs"})
NUMPY_FUNCTIONS = frozenset({"log", "log10", "log2", "log1p", "exp", "expm1", "sqrt", "abs",
                             "square", "power", "sin", "cos", "tan", "arcsin", "arccos",
                             "arctan", "sinh", "cosh", "tanh", "floor", "ceil", "round",
                             "clip", "maximum", "minimum", "where", "sign"})
MODELS = ("slope", "intercept", "uncorrelated")

_RANDOM = re.compile(r"\(([^()|]*?)(\|\|?)([^()]*)\)")
_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$|^`[^`]+`$")


@dataclass(frozen=True)
class ModelFormula:
    """A parsed formula: response, fixed part, the random term's variable and cluster.

    ``slope`` is the random slope's column (None for ``(1 | g)``); ``model`` is
    ``"slope"``, ``"intercept"`` or ``"uncorrelated"``.
    """

    text: str
    response: str
    fixed: str        # the fixed part's right-hand side, as formulaic reads it
    slope: str | None
    cluster: str
    model: str

    def columns(self, available):
        """The data columns the formula uses, of those ``available`` (response first)."""
        used = [self.response, self.cluster] + ([self.slope] if self.slope else [])
        for name in variables(self.fixed):
            if name in available and name not in used:
                used.append(name)
        return used


def _unquote(name):
    return name[1:-1] if name.startswith("`") else name


def parse(formula):
    """Split an lme4 formula into its parts, or raise a one-line ``ValueError``.

    Parameters
    ----------
    formula : str
        ``"y ~ fixed + (random | cluster)"``, with exactly one random term.

    Returns
    -------
    ModelFormula
    """
    if not isinstance(formula, str):
        raise ValueError(f"formula must be text such as 'y ~ x + (x | cluster)', got {formula!r}")
    if formula.count("~") != 1:
        raise ValueError(f"formula: {formula!r} must have one '~' between the response and "
                         "the predictors, as in 'y ~ x + (x | cluster)'")
    left, right = (part.strip() for part in formula.split("~"))
    if not _NAME.match(left):
        raise ValueError(f"formula: the response must be one column of the data, got {left!r}")
    terms = _RANDOM.findall(right)
    if not terms:
        raise ValueError(f"formula: {formula!r} has no random term; add one such as "
                         "'(1 | cluster)' or '(x | cluster)'")
    if len(terms) > 1:
        raise ValueError(f"formula: {formula!r} has {len(terms)} random terms; this package "
                         "fits one: (1 | g), (x | g) or (x || g)")
    inner, bar, cluster = (part.strip() for part in terms[0])
    if not _NAME.match(cluster):
        raise ValueError(f"formula: the random term's grouping must be one column, got "
                         f"{cluster!r} (nested or crossed groupings such as a/b or a:b are "
                         "not fitted: make one column that labels each cluster)")
    slope, model = _random_variable(inner, bar, terms[0])
    fixed = _RANDOM.sub("", right).strip()
    # What is left around the removed term: a dangling "+" on either side.
    fixed = re.sub(r"^\s*\+\s*|\s*\+\s*$", "", re.sub(r"\+\s*\+", "+", fixed)).strip()
    if not fixed:
        fixed = "1"
    if "|" in fixed or "(" in fixed and ")" not in fixed:
        raise ValueError(f"formula: could not read the fixed part {fixed!r} of {formula!r}")
    return ModelFormula(formula, _unquote(left), fixed, slope and _unquote(slope),
                        _unquote(cluster), model)


def _random_variable(inner, bar, term):
    """``(slope column or None, model)`` of a random term's left side."""
    shown = f"({term[0].strip()} {bar} {term[2].strip()})"
    parts = [part.strip() for part in inner.split("+")]
    if any(part in ("0", "-1") for part in parts) or "- 1" in inner or "-1" in inner:
        raise ValueError(f"formula: the random term {shown} has no random intercept; this "
                         "package fits (1 | g), (x | g) and (x || g)")
    variables_ = [part for part in parts if part != "1"]
    if len(variables_) > 1 or any(not _NAME.match(v) for v in variables_):
        raise ValueError(f"formula: the random term {shown} is not fitted here; its left side "
                         "must be 1 or one numeric column (a random intercept and one slope)")
    if not variables_:
        if bar == "||":
            raise ValueError(f"formula: {shown} has nothing to decorrelate; write (1 | g)")
        return None, "intercept"
    return variables_[0], "uncorrelated" if bar == "||" else "slope"


@functools.lru_cache(maxsize=256)
def _parsed(fixed):
    """formulaic's parse of a fixed part, or a one-line ``ValueError``.

    Parsed once per text: a study refits the same formula many times.  A parsed
    formula holds no data; each design is built from it afresh.
    """
    import formulaic

    try:
        return formulaic.Formula(fixed)
    except Exception as error:  # formulaic's own parse errors, whatever their class
        raise ValueError(f"formula: could not read the fixed part {fixed!r} "
                         f"({str(error).splitlines()[0]})") from None


@functools.lru_cache(maxsize=256)
def _factors(fixed):
    """Each factor of a fixed part's terms as ``(expression, how formulaic evaluates it)``."""
    return tuple((str(factor.expr), factor.eval_method.name)
                 for term in _parsed(fixed) for factor in term.factors)


def variables(fixed, plain=False):
    """The names a fixed part refers to (data columns, transforms), in order.

    With ``plain``, only the columns that are terms' factors as they are (no transform).
    """
    names = []
    for expr, method in _factors(fixed):
        if method == "LOOKUP":
            names.append(expr)
        elif method == "PYTHON" and not plain:
            names += [node.id for node in ast.walk(_syntax(expr)) if isinstance(node, ast.Name)]
    return list(dict.fromkeys(names))


def _syntax(expr):
    try:
        return ast.parse(expr, mode="eval")
    except SyntaxError:
        raise ValueError(f"formula: the term {expr!r} is not an expression") from None


def check_safe(fixed, columns):
    """Refuse a fixed part whose Python terms reach beyond the data and the transforms.

    Every name in a Python term (``I(...)``, ``np.log(...)``, ``{...}``) must be a column
    of the data, one of ``TRANSFORMS``, or ``np``/``numpy`` followed by one of
    ``NUMPY_FUNCTIONS``; no attribute of anything else, nothing beginning with ``_``.
    """
    allowed = set(map(str, columns)) | TRANSFORMS
    for expr, method in _factors(fixed):
        if method == "PYTHON":
            for node in ast.walk(_syntax(expr)):
                if isinstance(node, ast.Attribute):
                    if not (isinstance(node.value, ast.Name) and node.value.id in ("np", "numpy")
                            and node.attr in NUMPY_FUNCTIONS):
                        raise ValueError(f"formula: the term {expr!r} uses {ast.unparse(node)!r}"
                                         "; only numpy's elementwise functions (np.log, "
                                         "np.exp, ...) are allowed")
                elif isinstance(node, ast.Name) and (node.id not in allowed | {"np", "numpy"}
                                                     or node.id.startswith("__")):
                    raise ValueError(f"formula: the term {expr!r} names {node.id!r}, which is "
                                     "not a column of the data nor an allowed transform")
                elif isinstance(node, (ast.Lambda, ast.comprehension, ast.Subscript,
                                       ast.NamedExpr, ast.Starred)):
                    raise ValueError(f"formula: the term {expr!r} is not allowed (only "
                                     "arithmetic and elementwise functions of columns)")


def lme4_name(column):
    """formulaic's column name as lme4 prints it: ``Sex[T.Female]`` -> ``SexFemale``."""
    return re.sub(r"\[(?:T\.)?(.*?)\]", r"\1", str(column))


@dataclass
class Design:
    """The fixed-effects design of a formula on one table, and how to build it again."""

    matrix: np.ndarray   # (n, p)
    names: list          # lme4's names of its columns ("Intercept" for the intercept)
    spec: object         # formulaic's ModelSpec: the same columns for new data
    variables: list      # the data columns it reads
    levels: dict         # the levels of each text column, as fitted

    def for_new(self, newdata):
        """The same columns for ``newdata``; an unseen factor level is one ``ValueError``."""
        frame = newdata.copy()
        for name, levels in self.levels.items():
            if name not in frame.columns:
                continue
            text = frame[name].astype(str)
            unseen = sorted(set(text) - set(levels))
            if unseen:
                shown = ", ".join(map(repr, levels))
                raise ValueError(f"newdata: column {name!r} has the level {unseen[0]!r}, which "
                                 f"the fit has not seen (its levels: {shown}); a level without "
                                 "a coefficient cannot be predicted")
            frame[name] = pd.Categorical(text, categories=levels)
        return _model_matrix(lambda: self.spec.get_model_matrix(frame, output="numpy"), "newdata")


def _as_factors(data, names):
    """The columns ``names`` of ``data``, text as R's ``factor()`` makes it, and the levels.

    Column by column into a new frame: selecting and copying a frame costs more than
    building one, and the design is built for every fit.
    """
    columns, levels = {}, {}
    for name in names:
        column = data[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            levels[name] = [str(level) for level in column.cat.categories]
            columns[name] = pd.Categorical(column.astype(str), categories=levels[name])
        elif not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            # Text levels in code-point order, as factor() sorts in the C locale.
            text = column.astype(str)
            levels[name] = sorted(text.unique())
            columns[name] = pd.Categorical(text, categories=levels[name])
        else:
            columns[name] = column.to_numpy()
    return pd.DataFrame(columns), levels


def _model_matrix(build, parameter):
    import warnings

    try:
        # A warning of formulaic's (a level cast to missing) is an error here, and a
        # transform's floating-point complaint is judged by the finiteness check instead.
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("error")
            warnings.simplefilter("ignore", RuntimeWarning)
            matrix = build()
    except Exception as error:  # formulaic raises many classes for a user's data
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        unseen = re.search(r"[Ll]evels? .*?not (?:present|found|seen)|unseen|new level", message)
        if unseen or "levels" in message:
            raise ValueError(f"{parameter}: {message} (a factor level the fit has not seen "
                             "has no coefficient)") from None
        raise ValueError(f"{parameter}: the formula could not be evaluated ({message})") from None
    return np.asarray(matrix, dtype=float)


def build_design(model_formula, data):
    """The fixed-effects design of ``model_formula`` on ``data`` (rows already complete).

    Raises
    ------
    ValueError
        When a term cannot be evaluated, or the design is rank deficient (naming the
        columns that are combinations of earlier ones).
    """
    check_safe(model_formula.fixed, data.columns)
    used = [name for name in variables(model_formula.fixed) if name in data.columns]
    frame, levels = _as_factors(data, used)
    state = {}

    def build():
        state["matrix"] = _parsed(model_formula.fixed).get_model_matrix(frame, output="numpy")
        return state["matrix"]

    matrix = _model_matrix(build, "formula")
    names = [("Intercept" if column == "Intercept" else lme4_name(column))
             for column in state["matrix"].model_spec.column_names]
    if matrix.shape[1] == 0:
        raise ValueError(f"formula: the fixed part of {model_formula.text!r} has no columns")
    if not np.isfinite(matrix).all():
        bad = names[int(np.nonzero(~np.isfinite(matrix).all(axis=0))[0][0])]
        raise ValueError(f"formula: the column {bad!r} of the design has values that are not "
                         "finite (a log of zero or of a negative number?)")
    _check_rank(matrix, names)
    return Design(matrix, names, state["matrix"].model_spec, used,
                  {name: levels[name] for name in used if name in levels})


def _check_rank(matrix, names):
    """Refuse a design with a column that is a combination of the columns before it."""
    norms = np.linalg.norm(matrix, axis=0)
    zero = [name for name, norm in zip(names, norms) if norm == 0]
    if zero:
        raise ValueError(f"formula: the design is rank deficient: {', '.join(zero)} is zero "
                         "in every row")
    r = np.linalg.qr(matrix / norms, mode="r")
    aliased = [name for name, diagonal in zip(names, np.abs(np.diag(r))) if diagonal < 1e-9]
    if aliased:
        raise ValueError(f"formula: the design is rank deficient: {', '.join(aliased)} "
                         f"{'is a combination' if len(aliased) == 1 else 'are combinations'} "
                         "of the columns before it; drop a term")
