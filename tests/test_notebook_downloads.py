"""book/_ext/shrinkage_book/notebook_downloads.py on small notebooks; the built downloads are checked,
and run in an empty folder, in test_book.py."""
import json

from shrinkage_book import notebook_downloads  # book/_ext, on the path from conftest

GLUED = {"crit": {"data": {"text/plain": "3012.189508087843"}},
         "word": {"data": {"text/markdown": "not singular", "text/plain": "<Markdown>"}},
         "n": {"data": {"text/plain": "7"}}}
TITLES = {"baseline": "The baseline"}
REFERENCES = {"clark2019shrinkage": (["Clark"], "2019", "Shrinkage in Mixed Effects Models"),
              "bates2015lme4": (["Bates", "Mächler", "Bolker", "Walker"], "2015", "lme4")}


def plain(text):
    return notebook_downloads.plain_markdown(text, GLUED, TITLES, REFERENCES)


def test_roles_become_what_the_page_shows():
    assert plain("REML {glue:text}`crit:.1f`, {glue:md}`word`, {glue:}`n` of them") == (
        "REML 3012.2, not singular, 7 of them")
    assert plain("see {ref}`baseline` and {ref}`the first chapter <baseline>`") == (
        "see The baseline and the first chapter")
    assert plain("{cite}`clark2019shrinkage,bates2015lme4`") == "(Clark 2019; Bates et al. 2015)"


def test_the_bibliography_reads_latex_as_text(tmp_path):
    bib = tmp_path / "refs.bib"
    bib.write_text('@article{bates2015lme4,\n  author = {Bates, Douglas and M{\\"a}chler, Martin},\n'
                   '  title = {Fitting Linear Mixed-Effects Models Using {lme4}},\n  year = {2015}\n}\n')
    assert notebook_downloads.bibliography([bib]) == {
        "bates2015lme4": (["Bates", "Mächler"], "2015",
                          "Fitting Linear Mixed-Effects Models Using lme4")}


def test_a_label_outside_the_build_reads_as_its_name():
    # A book built from part of the chapters: Sphinx warns of the missing label, and the
    # download still converts.
    assert plain("see {ref}`validation`") == "see validation"


def test_labels_go_and_figures_become_images_with_captions():
    text = ("(baseline)=\n# The baseline\n\n```{animation} _media/baseline\n:alt: Points move.\n\n"
            "Baseline: points\nmove.\n```\n\n```{figure} _media/x.png\n:name: fig-x\n:alt: A figure.\n"
            ":width: 600px\n\nThe caption.\n```\n\n```{bibliography}\n```\n")
    assert plain(text) == (
        "# The baseline\n\n![Points move.](_media/baseline.png)\n\n*Baseline: points move.*\n\n"
        "![A figure.](_media/x.png)\n\n*The caption.*\n\n"
        "- Clark (2019). *Shrinkage in Mixed Effects Models*.\n"
        "- Bates, Mächler, Bolker, Walker (2015). *lme4*.\n")


def test_printed_text_is_one_output_per_stream_whatever_the_kernel_sent():
    # The kernel sends a cell's printing in pieces whose number depends on timing.
    def notebook(pieces):
        outputs = [{"output_type": "stream", "name": "stdout", "text": piece} for piece in pieces]
        return json.dumps({"cells": [{"cell_type": "code", "id": "x", "source": "print()", "metadata": {},
                                      "execution_count": 1, "outputs": outputs}],
                           "metadata": {}, "nbformat": 4, "nbformat_minor": 5})

    once = notebook_downloads.reproducible_notebook(notebook(["a\nb\n"]))
    split = notebook_downloads.reproducible_notebook(notebook(["a\n", "b\n"]))
    assert once == split
    assert json.loads(once)["cells"][0]["outputs"][0]["text"] == "a\nb\n"
    assert json.loads(once)["cells"][0]["id"] == "cell-0"


def test_hidden_glued_values_leave_the_notebook_and_shown_ones_stay():
    # As myst_nb.glue writes them: display=False puts the value under its own mime
    # prefix for the page to paste; display=True shows it as any output.
    def glued(name, shown):
        prefix = "" if shown else "application/papermill.record/"
        return {"output_type": "display_data", "data": {prefix + "text/plain": "3012.19"},
                "metadata": {"scrapbook": {"name": name, "mime_prefix": prefix}}}

    text = json.dumps({"cells": [{"cell_type": "code", "id": "x", "source": "glue()",
                                  "metadata": {}, "execution_count": 1,
                                  "outputs": [glued("hidden", False), glued("shown", True)]}],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    outputs = json.loads(notebook_downloads.reproducible_notebook(text))["cells"][0]["outputs"]
    assert [output["metadata"]["scrapbook"]["name"] for output in outputs] == ["shown"]


def test_a_container_becomes_its_contents():
    text = "Before.\n\n```{container} chapter-summary\n**Shows.**\n\n- one\n- two\n```\n\nAfter."
    assert plain(text) == "Before.\n\n**Shows.**\n\n- one\n- two\n\nAfter."
