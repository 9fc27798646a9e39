"""The shrinkage animation: its data, its files and its command line."""
import re
import subprocess

import imageio_ffmpeg
import numpy as np
import pytest
from matplotlib.image import imread

from shrinkage import SCENARIOS, create_data, fit_models, simulate
from shrinkage.animate import plot_shrinkage, render_files, shrinkage_paths


@pytest.fixture(scope="module")
def baseline():
    return fit_models(simulate(SCENARIOS["baseline"]))


def test_paths_run_from_own_fits_to_mixed_estimates(baseline):
    paths = shrinkage_paths(baseline)
    c = baseline.clusters
    np.testing.assert_array_equal(paths.start, c[["ols_intercept", "ols_slope"]].to_numpy())
    np.testing.assert_array_equal(paths.end, c[["mixed_intercept", "mixed_slope"]].to_numpy())
    np.testing.assert_array_equal(paths.centre, baseline.fixed_effects["estimate"].to_numpy())


def test_view_is_the_baseline_zoom_unless_overridden(baseline):
    b0, b1 = baseline.fixed_effects["estimate"]
    paths = shrinkage_paths(baseline)
    np.testing.assert_allclose(paths.xlim, (b0 - 1.5, b0 + 1.5))
    np.testing.assert_allclose(paths.ylim, (b1 - 0.75, b1 + 0.75))
    wide = shrinkage_paths(baseline, zoom_sd=(1, 1))
    np.testing.assert_allclose(wide.ylim, (b1 - 3, b1 + 3))
    with pytest.raises(ValueError, match="zoom_sd must be two positive"):
        shrinkage_paths(baseline, zoom_sd=(0, 1))


def test_farther_clusters_are_more_opaque(baseline):
    paths = shrinkage_paths(baseline)
    assert paths.opacity.min() == pytest.approx(0.1) and paths.opacity.max() == pytest.approx(1)
    start = paths.start
    spread = start.std(axis=0)
    distance = (np.abs(start - paths.centre) / spread).mean(axis=1)
    assert np.argmax(paths.opacity) == np.argmax(distance)
    # Opacity is a monotone function of that distance.
    order = np.argsort(distance)
    assert np.all(np.diff(paths.opacity[order]) >= 0)
    assert np.ptp(paths.sizes) == 0  # balanced: one size for all


def test_unbalanced_sizes_and_singletons():
    fit = fit_models(create_data(seed=6, balanced=0.2))
    paths = shrinkage_paths(fit)
    n = fit.clusters["n"].to_numpy()
    assert paths.sizes[np.argmax(n)] == paths.sizes.max() > paths.sizes[np.argmin(n)]
    single = n == 1
    assert not paths.own_slope[single].any() and paths.own_slope[~single].all()
    # A cluster without its own slope starts at the population slope.
    np.testing.assert_allclose(paths.start[single, 1], paths.centre[1])


def media_info(path):
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(path)],
                           capture_output=True, text=True).stderr
    duration = re.search(r"Duration: (\d+):(\d+):([\d.]+)", probe).groups()
    seconds = 3600 * int(duration[0]) + 60 * int(duration[1]) + float(duration[2])
    width, height = map(int, re.search(r"Video: .*?, (\d+)x(\d+)", probe).groups())
    return probe, seconds, width, height


def test_mp4_is_light_deterministic_and_timed_like_the_article(baseline, tmp_path):
    first = render_files(baseline, tmp_path / "a.mp4", static=tmp_path / "a.png")
    second = render_files(baseline, tmp_path / "b.mp4", static=tmp_path / "b.png")
    assert first == [tmp_path / "a.mp4", tmp_path / "a.png"]
    assert second == [tmp_path / "b.mp4", tmp_path / "b.png"]
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    probe, seconds, width, height = media_info(tmp_path / "a.mp4")
    assert "h264" in probe and "yuv420p" in probe
    # 60 moving frames and a 6 s hold at 10 fps.
    assert seconds == pytest.approx(12.0, abs=0.05) and (width, height) == (600, 450)
    assert (tmp_path / "a.mp4").stat().st_size <= 300_000
    assert imread(tmp_path / "a.png").shape[:2] == (900, 1200)  # 2x for sharp screens


