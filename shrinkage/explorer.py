"""Data for the "Explore the settings" page: one small file per setting of a grid.

Every setting of :data:`GRID` is simulated (seed 888, as in the chapters), fitted,
and reduced to what the page draws: each cluster's start (its own estimate) and end
(the mixed model's), the opacity and marker area the animation uses, the median
shrinkage fractions and the fitted variance components.  Each setting is written as
a small JavaScript file that hands its data to the page (``file://`` pages may load
scripts but not fetch JSON), so the page needs no server and loads only the settings
the reader chooses.
"""

import itertools
import json
import math
from dataclasses import replace
from html import escape
from pathlib import Path
from string import Template

from .animate import BASELINE_ZOOM_SD, plot_shrinkage, shrinkage_paths
from .data import SCENARIOS, simulate
from .fit import UnidentifiableError, fit_models
from .measure import shrinkage_fraction
from .output import replacing

# The controls and their values; each includes the six scenarios' values.
GRID = {
    "obs_per_cluster": (3, 5, 10, 20, 100),
    "sd_int": (0.25, 0.5, 1.0),
    "sd_slope": (0.25, 0.5, 1.0),
    "sigma": (0.25, 0.5, 1.0),
    "balanced": (0.5, 1.0),
}
LABELS = {
    "obs_per_cluster": "Observations per cluster",
    "sd_int": "Intercept SD",
    "sd_slope": "Slope SD",
    "sigma": "Residual SD",
    "balanced": "Share of rows kept (1 = all, balanced)",
}
BASELINE = SCENARIOS["baseline"]
# One view for every setting, the article's: the true fixed effects +- 3 baseline SDs.
VIEW = {axis: [centre - 3 * sd, centre + 3 * sd]
        for axis, centre, sd in (("x", BASELINE.intercept, BASELINE_ZOOM_SD[0]),
                                 ("y", BASELINE.beta, BASELINE_ZOOM_SD[1]))}


def setting_key(values):
    """The file name stem of a setting, e.g. ``n10-int0.5-slope0.25-sigma1-kept1``."""
    return (f"n{values['obs_per_cluster']}-int{values['sd_int']:g}-slope{values['sd_slope']:g}"
            f"-sigma{values['sigma']:g}-kept{values['balanced']:g}")


def grid_settings():
    """Every combination of :data:`GRID`, as dicts of the five values."""
    names = list(GRID)
    return [dict(zip(names, values)) for values in itertools.product(*GRID.values())]


def _round(value, digits=4):
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def setting_data(values):
    """What the page draws for one setting (a JSON-ready dict).

    A setting whose model cannot be fitted (too few observations for the random
    effects) gives ``{"error": reason}``, a sentence the page shows instead of a plot.
    """
    settings = replace(BASELINE, **values)
    data = simulate(settings)
    try:
        fit = fit_models(data)
    except UnidentifiableError as error:
        rows, clusters = len(data), data["cluster"].nunique()
        reason = (f"its {rows} rows for {clusters} clusters are no more than their {2 * clusters} "
                  "random effects (an intercept and a slope each), so the random effects and "
                  "the residual noise cannot be told apart." if rows <= 2 * clusters
                  else f"{error}.")
        return {"settings": values, "error": reason}
    paths = shrinkage_paths(fit, BASELINE_ZOOM_SD)
    fractions = shrinkage_fraction(fit)[["intercept", "slope"]].median()
    v = fit.variance
    points = [[_round(s[0]), _round(s[1]), _round(e[0]), _round(e[1]), _round(o, 2), _round(a, 1)]
              for s, e, o, a in zip(paths.start, paths.end, paths.opacity, paths.sizes)]
    return {
        "settings": values,
        "centre": [_round(c) for c in paths.centre],
        "points": points,
        "median_fraction": {"intercept": _round(fractions["intercept"], 3),
                            "slope": _round(fractions["slope"], 3)},
        "fit": {"sd_int": _round(math.sqrt(v["intercept"])), "sd_slope": _round(math.sqrt(v["slope"])),
                "correlation": _round(v["correlation"], 3), "sigma": _round(math.sqrt(v["residual"])),
                "singular": bool(fit.singular)},
        "clusters": int(fit.ngroups), "rows": int(fit.nobs),
    }


def fit_setting(**values):
    """Simulate and fit one setting, as the page does, for any values.

    Parameters
    ----------
    **values
        Any of the settings of :class:`shrinkage.Settings` (not only the grid's
        values); the others are the baseline's.

    Returns
    -------
    shrinkage.MixedFit
    """
    return fit_models(simulate(replace(BASELINE, **values)))


