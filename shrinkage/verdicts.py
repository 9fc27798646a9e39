"""The words in the book's prose that depend on the draw, as functions of the fit.

A sentence such as "the fit is not singular" or "clusters of 2 observations move
most" is true of one draw and may be false of the next.  Each such word or phrase
is computed here from the fit, so that a page built from any seed says what its
own numbers show, in every case (one observation or many, singular or not).
"""

import math

import numpy as np

# |estimate - truth| below which a correlation is called close to, and some way from,
# its true value; beyond the second it is far from it.
CORRELATION_CLOSE = 0.2
CORRELATION_SOME_WAY = 0.5


def count_of(count, noun):
    """``"1 observation"``, ``"3 observations"``: a count with its noun in agreement."""
    count = int(count)
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def singular_verdict(fit):
    """Whether the fit is singular and, if so, which boundary it reached.

    Returns
    -------
    str
        ``"not singular"``, or ``"singular: ..."`` naming the variance estimated as
        zero or the correlation estimated as -1 or +1.
    """
    if not fit.singular:
        return "not singular"
    v = fit.variance
    if fit.model == "intercept" or v["intercept"] == 0:
        return "singular: the variance of the intercepts is estimated as zero"
    if v["slope"] == 0:
        return "singular: the variance of the slopes is estimated as zero"
    if abs(v["correlation"]) > 0.999:
        return (f"singular: the correlation of intercepts and slopes is estimated as "
                f"{v['correlation']:+.0f}, an end of its range")
    return "singular: a variance is estimated as nearly zero"


def correlation_verdict(fit, true):
    """How the fitted correlation of intercepts and slopes stands to its true value.

    Returns
    -------
    str
        A phrase that follows "the estimated correlation of r": on the boundary
        (a singular fit), close to (within ``CORRELATION_CLOSE``), some way from
        (within ``CORRELATION_SOME_WAY``) or far from the true value.
    """
    r = fit.variance["correlation"]
    if math.isnan(r):
        return "cannot be estimated, since a variance is estimated as zero"
    if fit.singular and abs(r) > 1 - 1e-6:
        return f"sits on the boundary of its range (its true value is {true:g})"
    gap = abs(r - true)
    word = ("close to" if gap < CORRELATION_CLOSE
            else "some way from" if gap < CORRELATION_SOME_WAY else "far from")
    return f"is {word} its true value of {true:g}"


# Median fractions closer than this are said to be about the same.
SAME_FRACTION = 0.02


def compare_fractions(first, second):
    """``"further than"``, ``"about as far as"`` or ``"less far than"``: ``first`` against ``second``."""
    if first > second + SAME_FRACTION:
        return "further than"
    if first < second - SAME_FRACTION:
        return "less far than"
    return "about as far as"


def movement_by_size(fractions):
    """How far clusters below and above the median size move, in words.

    Parameters
    ----------
    fractions : pandas.DataFrame
        :func:`shrinkage.measure.shrinkage_fraction`'s table (``n, intercept, slope``).

    Returns
    -------
    str
        Markdown: the median fractions of the clusters smaller and larger than the
        median size, and which group moves further.  Clusters without a slope of
        their own count only towards the intercepts.
    """
    median = fractions["n"].median()
    small = fractions[fractions["n"] < median]
    large = fractions[fractions["n"] > median]
    if small.empty or large.empty:
        return (f"Cluster sizes hardly differ (median {median:g} observations): the median "
                f"cluster moves {fractions['intercept'].median():.0%} of the way in its "
                f"intercept and {fractions['slope'].median():.0%} in its slope")
    s_int, s_slope = small["intercept"].median(), small["slope"].median()
    l_int, l_slope = large["intercept"].median(), large["slope"].median()
    return (f"The {count_of(len(small), 'cluster')} smaller than the median size of "
            f"{count_of(median, 'observation')} move a median {s_int:.0%} of the way in their "
            f"intercepts and {s_slope:.0%} in their slopes; the {len(large)} larger ones move "
            f"{l_int:.0%} and {l_slope:.0%}. The small clusters move "
            f"{compare_fractions(s_int, l_int)} the large ones in their intercepts, and "
            f"{compare_fractions(s_slope, l_slope)} them in their slopes")


def singletons(fit):
    """A sentence on the clusters with a single observation (no slope of their own)."""
    count = int((fit.clusters["n"] == 1).sum())
    if count == 0:
        return "No cluster is left with a single observation in this draw."
    if count == 1:
        return ("1 cluster is left with a single observation and so no slope of its own; "
                "it is drawn as a hollow point.")
    return (f"{count} clusters are left with a single observation and so no slope of their "
            "own; they are drawn as hollow points.")


