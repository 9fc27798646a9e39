"""The shrinkage animation and its static end-state figure.

Each cluster's (intercept, slope) estimate travels from its own least-squares
fit ("By-cluster") to the mixed model's estimate ("Mixed"), pulled toward the
population average, drawn as a soft dark "black hole" that stays put.  The
design follows the article's figures: colours #F49E71 and #808133 on #fffff8,
the view fixed at the fixed effects +- 3 baseline random-effect SDs, faint
paths, and clusters far from the average drawn more opaque.

The pieces follow matplotlib's animation examples: :func:`shrinkage_paths`
makes the data, :func:`plot_shrinkage` and :func:`render_files` build the
figure once, and :func:`_draw_frame` draws one moment of the movement.
Rendering is deterministic: the same fit gives byte-identical files.
"""

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .measure import cluster_level_columns, toward_targets
from .output import STDOUT, replacing, require_name, save_figure, writes_through
from .progress import ProgressBar

BY_CLUSTER_COLOUR = "#F49E71"
MIXED_COLOUR = "#808133"
BACKGROUND = "#fffff8"
# The article zooms every scenario to the baseline's random-effect SDs.
BASELINE_ZOOM_SD = (0.5, 0.25)
MOVING_FRAMES = 60
HOLD_SECONDS = 6
FPS = 10
SIZE_INCHES = (6.0, 4.5)
DPI = 100  # 600 x 450 pixels
# Static PNGs have twice the pixels, sharp on high-density screens at 600 x 450.
STATIC_DPI = 2 * DPI
_MARGINS = {"left": 0.13, "right": 0.71, "bottom": 0.14, "top": 0.96}  # legend on the right
# Text of the 600 x 450 figure, in points: still about 10 px when a phone shows it 360 px wide.
TEXT_SIZE = 12
# The formats each output may take, by suffix; the first is a device's (/dev/null).
STATIC_FORMATS = (".png", ".svg")
ANIMATION_FORMATS = (".mp4", ".gif")


@dataclass(frozen=True)
class ShrinkagePaths:
    """Where each cluster starts and ends, and how it is drawn.

    Attributes
    ----------
    start, end : numpy.ndarray
        (G, 2) arrays of (intercept, slope): the by-cluster and mixed estimates.
        A cluster without a least-squares slope starts at the population slope.
    own_slope : numpy.ndarray
        False for clusters that have no least-squares slope (one observation).
    opacity : numpy.ndarray
        0.1 to 1, growing with the start's distance from the population average.
    sizes : numpy.ndarray
        Marker areas in points^2; proportional to cluster size when sizes differ.
    centre : numpy.ndarray
        The fixed effects (intercept, slope).
    xlim, ylim : tuple of float
        The view.
    targets : numpy.ndarray or None
        (G, 2): the point each cluster is pulled toward, when predictors at the cluster
        level give each its own (:func:`shrinkage.measure.toward_targets`); None when
        all are pulled toward ``centre``.
    note : str
        A line for the figure on what the axes hold, or "".
    labels : tuple of str
        The legend's names of the start and the end ("By-cluster", "Mixed").
    """

    start: np.ndarray
    end: np.ndarray
    own_slope: np.ndarray
    opacity: np.ndarray
    sizes: np.ndarray
    centre: np.ndarray
    xlim: tuple
    ylim: tuple
    n_range: tuple = (1, 1)

    @property
    def share_starting_outside(self):
        """The share of clusters whose own estimate lies outside the view."""
        return float(np.mean(~self.inside(self.start)))

    def inside(self, points):
        """Which of the (G, 2) ``points`` lie in the view (edges included)."""
        (x0, x1), (y0, y1) = self.xlim, self.ylim
        x, y = points[:, 0], points[:, 1]
        return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)

    def outside_note(self):
        """A line for the figure on the estimates outside the view, or "" when none is."""
        own, mixed = int((~self.inside(self.start)).sum()), int((~self.inside(self.end)).sum())
        if own == 0 and mixed == 0:
            return ""
        total = len(self.start)
        parts = [f"{own} of {total} by-cluster"] if own else []
        parts += [f"{mixed} of {total} mixed"] if mixed else []
        return "Outside the view:\n" + "\n".join(parts)
    x_name: str = "x"
    targets: np.ndarray = None
    note: str = ""
    labels: tuple = ("By-cluster", "Mixed")  # the legend's names of start and end


