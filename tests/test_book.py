"""The built book, checked as a reader would see it."""
import hashlib
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from conftest import REFERENCE, ROOT, run_book_build, run_in_one_kernel

pytestmark = pytest.mark.book

SCENARIOS = ["baseline", "more_variance", "more_slope_variance", "few_obs", "many_obs",
             "unbalanced"]


def toc_pages():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc["parts"]:
        pages += [chapter["file"] for chapter in part["chapters"]]
    return pages


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self.skip -= tag in ("script", "style")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def page_text(html):
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def read(site, page):
    return (site / f"{page}.html").read_text()


def test_every_toc_page_is_built(site):
    for page in toc_pages():
        assert (site / f"{page}.html").is_file(), page


def test_no_page_shows_errors_or_warnings(site):
    for page in toc_pages():
        html = read(site, page)
        text = page_text(html)
        assert "output stderr" not in html and "output traceback" not in html, page
        for word in ("Traceback", "Error:", "Warning:", "DeprecationWarning"):
            assert word not in text, (page, word)


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_page_has_its_animation(site, name):
    html = read(site, f"book/{name}")
    video = re.search(r'<video [^>]*poster="([^"]+)"[^>]*><source src="([^"]+)" type="video/mp4">',
                      html)
    assert video, name
    poster, source = video.groups()
    for url in (poster, source):
        assert (site / "book" / url).resolve().is_file(), url
    opening = html[video.start():video.end()]
    for attribute in ("autoplay", "loop", "muted", "playsinline"):
        assert attribute in opening
    assert re.search(r'<img src="[^"]+" alt="[^"]{20,}"', html[video.end():]), "text alternative"
    # A figure numbered with the others, with an id, and a caption without empty paragraphs.
    figure = re.search(r'<figure class="animation" id="([^"]*)">(.*?)</figure>', html, re.S)
    assert figure and figure.group(1) == "animation-" + name.replace("_", "-")
    assert re.search(r'<figcaption><p><span class="caption-number">Fig\. \d+ </span>',
                     figure.group(2))
    assert "<p></p>" not in figure.group(2) and figure.group(2).count("<p>") == 1
    # The end-state figure is the poster itself: one image, downloaded once, linked full size.
    end_state = re.search(r'<a class="reference internal image-reference" href="([^"]+)">'
                          r'<img ([^>]*)>', html)
    assert end_state
    image = dict(re.findall(r'([\w-]+)="([^"]*)"', end_state.group(2)))
    assert end_state.group(1) == image["src"] == poster and image["loading"] == "lazy"
    assert not image["alt"].startswith("../_images"), "alt text, not a file name"


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_page_shows_lme4s_numbers(site, name):
    reference = json.loads((REFERENCE / f"{name}.json").read_text())
    text = page_text(read(site, f"book/{name}"))
    v = reference["variance"]
    # The recovery table shows the estimates to 3 decimals: R's values, rounded.
    for value in (reference["fixed_effects"]["Intercept"]["estimate"],
                  math.sqrt(v["intercept"]), math.sqrt(v["slope"]), math.sqrt(v["residual"])):
        shown = f"{value:.3f}".rstrip("0").rstrip(".")
        assert shown in text, (name, shown)


def test_baseline_page_shows_the_article_summary(site):
    text = page_text(read(site, "book/baseline"))
    for value in ("REML criterion at convergence: 3012.2", "0.2914", "0.0599", "0.30",
                  "0.9924", "0.93647", "0.06282", "0.54405", "0.04270"):
        assert value in text, value


def test_math_is_rendered_to_mathml(site):
    html = read(site, "book/model")
    assert html.count("<math") >= 5
    assert "mathjax.js" not in html.lower() and "tex-chtml" not in html.lower()