def frame(path, index, tmp_path):
    out = tmp_path / f"frame{index}.png"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(path),
                    "-vf", f"select=eq(n\\,{index})", "-vframes", "1", str(out)], check=True)
    return imread(out)[..., :3]


def test_frames_move_then_hold(baseline, tmp_path):
    video = tmp_path / "v.mp4"
    render_files(baseline, video)
    first, middle, end, last = (frame(video, i, tmp_path) for i in (0, 30, 60, 119))
    assert np.abs(first - middle).mean() > 0.002
    # The hold repeats the end state (up to compression noise).
    assert np.abs(end - last).mean() < 0.002
    # Salmon (#F49E71) dominates the start and olive (#808133) the end.
    salmon, olive = np.array([0xF4, 0x9E, 0x71]) / 255, np.array([0x80, 0x81, 0x33]) / 255

    def count(image, colour):
        plot_area = image[:, :460]  # left of the legend, which shows both colours
        return int((np.abs(plot_area - colour).max(axis=-1) < 0.08).sum())

    assert count(first, salmon) > 5 * max(count(first, olive), 1)
    assert count(last, olive) > 5 * max(count(last, salmon), 1)


def test_gif_on_request(baseline, tmp_path):
    render_files(baseline, tmp_path / "a.gif")
    data = (tmp_path / "a.gif").read_bytes()
    assert data[:6] == b"GIF89a"
    assert media_info(tmp_path / "a.gif")[1] == pytest.approx(12.0, abs=0.1)


def test_svg_is_reproducible(baseline, tmp_path):
    render_files(baseline, tmp_path / "a.mp4", static=tmp_path / "a.svg")
    render_files(baseline, tmp_path / "b.mp4", static=tmp_path / "b.svg")
    text = (tmp_path / "a.svg").read_text()
    assert text == (tmp_path / "b.svg").read_text() and "<dc:date>" not in text


def test_bad_file_names_are_refused(baseline, tmp_path):
    with pytest.raises(ValueError, match="out must end in .mp4 or .gif"):
        render_files(baseline, tmp_path / "a.avi")
    with pytest.raises(ValueError, match="static must end in .png or .svg"):
        render_files(baseline, tmp_path / "a.mp4", static=tmp_path / "a.jpg")


def test_cli_renders_any_setting(shrinkage_main, tmp_path):
    result = shrinkage_main("animate", "--obs-per-cluster", "3", "--out", str(tmp_path / "few.mp4"),
                     "--static", str(tmp_path / "few.svg"))
    assert result.returncode == 0, result.stderr
    assert media_info(tmp_path / "few.mp4")[1] == pytest.approx(12.0, abs=0.05)
    assert (tmp_path / "few.svg").read_text().startswith("<?xml")


@pytest.mark.parametrize("args, name", [
    (["--balanced", "7"], "balanced"),
    (["--obs-per-cluster", "2"], "observations"),
    (["--static", "x.bmp"], "static"),
])
def test_cli_bad_settings_exit_2(shrinkage_main, args, name, tmp_path):
    result = shrinkage_main("animate", "--out", str(tmp_path / "x.mp4"), *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0]
    assert not (tmp_path / "x.mp4").exists()


def test_plot_draws_into_given_axes(baseline):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    plot_shrinkage(baseline, ax=ax)
    # Two point sets per cluster set, plus the two black-hole layers.
    assert len(ax.collections) >= 5
    assert ax.get_xlabel() == "Intercept" and ax.get_ylabel() == "Slope for x"
    assert [t.get_text() for t in fig.legends[0].get_texts()][:2] == ["By-cluster", "Mixed"]


def test_progress_bar_counts_the_frames(baseline, tmp_path, capsys):
    render_files(baseline, tmp_path / "p.mp4", progress=True)
    err = capsys.readouterr().err
    assert "rendering [" in err and err.rstrip().endswith("60/60")
    assert err.count("\r") == 60