def shrinkage_paths(fit, zoom_sd=None, toward="average"):
    """Compute the animation's data from a fit.

    Parameters
    ----------
    fit : shrinkage.MixedFit
        The fitted models.
    zoom_sd : tuple of float or "data", optional
        The view spans the fixed intercept +- 3 ``zoom_sd[0]`` and the fixed
        slope +- 3 ``zoom_sd[1]``.  ``"data"`` chooses the view from the fit: 3
        fitted random-effect SDs, widened to hold 95% of both sets of estimates.
        By default, a fit of the article's simulated data gets the article's view
        (``BASELINE_ZOOM_SD``, shared by every scenario so that they are
        comparable) and any other fit ``"data"``.
    toward : {"average", "cluster"}, default "average"
        With fixed effects beyond ``x``, draw each cluster at the other predictors'
        reference values, all pulled toward the population line ("average"), or draw
        each at its own values of the predictors at the cluster level, pulled toward its
        own target ("cluster"; :func:`shrinkage.measure.toward_targets`).

    Returns
    -------
    ShrinkagePaths
    """
    if toward not in ("average", "cluster"):
        raise ValueError(f"toward must be 'average' or 'cluster', got {toward!r}")
    c = fit.clusters if toward == "average" else toward_targets(fit)
    centre = fit.population_line
    targets = (c[["target_intercept", "target_slope"]].to_numpy(float)
               if toward == "cluster" else None)
    own_slope = c["ols_slope"].notna().to_numpy()
    start = np.column_stack([c["ols_intercept"].to_numpy(float),
                             c["ols_slope"].fillna(centre[1]).to_numpy(float)])
    end = c[["mixed_intercept", "mixed_slope"]].to_numpy(float)

    # Mean absolute deviation from the target in units of each column's spread.
    spread = np.nanstd(start[own_slope] if own_slope.any() else start, axis=0)
    aim = centre if targets is None else targets
    deviation = np.abs(start - aim) / np.where(spread > 0, spread, 1.0)
    deviation[~own_slope, 1] = deviation[~own_slope, 0]
    distance = deviation.mean(axis=1)
    # By rank, not by distance: a few far outliers would otherwise fade every point in view.
    rank = np.argsort(np.argsort(distance, kind="stable"), kind="stable")
    scaled = rank / (len(rank) - 1) if len(rank) > 1 else np.ones_like(distance)

    n = c["n"].to_numpy(float)
    middle = centre if targets is None else targets.mean(axis=0)
    half = _half_widths(fit, start, end, middle, zoom_sd)
    return ShrinkagePaths(
        start=start, end=end, own_slope=own_slope, opacity=0.1 + 0.9 * scaled,
        sizes=marker_area(n, n.max()), centre=centre,
        xlim=(middle[0] - half[0], middle[0] + half[0]),
        ylim=(middle[1] - half[1], middle[1] + half[1]),
        n_range=(int(n.min()), int(n.max())), x_name=str(fit.names["x"]), targets=targets,
        note=_reference_note(fit, cluster_level_columns(fit) if toward == "cluster" else []))


def _reference_note(fit, at_own_values):
    """What the axes hold when the fixed part has more than an intercept and ``x``."""
    design = fit.columns.design
    if design is None:
        return ""
    others = [name for name in design.variables if name != fit.names["x"]]
    held = [name for name in others
            if not any(column == name or column.startswith(name) for column in at_own_values)]
    parts = []
    own = [name for name in others if name not in held]
    if own:
        parts.append("of each cluster at its own " + " and ".join(own))
    if held:
        values = [f"{name} = {design.levels[name][0]}" if name in design.levels
                  else f"{name} = 0" for name in held]
        parts.append("at " + ", ".join(values))
    return "Intercept and slope " + "; ".join(parts) if parts else ""