@pytest.mark.parametrize("page", ["book/model", "book/baseline", "book/does_it_pay"])
def test_notebooks_download_with_outputs(site, page):
    notebook = json.loads((site / "_sources" / f"{page}.ipynb").read_text())
    outputs = [o for cell in notebook["cells"] if cell["cell_type"] == "code"
               for o in cell["outputs"]]
    assert outputs and not any(o["output_type"] == "error" for o in outputs)
    assert f'_sources/{page}.ipynb' in read(site, page)


def test_validation_appendix_is_within_the_test_tolerances(site):
    """The appendix's largest differences from lme4, read off the built page."""
    from bs4 import BeautifulSoup

    from shrinkage.report import TOLERANCES

    html = read(site, "book/validation")
    table = next(t for t in BeautifulSoup(html, "html.parser").find_all("table")
                 if "vs lme4" in t.get_text())
    # The first row of column headings, its corner cell included (a plain cell).
    header = [cell.get_text(strip=True)
              for cell in table.find("thead").find("tr").find_all(["th", "td"])]
    rows = {row.find("th").get_text(strip=True):
            dict(zip(header[1:], (float(td.get_text(strip=True)) for td in row.find_all("td"))))
            for row in table.find("tbody").find_all("tr")}
    assert list(rows) == list(TOLERANCES)
    for group, tolerance in TOLERANCES.items():
        assert rows[group]["vs lme4"] <= tolerance, group
        assert rows[group]["tolerance"] == tolerance
    assert "R version 4.2.2" in page_text(html) and "lme4 1.1.31" in page_text(html)


def test_statsmodels_chapter_shows_the_failing_default_and_a_good_fit(site):
    text = page_text(read(site, "book/statsmodels"))
    assert "converged: False" in text and "ConvergenceWarning" in text
    assert "lbfgs" in text


@pytest.mark.parametrize("page", toc_pages())
def test_page_has_a_description_alt_texts_and_no_empty_header_cells(site, page):
    html = read(site, page)
    description = re.search(r'<meta name="description" content="([^"]+)" />', html)
    assert description and 50 <= len(description.group(1)) <= 160, page
    assert not description.group(1).startswith(("Adapted", "New in", "Not in"))
    # Every image says what it shows: no file names (myst-nb's default) as alt text.
    for alt in re.findall(r'<img [^>]*alt="([^"]*)"', html):
        assert len(alt) >= 20 and not alt.startswith("../_images"), (page, alt)
    assert not re.search(r"<th[^>]*>(?:\s|&nbsp;)*</th>", html), page
    # Scripts wait for the page: none in the head blocks the first paint.
    head = html[:html.index("</head>")]
    blocking = [tag for tag in re.findall(r"<script[^>]*>", head)
                if "src=" in tag and "defer" not in tag and "async" not in tag]
    assert blocking == [], blocking
    assert "fontawesome" not in head.replace("fontawesome.com", "")


def test_how_far_chapter_has_its_figures_and_corrections(site):
    html = read(site, "book/how_far")
    for name in ("fig-fraction-vs-textbook", "fig-coupling", "fig-fraction-vs-distance",
                 "fig-ellipses"):
        assert f'id="{name}"' in html
    text = page_text(html)
    # The article's statement explained, not called wrong: the normal penalty is the cause.
    assert "the normal distribution penalizes extreme values, is the mechanism itself" in text
    assert re.search(r"With days centred, the largest gap with the covariance set to zero is "
                     r"\d(\.\d)?e-\d+ ?: rounding error", text)
    assert "nan" not in text.split()


def test_does_it_pay_chapter_has_its_figures_and_says_who_pays(site):
    html = read(site, "book/does_it_pay")
    for name in ("fig-estimation-error", "fig-error-by-extremity", "fig-error-ratios"):
        assert f'id="{name}"' in html
    text = page_text(html)
    assert "partial pooling" in text and "complete pooling" in text
    assert re.search(r"partial pooling[’']s mean squared error is [\d.]+ against [\d.]+ for no "
                     r"pooling: worse", text)
    assert "No pooling has the very same errors in baseline, more variance and more slope variance" in text


