"""Figures that compare the scenarios: how much shrinkage, and whether it pays.

Each function takes results computed by :mod:`shrinkage.measure` (or fits) and
returns a pyplot figure of small multiples, one panel per scenario. Figures are 6.4
inches wide, panels at most two abreast, so that their text stays legible when the
figure is shrunk to a phone's width.
"""

import numpy as np

from .animate import BACKGROUND, BY_CLUSTER_COLOUR, MIXED_COLOUR, add_legend, plot_shrinkage
from .measure import random_effects_ellipse, shrinkage_fraction, textbook_fractions, toward_targets
from .pooling import complete_pooling

_PANEL = (3.2, 2.6)
_WIDTH = 2 * _PANEL[0]
_INTERCEPT_COLOUR = "#1f6f8b"
_SLOPE_COLOUR = "#c0504d"


def _grid(count, columns=2, **kwargs):
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


def plot_fraction_vs_textbook(fits, zero_covariance=False):
    """Each cluster's shrinkage fraction against the fraction the textbook formula predicts.

    Parameters
    ----------
    fits : dict of str to shrinkage.MixedFit
        One fit per panel, in panel order; the keys are the panel titles.
    zero_covariance : bool, default False
        Also draw, as hollow points, the fractions with the covariance of intercepts
        and slopes set to zero (:func:`shrinkage.measure.shrinkage_fraction`).
    """
    fig, axes = _grid(len(fits), sharex=True, sharey=True)
    diagonal = np.array([0.0, 1.0])
    for ax, (name, fit) in zip(axes, fits.items()):
        predicted = textbook_fractions(fit)
        kinds = [("fitted", {"alpha": 0.4, "linewidths": 0}, "")]
        if zero_covariance:
            kinds.append(("zero", {"facecolors": "none", "linewidths": 0.8},
                          ", covariance set to 0"))
        for covariance, style, suffix in kinds:
            observed = shrinkage_fraction(fit, covariance)
            for column, colour in (("intercept", _INTERCEPT_COLOUR), ("slope", _SLOPE_COLOUR)):
                size = 6 if covariance == "fitted" and not zero_covariance else 16
                colours = {"edgecolors" if covariance == "zero" else "color": colour}
                ax.scatter(predicted[column], observed[column].clip(-0.5, 1.5), s=size,
                           label=f"{column}s{suffix}", **colours, **style)
        ax.plot(diagonal, diagonal, color="0.3", lw=1, label="as predicted")
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.5, 1.5)
        ax.set_title(name.replace("_", " "), fontsize=11)
    fig.supxlabel("Fraction predicted from the cluster's own design")
    fig.supylabel("Fraction of the way moved")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=3 if len(handles) < 4 else 2,
               frameon=False, fontsize=9)
    return fig


def plot_fraction_vs_distance(fit):
    """The fraction each cluster moves, and the distance, against how far out it starts.

    Two panels for the intercepts: the shrinkage fraction, and the distance moved,
    each against the distance of the cluster's own estimate from the average.
    """
    c = fit.clusters
    start = (c["ols_intercept"] - fit.population_line[0]).abs()
    moved = (c["ols_intercept"] - c["mixed_intercept"]).abs()
    fraction = shrinkage_fraction(fit)["intercept"]
    fig, axes = _grid(2, sharex=True)
    for ax, values, label in ((axes[0], fraction.clip(-0.5, 1.5), "Fraction of the way moved"),
                              (axes[1], moved, "Distance moved")):
        ax.scatter(start, values, s=10, color=_INTERCEPT_COLOUR, alpha=0.6, linewidths=0)
        ax.set_ylabel(label)
    axes[0].set_ylim(-0.5, 1.5)
    axes[1].set_ylim(bottom=0)
    fig.supxlabel("How far the cluster's own intercept starts from the average")
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
            ax.annotate(f"{level:.0%}", contour[0], fontsize=8, color="0.35",
                        xytext=(2, 0), textcoords="offset points")
        ax.set_title(name.replace("_", " "), fontsize=11)
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
    fig, axes = plt.subplots(2, 1, figsize=(_WIDTH, 5.6), facecolor=BACKGROUND,
                             layout="constrained", sharex=True)
    position = np.arange(len(scenarios))
    for ax, column in zip(axes, ("intercept", "slope")):
        ax.set_facecolor(BACKGROUND)
        for offset, (method, colour) in enumerate(zip(methods, colours)):
            values = [errors.loc[(name, method), column] for name in scenarios]
            ax.bar(position + (offset - 1) * 0.27, values, width=0.27, color=colour,
                   label=method)
        ax.set_xticks(position, [name.replace("_", "\n") for name in scenarios], fontsize=9)
        ax.set_ylabel(f"RMSE of the {column}s")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[0].legend(frameon=False, fontsize=9)
    return fig


