"""Ship only the icons the site uses.

The theme loads Font Awesome's complete icon script, 1.5 MB, on every page, for the
twenty or so icons of its header and navigation. After the build, this replaces that
script with one that holds just the icons found in the built pages (a few KB) and
turns each ``<i class="fa-...">`` (or ``<span>``) into the same inline SVG Font Awesome would draw.
Font Awesome Free's icons are CC BY 4.0 and its code MIT; the notice is kept.
"""

import json
import re
from pathlib import Path

_PACKS = {"fab": "fab", "fa-brands": "fab", "fas": "fas", "fa-solid": "fas",
          "far": "far", "fa-regular": "far"}
_MODIFIERS = {"fa-lg", "fa-xs", "fa-sm", "fa-fw", "fa-2x", "fa-3x", "fa-spin", "fa-pulse"}
_CLASS = re.compile(r'<(?:i|span) [^>]*class="([^"]*\bfa[a-z-]*\b[^"]*)"')
_ICON = r'(?:"{name}"|{name}):\[(\d+),(\d+),\[[^\]]*\],"[^"]*","([^"]+)"\]'
_ALIAS = r'[,{{](?:"[a-z0-9-]+"|[a-z0-9-]+):\[(\d+),(\d+),\[[^\]]*"{name}"[^\]]*\],"[^"]*","([^"]+)"\]'

_RUNTIME = """
(() => {
  const style = document.createElement("style");
  style.textContent = ".svg-inline--fa{display:inline-block;height:1em;overflow:visible;" +
    "vertical-align:-.125em}.fa-lg{font-size:1.25em;line-height:.05em;vertical-align:-.075em}";
  document.head.appendChild(style);
  const draw = () => {
    const icons = "i[class*='fa-'], i.fab, i.fas, i.far, span[class*='fa-']";
    for (const node of document.querySelectorAll(icons)) {
      const name = [...node.classList].find((c) => ICONS[c]);
      if (!name) continue;
      const [width, height, path] = ICONS[name];
      const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      for (const attribute of node.attributes) svg.setAttribute(attribute.name, attribute.value);
      svg.classList.add("svg-inline--fa");
      svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
      svg.setAttribute("aria-hidden", "true");
      svg.innerHTML = `<path fill="currentColor" d="${path}"></path>`;
      node.replaceWith(svg);
    }
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
"""


def _used_icons(outdir):
    used = set()
    for page in Path(outdir).rglob("*.html"):
        for classes in _CLASS.findall(page.read_text(encoding="utf-8")):
            names = classes.split()
            pack = next((_PACKS[n] for n in names if n in _PACKS), "fas")
            used |= {(pack, n[3:]) for n in names
                     if n.startswith("fa-") and n not in _PACKS and n not in _MODIFIERS}
    return used


def _pack_sources(script):
    """Split the full script into the text that defines each pack's icons."""
    sources, start = {}, 0
    for pack in ("fab", "far", "fas"):
        end = script.index(f'd("{pack}",p)', start)
        sources[pack] = script[start:end]
        start = end
    return sources


def subset(outdir):
    """Rewrite ``_static/scripts/fontawesome.js`` under ``outdir`` to the icons in use."""
    import pydata_sphinx_theme

    # Read the theme's own full script: the copy in outdir may be a subset already.
    original = (Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme"
                / "static" / "scripts" / "fontawesome.js")
    target = Path(outdir) / "_static" / "scripts" / "fontawesome.js"
    script = original.read_text(encoding="utf-8")
    sources = _pack_sources(script)
    icons = {}
    for pack, name in sorted(_used_icons(outdir)):
        escaped = re.escape(name)
        found = (re.search(_ICON.format(name=escaped), sources[pack])
                 or re.search(_ALIAS.format(name=escaped), sources[pack]))
        if found is None:
            raise ValueError(f"icon {name!r} of pack {pack!r} is not in Font Awesome")
        width, height, path = found.groups()
        icons[f"fa-{name}"] = [int(width), int(height), path]
    notice = ("/*! Font Awesome Free (https://fontawesome.com): icons CC BY 4.0, code MIT. "
              "Subset of the icons this site uses. */\n")
    target.write_text(notice + f"const ICONS = {json.dumps(icons)};" + _RUNTIME,
                      encoding="utf-8")


def _build_finished(app, exception):
    if exception is None and app.builder.format == "html":
        subset(app.outdir)


def setup(app):
    app.connect("build-finished", _build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