def plot_setting(fit):
    """Draw a fit's end state in a notebook, in a view as wide as the page's (centred
    on the fitted average).

    Returns
    -------
    matplotlib.axes.Axes
        The figure of :func:`shrinkage.plot_shrinkage`.
    """
    return plot_shrinkage(fit, BASELINE_ZOOM_SD)


def _value_words(name, values):
    words = [f"{value:g}" for value in values]
    listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
    return f"{LABELS[name].split(' (')[0].lower()} to {listed}"


def remedy(values, fittable):
    """What to change to make an unfittable setting of the grid fittable.

    Parameters
    ----------
    values : dict
        The setting, as from :func:`grid_settings`.
    fittable : set of str
        The keys (:func:`setting_key`) of the grid's settings that can be fitted.

    Returns
    -------
    str
        A sentence naming, for each control whose change alone gives a fittable
        setting, the values that do, e.g. "Set observations per cluster to 5, 10,
        20 or 100, or share of rows kept to 1."; or, when no single change does,
        a sentence saying so.
    """
    changes = []
    for name, choices in GRID.items():
        good = [c for c in choices if c != values[name]
                and setting_key({**values, name: c}) in fittable]
        if good:
            changes.append(_value_words(name, good))
    if not changes:
        return "No single change of a control makes it fittable."
    return "Set " + ", or ".join(changes) + "."


def grid_data():
    """:func:`setting_data` for every setting of the grid, keyed by :func:`setting_key`.

    An unfittable setting also gets ``"remedy"`` (:func:`remedy`), so that the page
    says what to change rather than repeat a general rule.
    """
    data = {setting_key(values): setting_data(values) for values in grid_settings()}
    fittable = {key for key, entry in data.items() if "error" not in entry}
    for entry in data.values():
        if "error" in entry:
            entry["remedy"] = remedy(entry["settings"], fittable)
    return data


def write_grid(folder):
    """Write one ``<key>.js`` per setting of the grid into ``folder``, all-or-none.

    Returns
    -------
    dict
        ``{"settings": count, "bytes": total size, "unfittable": count}``.
    """
    folder = Path(folder)
    contents = {}
    for key, entry in grid_data().items():
        payload = json.dumps(entry, separators=(",", ":"))
        contents[key] = f'window.shrinkageExplorer.add("{key}",{payload});\n'
    targets = [folder / f"{key}.js" for key in contents]
    with replacing(*targets) as temporaries:
        for temporary, text in zip(temporaries, contents.values()):
            temporary.write_text(text)
    return {"settings": len(contents), "bytes": sum(len(t) for t in contents.values()),
            "unfittable": sum('"error"' in t for t in contents.values())}


def _template(name):
    return Template((Path(__file__).parent / "templates" / name).read_text(encoding="utf-8"))


_OPTION = Template('<option value="$value"$selected>$value</option>')


def controls_markup(base_url, fallback_image, initial=None):
    """The page's HTML (``templates/explorer.html``): a labelled select per control,
    the plot, the numbers, and for readers without JavaScript the static figure
    ``fallback_image`` (the baseline's end state)."""
    initial = initial or {name: getattr(BASELINE, name) for name in GRID}
    control = _template("explorer_control.html")
    controls = "".join(
        control.substitute(
            label=escape(LABELS[name]), name=name,
            options="".join(_OPTION.substitute(value=f"{value:g}",
                                               selected=" selected" if value == initial[name] else "")
                            for value in values)).strip()
        for name, values in GRID.items())
    return _template("explorer.html").substitute(
        base=escape(base_url), view=escape(json.dumps(VIEW)), controls=controls,
        fallback_image=escape(fallback_image),
        fallback_alt="End state of the baseline: the mixed-model estimates (olive) in a cloud "
                     "around the population average, narrower than the clusters' own estimates "
                     "(salmon).")


def site_page(folder):
    """The explorer as the book's page shows it, and what was written for it.

    On the book's site (the chapter runs beside ``_static/explorer.js``), every
    setting's data is written into ``folder`` (:func:`write_grid`) and the page gets
    the controls; elsewhere, as in a downloaded notebook run in an empty folder,
    nothing is written and the page says where the explorer runs.

    Returns
    -------
    tuple
        The page, an IPython display object, and :func:`write_grid`'s counts (None
        when nothing was written).
    """
    from IPython.display import HTML, Markdown

    if not Path("_static/explorer.js").is_file():
        return Markdown("The interactive explorer runs on the book's website. In this "
                        "notebook, the code below draws any setting."), None
    written = write_grid(folder)
    page = HTML('<link rel="stylesheet" href="../_static/explorer.css">'
                + controls_markup("../_static/explorer/", "../_images/baseline.png")
                + '<script src="../_static/explorer.js" defer></script>')
    return page, written
