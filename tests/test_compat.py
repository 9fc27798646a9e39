"""book/_ext/shrinkage_book/compat.py: the one module that uses other packages' non-public
API says which versions it was checked against, and fails loudly when they change."""
import ast
from pathlib import Path

from conftest import ROOT
from shrinkage_book import compat  # book/_ext, on the path from conftest

EXTENSION = ROOT / "book" / "_ext" / "shrinkage_book"
# Modules whose names mark them as internal to the package that has them.
PRIVATE = ("myst_nb.core", "myst_nb.sphinx_", "jupyter_cache.cache", "jupyter_cache.executors",
           "jupyter_cache.base", "sphinx.builders.html._assets", "pydata_sphinx_theme")


def test_the_installed_versions_are_the_ones_compat_was_checked_against():
    assert not compat.mismatches(), "\n".join(compat.mismatches())


def test_a_changed_version_is_named_with_the_uses_to_check(monkeypatch):
    monkeypatch.setattr(compat, "version", lambda package: "99.0")
    lines = compat.mismatches()
    assert len(lines) == len(compat.CHECKED)
    assert lines[0].startswith("myst-nb 99.0 is installed") and "create_nb_reader" in lines[0]


def imported(module):
    """``(module, name)`` of each import in a source file, at any depth."""
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            yield from ((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            yield from ((alias.name, "") for alias in node.names)


def test_only_compat_reaches_into_other_packages_internals():
    for module in EXTENSION.glob("*.py"):
        if module.name == "compat.py":
            continue
        for source, name in imported(module):
            assert not source.startswith(PRIVATE), f"{module.name} imports {source}: use compat"
            assert not name.startswith("_"), f"{module.name} imports {source}.{name}: use compat"
        assert "store._" not in module.read_text(), f"{module.name} calls a private method"


def test_each_copied_template_names_the_theme_version_it_was_copied_from():
    theme_version = compat.CHECKED["pydata-sphinx-theme"][0]
    for name in compat.TEMPLATE_COPIES:
        first = (ROOT / "book" / "_templates" / name).read_text().splitlines()[0]
        assert f"pydata-sphinx-theme {theme_version}'s" in first, name
    # Every template that does not extend the theme's is a copy, and is listed.
    templates = ROOT / "book" / "_templates"
    copies = {path.relative_to(templates).as_posix() for path in templates.rglob("*.html")
              if "{% extends" not in path.read_text()}
    assert copies == set(compat.TEMPLATE_COPIES)


def test_the_theme_icon_script_is_where_compat_looks():
    assert Path(compat.theme_icon_script()).is_file()


def test_the_book_loads_one_extension_with_one_setup():
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["sphinx"]["local_extensions"] == {"shrinkage_book": "book/_ext"}
    setups = [path.name for path in EXTENSION.glob("*.py") if "\ndef setup(" in path.read_text()]
    assert setups == ["__init__.py"]
    assert [path.name for path in (ROOT / "book" / "_ext").iterdir()
            if path.name != "__pycache__"] == ["shrinkage_book"]