def plot_error_ratios(studies, one_draw=None):
    """How partial pooling's error compares with the alternatives', replicate by replicate.

    Parameters
    ----------
    studies : dict of str to pandas.DataFrame
        :func:`shrinkage.study.simulation_study` results, one per scenario.
    one_draw : dict of str to dict, optional
        A replicate row per scenario (for example the book's seed) to mark.
    """
    import matplotlib.pyplot as plt

    names = list(studies)
    fig, axes = plt.subplots(4, 1, figsize=(_WIDTH, 8.4), facecolor=BACKGROUND,
                             layout="constrained", sharex=True)
    axes = axes.reshape(2, 2)
    position = np.arange(len(names))
    for row, part in enumerate(("intercept", "slope")):
        for col, (other, label) in enumerate((("none", "no pooling"),
                                              ("complete", "complete pooling"))):
            ax = axes[row, col]
            ax.set_facecolor(BACKGROUND)
            ratios = [(s[f"rmse_{part}_partial"] / s[f"rmse_{part}_{other}"]).dropna()
                      for s in studies.values()]
            ax.boxplot(ratios, positions=position, widths=0.5, showfliers=True,
                       flierprops={"markersize": 2, "alpha": 0.5},
                       medianprops={"color": MIXED_COLOUR, "lw": 2})
            if one_draw is not None:
                marks = [one_draw[n][f"rmse_{part}_partial"] / one_draw[n][f"rmse_{part}_{other}"]
                         for n in names]
                ax.scatter(position, marks, marker="D", s=18, color=BY_CLUSTER_COLOUR,
                           zorder=3, label="the chapters' draw (seed 888)")
            ax.axhline(1, color="0.4", lw=0.8, ls="--")
            ax.set_title(f"{part}s: partial / {label}", fontsize=11)
            ax.set_xticks(position, [n.replace("_", "\n") for n in names], fontsize=9)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
    if one_draw is not None:
        axes[0, 0].legend(frameon=False, fontsize=9, loc="upper left")
    fig.supylabel("Ratio of RMSEs (below 1: partial pooling is closer to the truth)")
    return fig