def test_share_starting_outside_counts_by_hand():
    from shrinkage.animate import ShrinkagePaths

    start = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, -2.0], [0.5, 0.5]])
    paths = ShrinkagePaths(start=start, end=start, own_slope=np.ones(4, bool),
                           opacity=np.ones(4), sizes=np.ones(4), centre=np.zeros(2),
                           xlim=(-1, 1), ylim=(-1, 1))
    assert paths.share_starting_outside == 0.5   # (3, 0) and (0, -2) are outside


def test_marker_area_is_proportional_to_cluster_size():
    fit = fit_models(create_data(seed=6, balanced=0.2))
    paths = shrinkage_paths(fit)
    n = fit.clusters["n"].to_numpy(float)
    np.testing.assert_allclose(paths.sizes / paths.sizes.max(), n / n.max())


def test_a_users_fit_gets_its_own_view_and_the_figure_counts_what_lies_outside():
    import pandas as pd

    # The same numbers as a user's own frame (not from simulate): the data's own view.
    data = pd.DataFrame(simulate(SCENARIOS["more_slope_variance"]).to_dict("list"))
    users = shrinkage_paths(fit_models(data))
    assert users.share_starting_outside <= 0.1
    # The article's simulation keeps the article's fixed view, and the figure says how
    # many estimates it leaves out, counted here by hand.
    fit = fit_models(simulate(SCENARIOS["more_slope_variance"]))
    b0, b1 = fit.fixed_effects["estimate"]
    c = fit.clusters

    def outside(intercepts, slopes):
        return int(((abs(intercepts - b0) > 1.5) | (abs(slopes - b1) > 0.75)).sum())

    own = outside(c["ols_intercept"], c["ols_slope"])
    mixed = outside(c["mixed_intercept"], c["mixed_slope"])
    assert own > 40 and mixed > 40
    fig = plot_shrinkage(fit).figure
    texts = [text.get_text() for text in fig.texts]
    assert f"Outside the view:\n{own} of 100 by-cluster\n{mixed} of 100 mixed" in texts


def test_wide_tick_labels_keep_the_axis_label_on_the_figure():
    import pandas as pd

    base = simulate(SCENARIOS["baseline"])
    data = pd.DataFrame({"y": base["y"] * 1e7, "x": base["x"], "cluster": base["cluster"]})
    fig = plot_shrinkage(fit_models(data)).figure
    renderer = fig.canvas.get_renderer()
    label = fig.axes[0].yaxis.label.get_window_extent(renderer)
    ticks = fig.axes[0].yaxis.get_tightbbox(renderer)
    assert label.x0 >= 0 and ticks.x0 >= 0


def test_the_legend_stays_off_a_callers_axes(baseline):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    plot_shrinkage(baseline, ax=ax)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = (fig.legends or [ax.get_legend()])[0].get_window_extent(renderer)
    assert not legend.overlaps(ax.get_window_extent(renderer))
    plt.close(fig)


def test_points_in_the_view_are_drawn_whole(baseline):
    ax = plot_shrinkage(baseline)
    from matplotlib.collections import PathCollection

    inside = shrinkage_paths(baseline).inside
    centre = shrinkage_paths(baseline).centre
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)
                and len(c.get_offsets())  # drawn points: the clusters, not the black hole
                and not np.allclose(np.asarray(c.get_offsets()), centre)]
    assert sum(len(c.get_offsets()) for c in scatters) == 2 * baseline.ngroups
    for collection in scatters:
        within = inside(np.asarray(collection.get_offsets()))
        assert within.all() or not within.any()
        assert collection.get_clip_on() == (not within.all())


