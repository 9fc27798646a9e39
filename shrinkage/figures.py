"""Figures that compare the scenarios: how much shrinkage, and whether it pays.

Each function takes results computed by :mod:`shrinkage.measure` (or fits) and
returns a pyplot figure of small multiples, one panel per scenario.
"""

import numpy as np

from .animate import BACKGROUND, BY_CLUSTER_COLOUR, MIXED_COLOUR, add_legend, plot_shrinkage
from .measure import random_effects_ellipse, shrinkage_fraction, textbook_fraction

_PANEL = (3.2, 2.6)
_INTERCEPT_COLOUR = "#1f6f8b"
_SLOPE_COLOUR = "#c0504d"


def _grid(count, columns=3, **kwargs):
    import matplotlib.pyplot as plt

    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(_PANEL[0] * columns, _PANEL[1] * rows),
                             facecolor=BACKGROUND, layout="constrained", **kwargs)
    for ax in axes.flat:
        ax.set_facecolor(BACKGROUND)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, axes.flat


def plot_fraction_by_size(fits):
    """Each cluster's shrinkage fraction against its size, with the textbook curves.

    Parameters
    ----------
    fits : dict of str to shrinkage.MixedFit
        One fit per scenario, in panel order.
    """
    fig, axes = _grid(len(fits), sharex=True, sharey=True)
    rng = np.random.default_rng(0)  # jitter only; the data are not random here
    sizes = np.geomspace(1, 200, 200)
    for ax, (name, fit) in zip(axes, fits.items()):
        fraction = shrinkage_fraction(fit)
        jitter = np.exp(rng.uniform(-0.08, 0.08, len(fraction)))
        v = fit.variance
        for column, tau2, colour in (("intercept", v["intercept"], _INTERCEPT_COLOUR),
                                     ("slope", v["slope"], _SLOPE_COLOUR)):
            ax.scatter(fraction["n"] * jitter, fraction[column].clip(-0.5, 1.5), s=6,
                       color=colour, alpha=0.35, linewidths=0, label=f"{column} (clusters)")
            ax.plot(sizes, textbook_fraction(sizes, tau2, v["residual"]), color=colour,
                    lw=1.5, label=f"{column} (textbook)")
        ax.set_xscale("log")
        ax.set_ylim(-0.5, 1.5)
        ax.set_title(name.replace("_", " "), fontsize=10)
    fig.supxlabel("Observations in the cluster (log scale)")
    fig.supylabel("Fraction of the way to the average")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=4, frameon=False)
    return fig


def plot_ellipses(fits, zoom_sds, levels=(0.5, 0.9, 0.99)):
    """Shrinkage plots with contours of the fitted random-effects distribution.

    Parameters
    ----------
    fits : dict of str to shrinkage.MixedFit
    zoom_sds : dict of str to tuple of float
        The view of each panel, as in :func:`shrinkage.animate.shrinkage_paths`.
    levels : tuple of float
        Probability contents of the contours.
    """
    fig, axes = _grid(len(fits))
    for ax, (name, fit) in zip(axes, fits.items()):
        plot_shrinkage(fit, zoom_sds[name], ax=ax, legend=False)
        for level in levels:
            contour = random_effects_ellipse(fit, level)
            ax.plot(contour[:, 0], contour[:, 1], color="0.35", lw=0.8, ls="--")
            ax.annotate(f"{level:.0%}", contour[0], fontsize=7, color="0.35",
                        xytext=(2, 0), textcoords="offset points")
        ax.set_title(name.replace("_", " "), fontsize=10)
        ax.set_xlabel("")
        ax.set_ylabel("")
    add_legend(fig, loc="outside right center")
    fig.supxlabel("Intercept")
    fig.supylabel("Slope for x")
    return fig


def plot_estimation_error(errors):
    """RMSE of the three estimates in every scenario, intercepts and slopes side by side.

    Parameters
    ----------
    errors : pandas.DataFrame
        Index (scenario, method) and columns ``intercept, slope``, as
        ``pandas.concat`` of :func:`shrinkage.measure.estimation_error` tables.
    """
    import matplotlib.pyplot as plt

    methods = ["no pooling", "complete pooling", "partial pooling"]
    colours = [BY_CLUSTER_COLOUR, "0.6", MIXED_COLOUR]
    scenarios = list(dict.fromkeys(errors.index.get_level_values(0)))
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 3.4), facecolor=BACKGROUND,
                             layout="constrained", sharey=False)
    position = np.arange(len(scenarios))
    for ax, column in zip(axes, ("intercept", "slope")):
        ax.set_facecolor(BACKGROUND)
        for offset, (method, colour) in enumerate(zip(methods, colours)):
            values = [errors.loc[(name, method), column] for name in scenarios]
            ax.bar(position + (offset - 1) * 0.27, values, width=0.27, color=colour,
                   label=method)
        ax.set_xticks(position, [name.replace("_", "\n") for name in scenarios], fontsize=8)
        ax.set_ylabel(f"RMSE of the {column}s")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[0].legend(frameon=False, fontsize=8)
    return fig