def share_outside_verdict(shares, level):
    """Which scenarios have more of their own estimates outside a contour than expected.

    Parameters
    ----------
    shares : pandas.DataFrame
        One row per scenario, column ``own``: the share of the clusters' own
        estimates outside the fitted contour at ``level``.
    level : float
        The contour's probability; ``1 - level`` of the true effects lie outside.

    Returns
    -------
    str
        A sentence naming the scenarios above ``1 - level`` (or saying none or all are).
    """
    expected = 1 - level
    above = [name.replace("_", " ") for name in shares.index if shares.loc[name, "own"] > expected]
    if len(above) == len(shares):
        return f"In every scenario more than {expected:.0%} of the own estimates fall outside it."
    if not above:
        return (f"In no scenario of this draw do more than {expected:.0%} of the own estimates "
                "fall outside it.")
    rest = len(shares) - len(above)
    others = "the other scenario" if rest == 1 else f"the other {rest} scenarios"
    return (f"In {join_words(above)}, more than {expected:.0%} of the own estimates fall "
            f"outside it; in {others}, no more.")


def correlation_strength(r):
    """``"weak"`` (|r| < 0.3), ``"moderate"`` (< 0.6) or ``"strong"``: a correlation in a word."""
    size = abs(r)
    return "weak" if size < 0.3 else "moderate" if size < 0.6 else "strong"


def join_words(words):
    """``a``, ``a and b``, ``a, b and c``; ``""`` for no words."""
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def share_worse(errors, part):
    """The share of clusters whose estimate partial pooling makes worse than no pooling.

    ``errors`` is :func:`shrinkage.measure.cluster_errors`'s table; clusters
    without their own estimate of ``part`` are left out.
    """
    table = errors.dropna(subset=[f"none_{part}"])
    return float(np.mean(table[f"partial_{part}"].abs() > table[f"none_{part}"].abs()))


# Errors closer than this share of each other are said to be about the same.
SAME_ERROR = 0.01


def compare_errors(error, other):
    """``"3% lower than"``, ``"about the same as"`` or ``"2% higher than"``: ``error`` against ``other``."""
    change = error / other - 1
    if abs(change) < SAME_ERROR:
        return "about the same as"
    return f"{abs(change):.0%} {'lower' if change < 0 else 'higher'} than"


def lme4_agreement(fit, lme4, same_draw):
    """How a fit's printed numbers stand to lme4's fit of the article's draw.

    Parameters
    ----------
    fit : shrinkage.MixedFit
    lme4 : dict
        lme4's fit, as :func:`shrinkage.lme4_fit` gives it.
    same_draw : bool
        Whether ``fit`` is of the same data (the article's seed).

    Returns
    -------
    str
        A phrase that follows "the estimates ...": agreeing "to every printed digit"
        (the REML criterion to 1 decimal, variances to 4, fixed effects and their
        standard errors to 5, as lme4 prints them), "to within rounding of the last
        printed digit", or, for another draw, that lme4's numbers are of another one.
    """
    if not same_draw:
        return ("are those of this draw; lme4's fit of the article's draw (seed 888) is "
                "compared with the book's")
    v, fe = fit.variance, fit.fixed_effects
    printed = [(fit.reml_criterion, lme4["reml_criterion"], 1)] + [
        (v[k], lme4["variance"][k], 4) for k in ("intercept", "slope", "residual")] + [
        (fe[column].iloc[row], list(lme4["fixed_effects"].values())[row][column], 5)
        for row in (0, 1) for column in ("estimate", "std_error")]
    same = all(round(ours, digits) == round(theirs, digits) for ours, theirs, digits in printed)
    return "agree with lme4's fit of these data " + (
        "to every printed digit" if same else "to within rounding of the last printed digit")


# Medians of the fractions moved and predicted that differ by less than this are "close".
TEXTBOOK_CLOSE = 0.05


def textbook_agreement(moved, predicted):
    """How the median fractions moved stand to the textbook fraction's prediction.

    Parameters
    ----------
    moved, predicted : pandas.Series
        Median fractions, indexed ``intercept`` and ``slope``.

    Returns
    -------
    str
        A phrase that follows "the textbook fraction predicts ...": close to what the
        clusters moved (within ``TEXTBOOK_CLOSE`` for both), or off, naming the part.
    """
    gaps = (moved[["intercept", "slope"]] - predicted[["intercept", "slope"]]).abs()
    if (gaps < TEXTBOOK_CLOSE).all():
        return "close to what the clusters moved"
    off = join_words(f"the {part}s" for part in gaps.index[gaps >= TEXTBOOK_CLOSE])
    return (f"some way from what the clusters moved for {off}, which move together with "
            "the other coefficient, as the chapter on how far clusters move explains")


def change_word(before, after, down="falls", up="rises"):
    """``down`` when ``after`` is below ``before``, ``up`` when above, ``"stays"`` when equal."""
    return down if after < before else up if after > before else "stays"


def between_word(value, one, other):
    """``"between"`` when ``value`` lies between ``one`` and ``other``, else ``"outside"``."""
    return "between" if min(one, other) <= value <= max(one, other) else "outside"


def nearer_word(value, first, second, first_name, second_name):
    """The name of whichever of ``first`` and ``second`` lies nearer to ``value``."""
    return first_name if abs(value - first) <= abs(value - second) else second_name