def marker_area(n, largest):
    """Marker area (points^2) for clusters of ``n`` observations, proportional to ``n``.

    The largest cluster (``largest`` observations) gets 60 points^2, so 11 and 12
    observations look nearly alike and 1 and 10 differ tenfold.  When every cluster
    has ``largest`` observations, all get the plain size of 22.
    """
    n = np.asarray(n, float)
    if np.all(n == largest):
        return np.full(n.shape, 22.0)
    return 60.0 * n / largest


def _half_widths(fit, start, end, centre, zoom_sd):
    """Half the view's width and height around the fixed effects.

    A pair of SDs gives +- 3 of them (the article's fixed view); ``"data"`` takes
    3 fitted random-effect SDs, widened to hold 95% of both sets of estimates.
    """
    if zoom_sd is None:
        zoom_sd = BASELINE_ZOOM_SD if fit.simulated else "data"
    if isinstance(zoom_sd, str) and zoom_sd == "data":
        sd = np.sqrt([fit.variance["intercept"], fit.variance["slope"]])
        reach = np.nanquantile(np.abs(np.vstack([start, end]) - centre), 0.95, axis=0)
        half = np.maximum(3 * sd, 1.1 * reach)
        return np.where(half > 0, half, 1.0)
    zoom = np.asarray(zoom_sd, dtype=float)
    if zoom.shape != (2,) or not np.all(np.isfinite(zoom)) or np.any(zoom <= 0):
        raise ValueError(
            f"zoom_sd must be two positive finite numbers or 'data', got {zoom_sd!r}")
    return 3 * zoom


def _ease(t):
    """Smoothstep: the movement starts and ends gently."""
    return t * t * (3 - 2 * t)


def _rgba(colour, opacity):
    from matplotlib.colors import to_rgba

    rgba = np.tile(to_rgba(colour), (len(opacity), 1))
    rgba[:, 3] = opacity
    return rgba


def _new_figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=SIZE_INCHES, dpi=DPI, facecolor=BACKGROUND)
    FigureCanvasAgg(fig)  # measures text, for the label margins
    ax = fig.add_subplot()
    fig.subplots_adjust(**_MARGINS)
    return fig, ax


def _decorate(fig, ax, paths, legend=True, text_size=None):
    ax.set_facecolor(BACKGROUND)
    ax.set_xlim(paths.xlim)
    ax.set_ylim(paths.ylim)
    ax.set_xlabel("Intercept", fontsize=text_size)
    ax.set_ylabel(f"Slope for {paths.x_name}", fontsize=text_size)
    if text_size is not None:
        ax.tick_params(labelsize=text_size)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    own_figure = _owns_layout(fig, ax)
    beside = []  # what stands right of the axes in a figure of our own
    if legend:
        # A figure legend stays out of the animated axes, so it is drawn once for all
        # frames; in an axes of the caller's, the legend goes beside that axes instead.
        place = (dict(loc="center left", bbox_to_anchor=(_MARGINS["right"] + 0.01, 0.5))
                 if own_figure else
                 dict(loc="upper left", bbox_to_anchor=(1.02, 1.0),
                      bbox_transform=ax.transAxes, borderaxespad=0))
        beside.append(add_legend(fig, with_singletons=not paths.own_slope.all(),
                                 n_range=paths.n_range, targets=paths.targets is not None,
                                 labels=paths.labels,
                                 fontsize=text_size,
                                 title_fontsize=text_size, **place))
    if paths.note:
        ax.set_title(paths.note, fontsize=None if text_size is None else 0.8 * text_size,
                     color="0.3", loc="left")
    note = paths.outside_note()
    if note:
        small = None if text_size is None else 0.8 * text_size
        if own_figure:
            beside.append(fig.text(_MARGINS["right"] + 0.02, 0.03, note, fontsize=small,
                                   color="0.3", va="bottom"))
        else:
            ax.text(0.99, 0.99, note, transform=ax.transAxes, ha="right", va="top",
                    fontsize=small, color="0.3", zorder=6,
                    bbox=dict(facecolor=BACKGROUND, edgecolor="none", alpha=0.8))
    if own_figure:
        _make_room_for_labels(fig, ax)
        _keep_inside(fig, ax, beside)


