"""shrinkage.pages: the values a chapter's prose quotes, glued as myst-nb reads them."""
import numpy as np
import pytest
from IPython.display import Markdown

from shrinkage.pages import glue_values


def test_numbers_are_glued_as_python_numbers_and_text_as_markdown(monkeypatch):
    import myst_nb

    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True:
                        glued.__setitem__(name, (value, display)))
    glue_values(share=np.float64(0.25), count=np.int64(3), word="singular", plain=1.5)
    assert glued["share"] == (0.25, False) and type(glued["share"][0]) is float
    assert glued["count"] == (3, False) and type(glued["count"][0]) is int
    assert isinstance(glued["word"][0], Markdown) and glued["word"][0].data == "singular"
    assert glued["plain"] == (1.5, False)
    # numpy's own repr would reach the page as text: the conversion is what makes
    # {glue:text}`share:.0%` readable.
    assert repr(np.float64(0.25)) != repr(0.25)


def test_glued_values_reach_a_notebook_as_myst_nb_reads_them():
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import numpy as np\nfrom shrinkage.pages import glue_values\n"
        "glue_values(share=np.float64(0.25), word='*not* singular')")])
    NotebookClient(notebook, timeout=60, kernel_name="python3").execute()
    # myst-nb keeps each glued value's MIME bundle under its own prefix.
    outputs = {o["metadata"]["scrapbook"]["name"]: {key.split("/", 2)[-1]: value
                                                    for key, value in o["data"].items()}
               for o in notebook.cells[0].outputs}
    assert outputs["share"]["text/plain"] == "0.25"
    assert outputs["word"]["text/markdown"] == "*not* singular"
