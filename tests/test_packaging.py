"""The package as Python users get it: installable alone, versioned, licensed, citable,
and layered without an import circle."""
import ast
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tomllib

import pytest
import yaml

import shrinkage

from conftest import ROOT

PACKAGE = ROOT / "shrinkage"


def module_imports(path):
    """The package's modules that the module at ``path`` imports, anywhere in its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update([node.module] if node.module else [a.name for a in node.names])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("shrinkage."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("shrinkage."))
    return {name.split(".")[0] for name in found} - {"__init__"}


def import_graph():
    """{module: the package's modules it imports}; the package's ``__init__`` left out."""
    return {path.stem: module_imports(path) for path in PACKAGE.glob("*.py")
            if path.stem not in ("__init__", "__main__")}


def reachable(graph, start):
    seen, todo = set(), list(graph[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph.get(name, ()))
    return seen


def test_the_graph_reads_imports_at_every_depth(tmp_path):
    # The reader must see an import inside a function: that is how a circle hides.
    module = tmp_path / "m.py"
    module.write_text("from .a import b\nimport shrinkage.c\ndef f():\n    from .d import e\n"
                      "    from shrinkage.g import h\n")
    assert module_imports(module) == {"a", "c", "d", "g"}


def test_no_module_imports_itself_back():
    graph = import_graph()
    circles = sorted(name for name in graph if name in reachable(graph, name))
    assert not circles, f"these modules import themselves back through others: {circles}"


def test_the_fit_layer_imports_only_the_layers_below_it():
    # README's layout table: data -> engine -> on a fit's parts -> fit -> on fits -> pictures.
    below_fit = reachable(import_graph(), "fit")
    assert below_fit == {"columns", "formula", "data", "rng", "reml", "pooling", "report",
                         "intervals", "predict"}


def test_the_version_is_set_once_and_read_from_the_metadata():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert shrinkage.__version__ == importlib.metadata.version("shrinkage")
    assert shrinkage.__version__ == pyproject["project"]["version"]
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["version"] == pyproject["project"]["version"]


def test_the_licence_is_declared_alike_everywhere():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert pyproject["license"] == citation["license"] == "CC-BY-SA-4.0"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("Attribution-ShareAlike 4.0 International")
    assert "Section 3 -- License Conditions." in text and "ShareAlike." in text
    assert "CC BY-SA 4.0" in (ROOT / "README.md").read_text()


def test_the_citation_names_the_book_its_address_and_the_adapted_article():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["title"].startswith("Shrinkage")
    assert citation["repository-code"] == config["repository"]["url"]
    (article,) = citation["references"]
    assert article["authors"][0]["family-names"] == "Clark" and article["year"] == 2019
    assert article["title"] == "Shrinkage in Mixed Effects Models"


def tracked_files():
    """The repository's files as a clone would hold them, with uncommitted edits."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout
    return [name for name in listed.decode().split("\0") if name and (ROOT / name).is_file()]


@pytest.mark.install
def test_a_plain_install_runs_every_command(tmp_path):
    # pip install of a clone into an empty virtual environment, no requirements file.
    clone = tmp_path / "clone"
    subprocess.run(["git", "init", "-q", str(clone)], check=True)
    for name in tracked_files():
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, clone / name)
    git = ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "clone"], check=True)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    str(clone)], check=True, env=environment, cwd=tmp_path)
    assert subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True,
                          check=True).stdout == "", "pip install left files git does not ignore"

    work = tmp_path / "work"
    work.mkdir()
    shrinkage_command = [str(venv / "bin" / "shrinkage")]

    def run(*args):
        done = subprocess.run([*shrinkage_command, *args], cwd=work, env=environment,
                              capture_output=True, text=True)
        assert done.returncode == 0, f"shrinkage {' '.join(args)} failed:\n{done.stderr}"
        return done.stdout

    assert run("--version").strip() == f"shrinkage {shrinkage.__version__}"
    run("data", "--obs-per-cluster", "3", "--out", "data.csv")
    assert (work / "data.csv").read_text().startswith("y,x,cluster")
    assert "REML criterion at convergence" in run("fit", "--data", "data.csv")
    run("animate", "--n-cluster", "10", "--out", "few.mp4", "--static", "few.png")
    assert (work / "few.mp4").stat().st_size > 1000 and (work / "few.png").stat().st_size > 1000
    assert "replicates" in run("study", "--replicates", "2", "--jobs", "1")