def _keep_inside(fig, ax, artists):
    """Narrow the axes and move ``artists`` left when they would run off the figure's right."""
    get_renderer = getattr(fig.canvas, "get_renderer", None)
    if get_renderer is None or not artists:
        return
    width = fig.dpi * fig.get_figwidth()
    pad = 4.0  # pixels
    overflow = max(a.get_window_extent(get_renderer()).x1 for a in artists) - (width - pad)
    if overflow <= 0:
        return
    shift = overflow / width
    fig.subplots_adjust(right=ax.get_position().x1 - shift)
    for artist in artists:
        if hasattr(artist, "set_bbox_to_anchor"):  # the legend
            anchor = artist.get_bbox_to_anchor().transformed(fig.transFigure.inverted())
            artist.set_bbox_to_anchor((anchor.x0 - shift, anchor.y0 + anchor.height / 2),
                                      transform=fig.transFigure)
        else:
            x, y = artist.get_position()
            artist.set_x(x - shift)


def _owns_layout(fig, ax):
    """True for the figures made here: one axes placed at ``_MARGINS``."""
    box = ax.get_position()
    return (len(fig.axes) == 1 and abs(box.x0 - _MARGINS["left"]) < 1e-9
            and abs(box.x1 - _MARGINS["right"]) < 1e-9)


def _make_room_for_labels(fig, ax):
    """Move the axes right when wide tick labels push the y label off the figure."""
    get_renderer = getattr(fig.canvas, "get_renderer", None)
    if get_renderer is None:  # a canvas that cannot measure text: keep the margins
        return
    left = ax.yaxis.get_tightbbox(get_renderer()).x0
    pad = 4.0  # pixels
    if left < pad:
        fig.subplots_adjust(left=_MARGINS["left"] + (pad - left) / (fig.dpi * fig.get_figwidth()))