def plot_error_by_extremity(errors, break_even, bins=(0, 0.5, 1, 1.5, 2, 2.5, 3, np.inf)):
    """Mean squared error of no and partial pooling by how extreme a cluster truly is.

    Parameters
    ----------
    errors : pandas.DataFrame
        :func:`shrinkage.measure.cluster_errors` tables, concatenated over draws.
    break_even : dict of str to float
        For ``intercept`` and ``slope``, the extremity beyond which the textbook
        fraction predicts partial pooling to be worse, drawn as a vertical line.
    bins : sequence of float
        Edges of the extremity classes, in true standard deviations.
    """
    import pandas as pd

    fig, axes = _grid(2)
    for ax, part in zip(axes, ("intercept", "slope")):
        table = errors.dropna(subset=[f"none_{part}"])
        classes = pd.cut(table[f"extremity_{part}"], list(bins), right=False)
        mse = (table[[f"none_{part}", f"partial_{part}"]] ** 2).groupby(
            classes, observed=True).mean()
        middle = [(i.left + i.right) / 2 if np.isfinite(i.right) else i.left + 0.25
                  for i in mse.index]
        for column, colour, label in ((f"none_{part}", BY_CLUSTER_COLOUR, "no pooling"),
                                      (f"partial_{part}", MIXED_COLOUR, "partial pooling")):
            ax.plot(middle, mse[column], marker="o", ms=4, color=colour, label=label)
        ax.axvline(break_even[part], color="0.4", lw=0.8, ls="--")
        ax.set_title(f"{part}s", fontsize=11)
        ax.set_yscale("log")
    axes[0].set_ylabel("Mean squared error")
    fig.supxlabel("How far the true effect lies from the average (true SDs)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=2, frameon=False)
    return fig


def plot_cluster_lines(fit, data, clusters=None, columns=3):
    """Each cluster's data with its own line, the complete-pooling line and the mixed line.

    Parameters
    ----------
    fit : shrinkage.MixedFit
    data : pandas.DataFrame
        The data ``fit`` was fitted to.
    clusters : list, optional
        The clusters to draw, one panel each, in this order (default: all, as in
        ``fit.clusters``).
    columns : int, default 3
        Panels per row.
    """
    import matplotlib.pyplot as plt

    x_name, y_name, c_name = fit.names["x"], fit.names["y"], fit.names["cluster"]
    table = fit.clusters.set_index("cluster")
    chosen = list(table.index if clusters is None else clusters)
    pooled = complete_pooling(data, y_name, x_name)
    grid = np.linspace(data[x_name].min(), data[x_name].max(), 2)
    rows = -(-len(chosen) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(_WIDTH, 1.55 * rows + 0.6), sharex=True,
                             sharey=True, facecolor=BACKGROUND, layout="constrained")
    axes = np.atleast_1d(axes).ravel()
    for ax, label in zip(axes, chosen):
        ax.set_facecolor(BACKGROUND)
        rows_of = data[data[c_name] == label]
        ax.scatter(rows_of[x_name], rows_of[y_name], s=8, color="0.35", zorder=3)
        ax.plot(grid, pooled[0] + pooled[1] * grid, color="0.6", lw=1.2, label="complete pooling")
        own = table.loc[label]
        if np.isfinite(own["ols_slope"]):
            ax.plot(grid, own["ols_intercept"] + own["ols_slope"] * grid, color=BY_CLUSTER_COLOUR,
                    lw=1.4, ls="--", label="no pooling (own line)")
        ax.plot(grid, own["mixed_intercept"] + own["mixed_slope"] * grid, color=MIXED_COLOUR,
                lw=1.6, label="partial pooling (mixed)")
        ax.set_title(str(label), fontsize=9, pad=2)
        ax.tick_params(labelsize=8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    for ax in axes[len(chosen):]:
        ax.set_visible(False)
    with_own = next((ax for ax in axes[:len(chosen)]
                     if len(ax.get_legend_handles_labels()[0]) == 3), axes[0])
    handles, labels = with_own.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=3, frameon=False, fontsize=8)
    fig.supxlabel(str(x_name), fontsize=10)
    fig.supylabel(str(y_name), fontsize=10)
    return fig


def plot_estimates_by_size(fit, level=0.95):
    """No-pooling and partial-pooling estimates, with intervals, against cluster size.

    Two panels, intercepts and slopes; cluster size on a log axis (each cluster
    nudged sideways a little so that clusters of the same size do not overlap), the
    fixed effect as a line.  The view holds every estimate; longer intervals run off
    its edges.  No-pooling intervals use each cluster's own sampling
    variance with the fitted residual variance; partial-pooling intervals are
    :func:`shrinkage.predict.cluster_intervals`.
    """
    from .measure import sampling_variances
    from .predict import cluster_intervals, normal_quantile

    z = normal_quantile(level)
    own_var = sampling_variances(fit)
    mixed = cluster_intervals(fit, level)
    c = fit.clusters
    n = c["n"].to_numpy(float)
    rng = np.random.default_rng(0)  # the nudge only, the same on every build
    nudge = np.exp(rng.uniform(-0.06, 0.06, len(n)))
    fig, axes = _grid(2)
    for ax, part in zip(axes, ("intercept", "slope")):
        own = c[f"ols_{part}"].to_numpy(float)
        own_se = np.sqrt(own_var[part].to_numpy(float))
        has = np.isfinite(own)
        ax.errorbar(n[has] * nudge[has] / 1.04, own[has], yerr=z * own_se[has], fmt="o", ms=3,
                    color=BY_CLUSTER_COLOUR, elinewidth=0.7, alpha=0.8, label="no pooling")
        ax.errorbar(n * nudge * 1.04, mixed[part], yerr=z * mixed[f"{part}_se"], fmt="o", ms=3,
                    color=MIXED_COLOUR, elinewidth=0.7, alpha=0.8, label="partial pooling")
        ax.axhline(fit.population_line[0 if part == "intercept" else 1],
                   color="0.3", lw=0.8, ls="--")
        # The view holds every estimate; an interval wider than that runs off the edge
        # rather than flattening all the others.
        values = np.concatenate([own[has], mixed[part].to_numpy(float)])
        low, high = values.min(), values.max()
        pad = 0.15 * (high - low) if high > low else 1.0
        ax.set_ylim(low - pad, high + pad)
        ax.set_xscale("log")
        ticks = sorted(set(int(v) for v in n))
        if len(ticks) > 8:
            ticks = ticks[:: -(-len(ticks) // 8)]
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.set_title(f"{part}s", fontsize=11)
    fig.supxlabel("Observations in the cluster (log scale)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=2, frameon=False)
    return fig


def plot_paths_side_by_side(fits):
    """Shrinkage plots of several fits side by side, each in the view of its own data."""
    fig, axes = _grid(len(fits))
    for ax, (title, fit) in zip(axes, fits.items()):
        plot_shrinkage(fit, "data", ax=ax, legend=False, text_size=9)
        ax.set_title(title, fontsize=10)
    add_legend(fig, loc="outside lower center", ncols=3)
    return fig


def plot_toward_the_line(fits, values, label):
    """Each cluster's intercept against a cluster-level predictor, as fitted by each model.

    Parameters
    ----------
    fits : dict
        Panel title -> fit; each cluster's own intercept (salmon) is joined to the
        mixed model's (olive), and the line the model pulls toward is drawn: the
        population intercept for a model without the predictor, the predictor's line
        (:func:`shrinkage.measure.toward_targets`) for a model with it.
    values : pandas.Series
        The predictor's value per cluster, indexed by cluster label.
    label : str
        The predictor's name, for the horizontal axis.
    """
    from matplotlib.lines import Line2D

    fig, axes = _grid(len(fits), sharey=True)
    for ax, (title, fit) in zip(axes, fits.items()):
        table = toward_targets(fit)
        w = values.loc[table["cluster"]].to_numpy(float)
        own, mixed = table["ols_intercept"].to_numpy(), table["mixed_intercept"].to_numpy()
        ax.vlines(w, own, mixed, color="black", alpha=0.15, linewidth=0.7)
        ax.scatter(w, own, s=9, color=BY_CLUSTER_COLOUR, alpha=0.8, linewidths=0)
        ax.scatter(w, mixed, s=9, color=MIXED_COLOUR, alpha=0.9, linewidths=0, zorder=3)
        order = np.argsort(w)
        ax.plot(w[order], table["target_intercept"].to_numpy()[order], color="black", lw=1.2)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(label, fontsize=9)
        ax.tick_params(labelsize=8)
    axes[0].set_ylabel("Intercept", fontsize=9)
    handles = [Line2D([], [], ls="", marker="o", color=BY_CLUSTER_COLOUR, label="By-cluster"),
               Line2D([], [], ls="", marker="o", color=MIXED_COLOUR, label="Mixed"),
               Line2D([], [], color="black", label="What the model pulls toward")]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False, fontsize=9)
    return fig


def plot_sd_priors(posteriors):
    """Prior (dashed) and posterior (solid) densities of the two random-effect SDs.

    ``posteriors`` maps a prior's name to its :class:`shrinkage.bayes.Posterior`; one
    panel per SD, one colour per prior.
    """
    fig, axes = _grid(2)
    colours = ["#1f6f8b", "#c0504d", "#808133", "#6b4c9a"]
    parts = (("tau", 0, "SD of the intercepts"), ("tau", 1, "SD of the slopes"))
    for ax, (name, index, title) in zip(axes, parts):
        draws = {label: p.flat(name)[:, index] for label, p in posteriors.items()}
        top = max(np.quantile(d, 0.995) for d in draws.values())
        grid = np.linspace(0, top, 200)
        peak = 0.0
        for colour, (label, posterior) in zip(colours, posteriors.items()):
            counts, edges = np.histogram(draws[label], bins=40, range=(0, top), density=True)
            ax.stairs(counts, edges, color=colour, lw=1.4, label=f"{label}: posterior")
            ax.plot(grid, posterior.prior.density(grid), color=colour, lw=1, ls="--",
                    label=f"{label}: prior")
            peak = max(peak, counts.max())
        ax.set_ylim(0, 1.15 * peak)  # a tight prior's spike at 0 runs off the top
        ax.set_xlabel(title, fontsize=9)
        ax.set_ylabel("density", fontsize=9)
        ax.tick_params(labelsize=8)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False, fontsize=8)
    return fig