def test_a_failing_chapter_fails_the_build(book_copy, tmp_path):
    import shutil

    copy = tmp_path / "repo"
    shutil.copytree(book_copy[0], copy)  # with its execution cache: only model.md runs
    chapter = copy / "book" / "model.md"
    chapter.write_text(chapter.read_text() + "\n```{code-cell} ipython3\n"
                       "sk.fit_models(sk.create_data(obs_per_cluster=2))\n```\n")
    result = run_book_build(copy)
    assert result.returncode != 0
    assert "UnidentifiableError" in result.stdout + result.stderr


# Numbers that may stand in the prose as text: the article's settings and quoted values,
# contour levels, the nominal level of an interval and its normal quantile, and facts of
# arithmetic. Anything else that depends on the data must
# come from a glue role.
_TYPED_NUMBERS_ALLOWED = {
    "0.5", "0.25", "0.1", "0.8", "0.125", "0.003", "0.32", "0.29134", "0.06281", "50%",
    "90%", "99%", "1%", "95%", "1.96", "4.0", "2019", "2026",
}


def prose_numbers(markdown):
    """Decimal numbers and percentages in a chapter's prose (code, math, glue removed)."""
    text = re.sub(r"```\{code-cell\}.*?```", "", markdown, flags=re.S)
    text = re.sub(r"^---\n.*?\n---\n", "", text, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|\{glue:[a-z]*\}`[^`]*`|`[^`]*`|\(https?://[^)]*\)"
                  r"|<https?://[^>]*>", "", text, flags=re.S)
    return re.findall(r"\d+\.\d+|\d+%", text)


@pytest.mark.parametrize("page", [p for p in toc_pages() if p != "intro"])
def test_no_data_dependent_number_is_typed_into_the_prose(page):
    typed = [n for n in prose_numbers((ROOT / f"{page}.md").read_text())
             if n not in _TYPED_NUMBERS_ALLOWED]
    assert not typed, f"{page}: glue these numbers instead of typing them: {typed}"


def test_prose_numbers_finds_typed_numbers():
    # The check itself: typed numbers are found, glued and coded ones are not.
    sample = ("Moves 69% of the way, {glue:text}`x:.0%` here, `0.123` in code.\n"
              "```{code-cell} ipython3\nprint(0.55)\n```\nand 0.4321 typed.")
    assert prose_numbers(sample) == ["69%", "0.4321"]


def test_baseline_prose_quotes_lme4s_numbers(site):
    # R: summary(lmer(y ~ x + (x | cluster), create_data())), tests/reference/baseline.json
    lme4 = json.loads((REFERENCE / "baseline.json").read_text())
    text = page_text(read(site, "book/baseline"))
    v, fe = lme4["variance"], lme4["fixed_effects"]
    expected = [f"REML criterion of {lme4['reml_criterion']:.1f}",
                f"variances of {v['intercept']:.4f} (intercepts) and {v['slope']:.4f} (slopes)",
                f"fixed effects {fe['Intercept']['estimate']:.5f} and {fe['x']['estimate']:.5f}",
                "to every printed digit", "this fit is not singular"]
    for phrase in expected:
        assert phrase in text, phrase


def test_does_it_pay_reports_the_study(site):
    text = page_text(read(site, "book/does_it_pay"))
    assert "repeats every scenario 200 times" in text
    assert re.search(r"Partial pooling wins every replicate in \d+ of the 24 comparisons", text)
    assert re.search(r"Singular fits are most frequent in few obs, where \d+% of the", text)
    assert "fig-error-ratios" in read(site, "book/does_it_pay")


def test_every_repository_link_comes_from_the_one_setting(site):
    # _config.yml's repository.url is the one place the address is set; the README says so.
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url, branch = config["repository"]["url"], config["repository"]["branch"]
    assert "repository.url" in (ROOT / "README.md").read_text()
    assert url not in json.dumps(config["sphinx"]), "the address is repeated in sphinx.config"
    for page in toc_pages():
        links = set(re.findall(r'href="(https://github\.com/[^"]*)"', read(site, page)))
        assert links and all(link.startswith(url) for link in links), (page, links)
        assert f'href="{url}"' in read(site, page)                     # the repository button
        assert f'href="{url}/edit/{branch}/{page}.md"' in read(site, page)  # edit this page
        assert any(link.startswith(f"{url}/issues/new") for link in links)


def test_the_footer_links_the_licence_and_the_original_article(site):
    for page in toc_pages():
        footer = read(site, page).split('class="bd-footer-content"', 1)[1]
        assert 'href="https://creativecommons.org/licenses/by-sa/4.0/"' in footer, page
        assert 'href="https://m-clark.github.io/posts/2019-05-14-shrinkage-in-mixed-models/"' in footer
        assert "Michael Clark" in page_text(footer)


def site_address():
    """The site's address on GitHub Pages, worked out by hand from repository.url."""
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    owner, repo = url.removeprefix("https://github.com/").split("/")
    return f"https://{owner.lower()}.github.io/{repo}/"


def test_every_page_has_a_link_preview_a_canonical_address_and_one_viewport(site):
    base = site_address()
    for page in toc_pages():
        page_html = read(site, page)
        head = page_html.split("</head>", 1)[0]
        assert head.count('name="viewport"') == 1, page
        assert f'<link rel="canonical" href="{base}{page}.html" />' in head, page
        tags = dict(re.findall(r'<meta (?:property|name)="((?:og|twitter):[\w:]+)" content="([^"]*)"',
                               head))
        assert tags["og:url"] == f"{base}{page}.html"
        assert tags["og:image"].startswith(base + "_images/") and tags["og:image"].endswith(".png")
        assert (site / tags["og:image"].removeprefix(base)).is_file()
        assert tags["og:title"].endswith("Shrinkage in Mixed Models")
        assert len(tags["og:description"]) >= 40 and tags["twitter:card"] == "summary_large_image"
        for icon in ("favicon-32.png", "apple-touch-icon.png"):
            assert f'_static/{icon}"' in head
    search = read(site, "search").split("</head>", 1)[0]
    assert '<meta name="description" content="Search the book' in search
    assert search.count('name="viewport"') == 1


def test_the_site_has_a_sitemap_robots_txt_404_page_and_png_icons(site):
    from PIL import Image

    base = site_address()
    sitemap = (site / "sitemap.xml").read_text()
    listed = re.findall(r"<loc>([^<]+)</loc>", sitemap)
    assert sorted(listed) == sorted(f"{base}{page}.html" for page in toc_pages())
    assert (site / "robots.txt").read_text().splitlines()[-1] == f"Sitemap: {base}sitemap.xml"
    # GitHub Pages serves 404.html for a missing page at any depth: absolute links only.
    missing = (site / "404.html").read_text()
    assert "Page not found" in missing and f'href="{base}index.html"' in missing
    assert not re.search(r'(?:href|src)="(?!https://)', missing)
    for name, size in (("favicon-32.png", 32), ("apple-touch-icon.png", 180)):
        with Image.open(site / "_static" / name) as icon:
            assert icon.size == (size, size)
            # The icon's picture: the dark "black hole" in the middle, the page colour at a corner.
            middle = icon.convert("RGB").getpixel((size // 2, size // 2))
            corner = icon.convert("RGB").getpixel((size // 2, 1))
            assert max(middle) < 100 and min(corner) > 240


def test_every_figure_is_stored_with_a_palette_where_it_is_written(book_copy):
    from PIL import Image

    def modes(folder):
        modes = {}
        for path in sorted(folder.glob("*.png")):
            with Image.open(path) as image:
                modes[path.name] = image.mode
        return modes

    build = book_copy.path / "_build"
    notebook_figures = modes(build / "jupyter_execute")
    site_figures = modes(build / "html" / "_images")
    assert len(notebook_figures) >= 10 and len(site_figures) > len(notebook_figures)
    assert set(site_figures.values()) == {"P"}
    # Where myst-nb wrote them, too: a later build finds them converted and copies nothing.
    assert set(notebook_figures.values()) == {"P"}
    assert notebook_figures.keys() <= site_figures.keys()


def test_sleepstudy_teaches_lines_size_uncertainty_and_prediction(site):
    html = read(site, "book/sleepstudy")
    for name in ("fig-sleepstudy-lines", "fig-sleepstudy-added"):
        assert f'id="{name}"' in html, name
    assert re.search(r"S902[’']s own slope of 60 ms a day becomes", page_text(html))
    # The uncertainty, the predictions and the forecasts have a chapter of their own.
    html = read(site, "book/uncertainty")
    assert 'id="fig-sleepstudy-by-size"' in html
    text = page_text(html)
    assert re.search(r"Left out a day at a time, partial pooling[’']s error is (\d+% (lower|higher) "
                     r"than|about the same as) no pooling[’']s", text)
    assert re.search(r"For S308 on day 9 the interval is \d+ ms wide; for a new person, \d+ ms", text)
    assert re.search(r"From three days, partial pooling[’']s forecast error is", text)


def test_unbalanced_and_how_far_show_size_and_centring(site):
    assert 'id="fig-unbalanced-by-size"' in read(site, "book/unbalanced")
    assert 'id="fig-centring-paths"' in read(site, "book/how_far")


def _downloaded_notebooks(site):
    return sorted((site / "_sources" / "book").glob("*.ipynb"))


def test_downloaded_notebooks_read_as_plain_markdown(site):
    notebooks = _downloaded_notebooks(site)
    assert len(notebooks) >= 12
    for path in notebooks:
        cells = json.loads(path.read_text())["cells"]
        markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        # No MyST role, directive or label is left for Jupyter to show as raw text.
        leaks = re.findall(r"\{[\w:-]*\}`|^```\{|^:::|^\([\w-]+\)=[ \t]*$", markdown, re.M)
        assert leaks == [], (path.name, leaks)
    baseline = json.loads((site / "_sources" / "book" / "baseline.ipynb").read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in baseline if c["cell_type"] == "markdown")
    # The glued REML criterion as the page shows it (R: REMLcrit(lmer(...)) = 3012.19),
    # the article cited by author and year, the animation as the image the notebook writes.
    assert "criterion of 3012.2" in text and "(Clark 2019)" in text
    assert "](_media/baseline.png)" in text


def _run_in_turn(paths, folders):
    """Execute the notebooks at ``paths`` one after another in one kernel, each in its
    own new folder of ``folders`` (:func:`conftest.run_in_one_kernel`).

    Returns ``[(name, executed notebook's text, {file written: digest})]``; the
    execution counts are each notebook's own, from 1, as in a kernel of its own.
    """
    import nbformat

    notebooks, runs = [], []
    for path, folder in zip(paths, folders, strict=True):
        folder.mkdir()
        notebook = nbformat.reads(path.read_text(), as_version=4)
        notebooks.append(notebook)
        # A new kernel's figure format: some chapters ask for "retina".
        runs.append((path.name, '%config InlineBackend.figure_formats = ["png"]\n'
                     f"import os\nos.chdir({str(folder)!r})\ndel os", notebook.cells))
    executed = run_in_one_kernel(runs, folders[0].parent)
    results = []
    for path, folder, notebook, cells in zip(paths, folders, notebooks, executed):
        notebook.cells = cells
        code = [cell for cell in cells if cell.cell_type == "code"]
        offset = code[0].execution_count - 1 if code else 0
        for cell in code:
            cell.execution_count -= offset
            for output in cell.outputs:
                if "execution_count" in output:
                    output["execution_count"] -= offset
        written = {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                   for p in folder.rglob("*") if p.is_file()}
        results.append((path.stem, nbformat.writes(notebook), written))
    return results


def _two_even_shares(paths, seconds):
    """``paths`` in two lists of about equal total ``seconds(path)``, longest first."""
    lists, totals = ([], []), [0.0, 0.0]
    for path in sorted(paths, key=seconds, reverse=True):
        lighter = totals.index(min(totals))
        lists[lighter].append(path)
        totals[lighter] += seconds(path)
    return lists


def _outputs(notebook_text):
    """The outputs of each code cell, but for a cell tagged ``site-only-output``: the
    explorer draws its page only inside the book's build (book/explorer.md)."""
    return [cell["outputs"] for cell in json.loads(notebook_text)["cells"]
            if cell["cell_type"] == "code"
            and "site-only-output" not in cell["metadata"].get("tags", [])]


@pytest.mark.book
def test_downloaded_notebooks_run_in_an_empty_folder_and_give_the_sites_outputs(site, tmp_path):
    # Each notebook as a reader downloads it, alone in a new folder, with the package
    # installed: nothing else of the repository is reachable. Run a second time, away
    # from the build, every chapter must print, show and write exactly what the site
    # has: its execution is reproducible. Two kernels, each running half the notebooks
    # in turn, variables cleared between them: the build has already run every chapter
    # in a kernel of its own, and what one notebook leaves in a kernel (an import, a
    # setting) can only make the next one's outputs differ from the site's, not hide a
    # failure.
    from concurrent.futures import ProcessPoolExecutor

    from shrinkage_book.notebook_downloads import reproducible_notebook
    from shrinkage_book.parallel_execution import execution_times

    notebooks = _downloaded_notebooks(site)
    times = execution_times(site.parent / ".jupyter_cache")
    shares = _two_even_shares(notebooks, lambda path: times.get(f"book/{path.stem}.md", 1.0))
    folders = [[tmp_path / path.stem for path in share] for share in shares]
    with ProcessPoolExecutor(2) as pool:
        runs = [run for share_runs in pool.map(_run_in_turn, shares, folders) for run in share_runs]
    assert len(runs) == len(notebooks) >= 12
    downloads = {path.stem: path for path in notebooks}
    written = {}
    for name, executed, files in runs:
        assert _outputs(reproducible_notebook(executed)) == _outputs(downloads[name].read_text()), name
        written[name] = files
        for path, digest in files.items():
            assert digest == hashlib.sha256((site / "_images" / Path(path).name).read_bytes()
                                            ).hexdigest(), (name, path)
    # The explorer's notebook writes no data files into the reader's folder.
    assert written["explorer"] == {}
    assert "_media/baseline.mp4" in written["baseline"]


@pytest.mark.parametrize("page", toc_pages())
def test_the_site_layer_holds_on_every_page(site, page):
    # What book/_templates and book/_ext/shrinkage_book/site_pages.py make of the theme's pages.
    html = read(site, page)
    head = html[:html.index("</head>")]
    # One toggle of each kind (the theme scripts bind the first): the visible ones (a
    # page without sections has no "On this page" toggle).
    assert html.count("primary-toggle") == 1 and html.count("secondary-toggle") <= 1
    assert head.count('name="viewport"') == 1
    for gone in ("searchtools.js", "searchindex.js", "fontawesome.js", "sphinx-thebe.css",
                 'aria-label="Toggle hidden content"', "doc-biblioentry", "<i class=\"fa"):
        assert gone not in html, gone
    assert 'role="complementary" aria-label="Book contents"' in html
    assert 'prefers-color-scheme: dark' in head and "svg-inline--fa{" in head
    # Every text output's width class has its rule.
    for width in set(re.findall(r'class="output [^"]*\bfit-(\d+)\b', html)):
        assert f".fit-{width} pre{{--chars:{width}}}" in head, width


def test_the_search_page_loads_its_search_scripts(site):
    html = (site / "search.html").read_text()
    assert "searchtools.js" in html and "searchindex.js" in html