def add_legend(fig, with_singletons=False, n_range=(1, 1), targets=False,
               labels=("By-cluster", "Mixed"), **placement):
    """Add the shrinkage plot's legend (titled "Model") to ``fig``.

    When clusters differ in size (``n_range``), the legend also shows the marker
    sizes of the smallest, a middle and the largest cluster; with ``targets``, the mark
    of each cluster's own target in place of the population average.
    """
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker="o", color=colour, label=label)
               for colour, label in zip((BY_CLUSTER_COLOUR, MIXED_COLOUR), labels)]
    if with_singletons:
        handles.append(Line2D([], [], ls="", marker="o", mfc="none", color="0.3",
                              label="One obs.\n(no own slope)"))
    handles.append(Line2D([], [], ls="", marker="x", ms=5, color="black", alpha=0.6,
                          label="Cluster's\ntarget") if targets else
                   Line2D([], [], ls="", marker="o", ms=11, color="black", alpha=0.5,
                          label="Population\naverage"))
    smallest, largest = n_range
    if largest > smallest:
        shown = sorted({smallest, (smallest + largest) // 2, largest})
        areas = marker_area(shown, largest)
        handles += [Line2D([], [], ls="", marker="o", color="0.45", ms=float(np.sqrt(area)),
                           label=f"n = {n}")
                    for i, (n, area) in enumerate(zip(shown, areas))]
    return fig.legend(handles=handles, title="Model", frameon=False, **placement)


def _draw_background(ax, paths):
    """The parts that do not move: the paths and the black hole (or each cluster's target)."""
    from matplotlib.collections import LineCollection

    ax.add_collection(LineCollection(np.stack([paths.start, paths.end], axis=1),
                                     colors="black", alpha=0.1, linewidths=0.8))
    if paths.targets is not None:
        # Each cluster's own target: small dark marks, lying along the predictors' line.
        ax.scatter(paths.targets[:, 0], paths.targets[:, 1], s=14, marker="x", color="black",
                   alpha=0.45, linewidths=0.8, zorder=3)
        return
    for size, alpha in ((90, 0.5), (200, 0.25)):
        ax.scatter(*paths.centre, s=size, color="black", alpha=alpha, linewidths=0, zorder=3)


def _draw_points(ax, position, colour, paths, zorder=4):
    from matplotlib.collections import PathCollection
    from matplotlib.markers import MarkerStyle
    from matplotlib.transforms import IdentityTransform

    face = _rgba(colour, paths.opacity)
    face[~paths.own_slope, 3] = 0.0  # hollow: the slope is not the cluster's own
    edge = _rgba(colour, paths.opacity)
    marker = MarkerStyle("o")
    circle = marker.get_path().transformed(marker.get_transform())
    # A point in the view is drawn whole, also on its edge; the others are clipped away.
    for inside in (True, False):
        rows = paths.inside(position) == inside
        # What ax.scatter makes, without its colour parsing and autoscaling: the
        # animation builds 120 of these.
        points = PathCollection((circle,), paths.sizes[rows], offsets=position[rows],
                                offset_transform=ax.transData, facecolors=face[rows],
                                edgecolors=edge[rows], linewidths=0.8, zorder=zorder)
        points.set_transform(IdentityTransform())
        points.set_clip_on(not inside)
        ax.add_collection(points, autolim=False)


def _draw_frame(ax, paths, t):
    """Draw the clusters a fraction ``t`` of the way along their paths."""
    from matplotlib.colors import to_rgb

    progress = _ease(t)
    position = paths.start + progress * (paths.end - paths.start)
    colour = ((1 - progress) * np.array(to_rgb(BY_CLUSTER_COLOUR))
              + progress * np.array(to_rgb(MIXED_COLOUR)))
    _draw_points(ax, position, colour, paths)


def plot_shrinkage(fit, zoom_sd=None, ax=None, legend=True, text_size=None, toward="average"):
    """Draw the static end state: both estimates, joined by arrows to the mixed ones.

    Parameters
    ----------
    fit : shrinkage.MixedFit
    zoom_sd : tuple of float or "data", optional
        See :func:`shrinkage_paths`.
    ax : matplotlib.axes.Axes, optional
        Where to draw; by default a new 600 x 450 pyplot figure, which a notebook
        shows below the cell.
    legend : bool, default True
        Add the figure's legend (off for all but one panel of a grid).
    text_size : float, optional
        Size of the labels, ticks and legend in points; ``TEXT_SIZE`` for a new figure,
        matplotlib's default in a given ``ax``.
    toward : {"average", "cluster"}, default "average"
        See :func:`shrinkage_paths`.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn in.  Estimates outside the view are counted in a note on
        the figure.
    """
    return plot_paths(shrinkage_paths(fit, zoom_sd, toward), ax, legend, text_size)


def plot_paths(paths, ax=None, legend=True, text_size=None):
    """Draw the end state of any :class:`ShrinkagePaths` (see :func:`plot_shrinkage`)."""
    if ax is None:
        text_size = TEXT_SIZE if text_size is None else text_size
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=SIZE_INCHES, dpi=DPI, facecolor=BACKGROUND)
        ax = fig.add_subplot()
        fig.subplots_adjust(**_MARGINS)
    _decorate(ax.figure, ax, paths, legend, text_size)
    _draw_background(ax, paths)
    move = paths.end - paths.start
    ax.quiver(paths.start[:, 0], paths.start[:, 1], move[:, 0], move[:, 1], angles="xy",
              scale_units="xy", scale=1, width=0.002, headwidth=5, headlength=6,
              color="black", alpha=0.2, zorder=2)
    _draw_points(ax, paths.start, BY_CLUSTER_COLOUR, paths, zorder=4)
    _draw_points(ax, paths.end, MIXED_COLOUR, paths, zorder=5)
    return ax


def _ffmpeg_args(suffix):
    hold = f"tpad=stop_mode=clone:stop_duration={HOLD_SECONDS}"
    # bitexact and no metadata keep the files byte-identical from run to run.
    exact = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1"]
    if suffix == ".gif":
        return ["-filter_complex",
                f"{hold},split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse",
                "-loop", "0", *exact]
    # x264 "fast": a third of "slow"'s encoding time, for a file of the same size here.
    # Two threads, whatever the machine: the bytes depend on the count, and two end the
    # encoding (the hold) about 0.15 s sooner than one, for the same processor time.
    return ["-vf", hold, "-pix_fmt", "yuv420p", "-preset", "fast", "-crf", "26",
            "-tune", "animation", "-movflags", "+faststart", "-threads", "2", *exact]


def render_files(fit, out, static=None, zoom_sd=None, progress=False, toward="average"):
    """Render the animation, and optionally the static figure, to files.

    Parameters
    ----------
    fit : shrinkage.MixedFit
    out : str or pathlib.Path
        ``.mp4`` (H.264, for web pages) or ``.gif``.  60 frames of movement, then
        a 6 s hold on the end state, at 10 frames per second, 600 x 450 pixels.
    static : str or pathlib.Path, optional
        ``.png`` or ``.svg`` for :func:`plot_shrinkage`'s figure (poster, print
        version, and what readers who prefer reduced motion see).
    zoom_sd : tuple of float or "data", optional
        See :func:`shrinkage_paths`.
    progress : bool, default False
        Show a progress bar on standard error.
    toward : {"average", "cluster"}, default "average"
        See :func:`shrinkage_paths`.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    return render_paths(shrinkage_paths(fit, zoom_sd, toward), out, static, progress)


def render_paths(paths, out, static=None, progress=False):
    """Render any :class:`ShrinkagePaths` as :func:`render_files` renders a fit's."""
    targets, options, suffixes = _check_files(out, static)
    # Both files are written beside their targets and replace them together at the end.
    with replacing(*targets, options=options, suffixes=suffixes) as temporaries:
        _encode(_frames(paths), temporaries[0], targets[0], progress)
        if static is not None:
            fig, ax = _new_figure()
            plot_paths(paths, ax=ax, text_size=TEXT_SIZE)
            save_figure(fig, temporaries[1], dpi=STATIC_DPI, facecolor=BACKGROUND)
    return targets


def paths_between(fit, start, end, labels, zoom_sd=None):
    """Paths from one set of cluster lines to another, in the fit's view and style.

    ``start`` and ``end`` are ``(G, 2)`` arrays of (intercept, slope) in the order of
    ``fit.clusters`` (for example REML's lines and a posterior's means); ``labels`` name
    them in the legend.  The view and the points' opacity are the fit's own
    (:func:`shrinkage_paths`).
    """
    from dataclasses import replace

    paths = shrinkage_paths(fit, zoom_sd)
    return replace(paths, start=np.asarray(start, float), end=np.asarray(end, float),
                   own_slope=np.ones(len(start), bool), labels=tuple(labels))


def _check_files(out, static):
    """The targets and their option names; one-line refusals before any work."""
    require_name(out, "out")
    if static is not None:
        require_name(static, "static")
    if str(out) == STDOUT:
        raise ValueError("out: a video cannot go to standard output ('-'); give a file name")
    if static is not None and str(static) == STDOUT:
        raise ValueError("static: a figure cannot go to standard output ('-'); give a file name")
    targets, options, suffixes = [], [], []
    for option, path, formats in (("out", out, ANIMATION_FORMATS), ("static", static, STATIC_FORMATS)):
        if path is None:
            continue
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in formats:
            # A device or FIFO (/dev/null) has no suffix to choose by: it gets the first.
            if not writes_through(path):
                raise ValueError(f"{option} must end in {' or '.join(formats)}, got {str(path)!r}")
            suffix = formats[0]
        targets.append(path)
        options.append(option)
        suffixes.append(suffix)
    return targets, options, suffixes


def _frames(paths):
    """The moving frames, described with celluloid: the figure and each frame's artists."""
    from celluloid import Camera

    fig, ax = _new_figure()
    _decorate(fig, ax, paths, text_size=TEXT_SIZE)
    camera = Camera(fig)
    _draw_background(ax, paths)
    camera.snap()  # what does not move: part of every frame, not of one
    frames = []
    for frame in range(MOVING_FRAMES):
        _draw_frame(ax, paths, frame / (MOVING_FRAMES - 1))
        frames.append(camera.snap())
    return fig, ax, frames


def _frame_images(fig, ax, frames):
    """Each frame as RGBA bytes: what does not move is drawn once, then only the frame.

    The figure is drawn once without any frame's artists (axes, ticks, labels, legend
    and notes: most of the drawing time is text layout) and kept; each frame restores
    it and draws its own artists on top, in the order of their z-order.
    """
    for artist in (a for frame in frames for a in frame):
        artist.set_visible(False)
    canvas = fig.canvas
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    for frame in frames:
        canvas.restore_region(background)
        for artist in sorted(frame, key=lambda a: a.get_zorder()):
            artist.set_visible(True)
            ax.draw_artist(artist)
            artist.set_visible(False)
        yield bytes(canvas.buffer_rgba())


def _ffmpeg_writer(**options):
    """matplotlib's ffmpeg writer, with ffmpeg in a session of its own.

    A terminal's Ctrl-C then reaches this process only, which stops cleanly (the
    temporary file is removed), instead of ffmpeg dying first and the interruption
    being reported as a failed encoding.
    """
    import subprocess as _subprocess

    from matplotlib.animation import FFMpegWriter

    class Writer(FFMpegWriter):
        def _run(self):  # matplotlib 3.11's MovieWriter._run, in a new session
            self._proc = _subprocess.Popen(self._args(), stdin=_subprocess.PIPE,
                                           stdout=_subprocess.PIPE, stderr=_subprocess.PIPE,
                                           start_new_session=True)

        def write_rgba(self, image):
            """Send one frame, RGBA bytes of the figure's size, to ffmpeg."""
            self._proc.stdin.write(image)

    return Writer(**options)


def _encode(frames, temporary, target, progress):
    """Encode :func:`_frames` with ffmpeg into ``temporary`` (format from its suffix)."""
    import logging

    import imageio_ffmpeg
    import matplotlib

    fig, ax, artists = frames
    bar = ProgressBar(MOVING_FRAMES, "rendering", sys.stderr) if progress else None
    # matplotlib logs ffmpeg's own output when it fails; the one-line error below says it.
    movie_log = logging.getLogger("matplotlib.animation")
    level = movie_log.level
    movie_log.setLevel(logging.ERROR)
    with matplotlib.rc_context({"animation.ffmpeg_path": imageio_ffmpeg.get_ffmpeg_exe()}):
        writer = _ffmpeg_writer(fps=FPS, codec="h264",
                                extra_args=_ffmpeg_args(Path(temporary).suffix.lower()))
        try:
            with writer.saving(fig, temporary, DPI):
                for image in _frame_images(fig, ax, artists):
                    writer.write_rgba(image)
                    if bar:
                        bar.advance()
        except subprocess.CalledProcessError as error:
            # Ctrl-C reaches ffmpeg too (same process group); matplotlib then reports
            # its exit while finishing, which hides the KeyboardInterrupt behind it.
            if _raised_during(error, KeyboardInterrupt):
                raise KeyboardInterrupt from None
            raise OSError(f"out: ffmpeg could not write {str(target)!r}") from None
        finally:
            movie_log.setLevel(level)


def _raised_during(error, kind):
    """True when ``error`` was raised while handling an exception of ``kind``."""
    context = error.__context__
    while context is not None:
        if isinstance(context, kind):
            return True
        context = context.__context__
    return False
