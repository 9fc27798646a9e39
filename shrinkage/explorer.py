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

from .animate import BASELINE_ZOOM_SD, shrinkage_paths
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
    effects) gives ``{"error": reason}``, which the page shows instead of a plot.
    """
    settings = replace(BASELINE, **values)
    try:
        fit = fit_models(simulate(settings))
    except UnidentifiableError as error:
        return {"settings": values, "error": str(error)}
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


def write_grid(folder):
    """Write one ``<key>.js`` per setting of the grid into ``folder``, all-or-none.

    Returns
    -------
    dict
        ``{"settings": count, "bytes": total size, "unfittable": count}``.
    """
    folder = Path(folder)
    contents = {}
    for values in grid_settings():
        key = setting_key(values)
        payload = json.dumps(setting_data(values), separators=(",", ":"))
        contents[key] = f'window.shrinkageExplorer.add("{key}",{payload});\n'
    targets = [folder / f"{key}.js" for key in contents]
    with replacing(*targets) as temporaries:
        for temporary, text in zip(temporaries, contents.values()):
            temporary.write_text(text)
    return {"settings": len(contents), "bytes": sum(len(t) for t in contents.values()),
            "unfittable": sum('"error"' in t for t in contents.values())}


def controls_markup(base_url, initial=None):
    """The page's HTML: a labelled select per control, the plot and the numbers."""
    initial = initial or {name: getattr(BASELINE, name) for name in GRID}
    selects = []
    for name, values in GRID.items():
        options = "".join(
            f'<option value="{value:g}"{" selected" if value == initial[name] else ""}>{value:g}</option>'
            for value in values)
        selects.append(f'<label class="explorer-control">{escape(LABELS[name])}'
                       f'<select name="{name}">{options}</select></label>')
    view = escape(json.dumps(VIEW))
    return (
        f'<div class="explorer" data-base="{escape(base_url)}" data-view="{view}">'
        f'<form class="explorer-controls" aria-label="Settings">{"".join(selects)}</form>'
        '<div class="explorer-stage">'
        '<svg class="explorer-plot" viewBox="0 0 600 450" role="img" '
        'aria-labelledby="explorer-caption"></svg>'
        '<p class="explorer-error" hidden></p></div>'
        '<div class="explorer-side">'
        '<button type="button" class="explorer-play">Replay the shrinkage</button>'
        '<dl class="explorer-numbers"></dl></div>'
        '<p id="explorer-caption" class="explorer-caption" aria-live="polite"></p>'
        '</div>')