def test_blitted_frames_look_like_full_redraws(baseline):
    # The frames as matplotlib's ArtistAnimation drew them before: the whole figure per
    # frame, the points by ax.scatter, the paths and black hole in every frame.  The
    # frames now drawn (background kept, points drawn on it) must look the same.
    from matplotlib.colors import to_rgb

    from shrinkage import animate

    paths = shrinkage_paths(baseline)
    fig, ax, frames = animate._frames(paths)
    images = list(animate._frame_images(fig, ax, frames))
    assert len(images) == animate.MOVING_FRAMES
    for k in (0, 30, animate.MOVING_FRAMES - 1):
        ref_fig, ref_ax = animate._new_figure()
        animate._decorate(ref_fig, ref_ax, paths, text_size=animate.TEXT_SIZE)
        animate._draw_background(ref_ax, paths)
        progress = animate._ease(k / (animate.MOVING_FRAMES - 1))
        position = paths.start + progress * (paths.end - paths.start)
        colour = ((1 - progress) * np.array(to_rgb(animate.BY_CLUSTER_COLOUR))
                  + progress * np.array(to_rgb(animate.MIXED_COLOUR)))
        face = animate._rgba(colour, paths.opacity)
        face[~paths.own_slope, 3] = 0.0
        edge = animate._rgba(colour, paths.opacity)
        for inside in (True, False):
            rows = paths.inside(position) == inside
            ref_ax.scatter(position[rows, 0], position[rows, 1], s=paths.sizes[rows],
                           c=face[rows], edgecolors=edge[rows], linewidths=0.8, zorder=4,
                           clip_on=not inside)
        ref_fig.canvas.draw()
        reference = np.asarray(ref_fig.canvas.buffer_rgba()).astype(int)
        drawn = np.frombuffer(images[k], np.uint8).reshape(reference.shape).astype(int)
        difference = np.abs(reference - drawn)
        assert difference.mean() < 0.05, (k, difference.mean())
        assert np.mean(difference.max(axis=2) > 16) < 1e-3, k


def test_more_fixed_effects_are_drawn_at_reference_values_and_the_caption_says_so():
    from shrinkage import hsb

    fit = fit_models("MathAch ~ SES + MEANSES + Sector + (SES | School)", hsb())
    paths = shrinkage_paths(fit)
    # At MEANSES = 0 and Sector = Catholic (the first level): lme4's coef(), and the own
    # lines fitted to MathAch less the MEANSES and Sector parts.
    assert paths.note == "Intercept and slope at MEANSES = 0, Sector = Catholic"
    np.testing.assert_allclose(paths.end, fit.clusters[["mixed_intercept", "mixed_slope"]])
    assert paths.targets is None
    # Toward each school's own target: its MEANSES and Sector are its own.
    own = shrinkage_paths(fit, toward="cluster")
    assert own.note == "Intercept and slope of each cluster at its own MEANSES and Sector"
    estimate = fit.fixed_effects["estimate"]
    first = hsb().groupby("School").first().loc[fit.clusters["cluster"]]
    expected = (estimate["Intercept"] + estimate["MEANSES"] * first["MEANSES"].to_numpy()
                + estimate["SectorPublic"] * (first["Sector"] == "Public").to_numpy())
    np.testing.assert_allclose(own.targets[:, 0], expected, rtol=1e-12)
    # The moves are the same in both views: only where they are drawn differs.
    np.testing.assert_allclose(own.end - own.start, paths.end - paths.start, atol=1e-9)
    with pytest.raises(ValueError, match="^toward must be 'average' or 'cluster', got 'x'$"):
        shrinkage_paths(fit, toward="x")


def test_cli_animates_a_formula(shrinkage_main, tmp_path):
    from conftest import REFERENCE

    result = shrinkage_main("animate", "--data", str(REFERENCE / "formula_Orthodont.csv"),
                            "--formula", "distance ~ age * Sex + (age | Subject)",
                            "--out", str(tmp_path / "o.gif"), "--static", str(tmp_path / "o.svg"))
    assert result.returncode == 0, result.stderr
    assert "Intercept and slope at Sex = Female" in (tmp_path / "o.svg").read_text()
    both = shrinkage_main("animate", "--data", str(REFERENCE / "formula_Orthodont.csv"),
                          "--formula", "distance ~ age + (age | Subject)", "--x", "age",
                          "--out", str(tmp_path / "p.gif"))
    assert both.returncode == 2 and "--x and --formula name the same things" in both.stderr
    assert not (tmp_path / "p.gif").exists()
