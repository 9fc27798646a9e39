"""Draw the theme's icons into the pages as inline SVG: no icon font, no icon script.

The theme marks its twenty or so header and navigation icons as ``<i class="fa-...">``
and loads Font Awesome's complete icon script (1.5 MB) to draw them, and the browser
fetches the icon fonts (275 KB) as soon as such an element is styled. After the build,
this turns each of those elements into the SVG Font Awesome would draw, taking the
paths from the theme's own copy of the script (which the pages no longer load:
``book/_templates/layout.html``).
Icons the theme draws from CSS (links to GitHub) get the same paths as CSS masks.
Font Awesome Free's icons are CC BY 4.0 and its code MIT.
"""

import re
from functools import cache

from . import compat

_PACKS = {"fab": "fab", "fa-brands": "fab", "fas": "fas", "fa-solid": "fas",
          "far": "far", "fa-regular": "far"}
_MODIFIERS = {"fa-lg", "fa-xs", "fa-sm", "fa-fw", "fa-2x", "fa-3x", "fa-spin", "fa-pulse"}
# An empty <i> or <span> whose classes name a Font Awesome icon.
_ELEMENT = re.compile(r'<(i|span) ([^>]*?)class="([^"]*\bfa-[^"]*)"([^>]*)>\s*</\1>')
_ICON = r'(?:"{name}"|{name}):\[(\d+),(\d+),\[[^\]]*\],"[^"]*","([^"]+)"\]'
_ALIAS = r'[,{{](?:"[a-z0-9-]+"|[a-z0-9-]+):\[(\d+),(\d+),\[[^\]]*"{name}"[^\]]*\],"[^"]*","([^"]+)"\]'
# Icons the theme's CSS draws in ::before with the icon font, as (selector, pack, icon).
CSS_ICONS = [("a.github::before", "fab", "github"), ("a.gitlab::before", "fab", "gitlab")]
NOTICE = "Font Awesome Free (https://fontawesome.com): icons CC BY 4.0, code MIT."


@cache
def _pack_sources():
    """The text defining each pack's icons in the theme's full Font Awesome script."""
    script = compat.theme_icon_script().read_text(encoding="utf-8")
    sources, start = {}, 0
    for pack in ("fab", "far", "fas"):
        end = script.index(f'd("{pack}",p)', start)
        sources[pack] = script[start:end]
        start = end
    return sources


@cache
def icon(pack, name):
    """``(width, height, path)`` of Font Awesome icon ``name`` in ``pack`` (fab, far, fas)."""
    escaped = re.escape(name)
    source = _pack_sources()[pack]
    found = re.search(_ICON.format(name=escaped), source) or re.search(
        _ALIAS.format(name=escaped), source)
    if found is None:
        raise ValueError(f"icon {name!r} of pack {pack!r} is not in Font Awesome")
    width, height, path = found.groups()
    return int(width), int(height), path


def _svg(match):
    _, before, classes, after = match.groups()
    names = classes.split()
    pack = next((_PACKS[n] for n in names if n in _PACKS), "fas")
    icons = [n for n in names if n.startswith("fa-") and n not in _PACKS and n not in _MODIFIERS]
    if len(icons) != 1:
        return match.group(0)
    width, height, path = icon(pack, icons[0][3:])
    return (f'<svg {before}class="{classes} svg-inline--fa"{after} viewBox="0 0 {width} {height}"'
            f' aria-hidden="true" focusable="false"><path fill="currentColor" d="{path}"/></svg>')


def inline_icons(page_html):
    """``page_html`` with icon elements drawn as SVG."""
    return _ELEMENT.sub(_svg, page_html)


def icon_css():
    """CSS sizing the inline icons and drawing the theme's CSS icons as masks."""
    rules = [f"/* {NOTICE} */",
             ".svg-inline--fa{display:inline-block;height:1em;overflow:visible;"
             "vertical-align:-.125em;font-family:inherit}",
             ".svg-inline--fa.fa-lg{font-size:1.25em;line-height:.05em;vertical-align:-.2em}"]
    for selector, pack, name in CSS_ICONS:
        width, height, path = icon(pack, name)
        mask = (f"url(\"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' "
                f"viewBox='0 0 {width} {height}'%3E%3Cpath d='{path}'/%3E%3C/svg%3E\")")
        rules.append(f"{selector}{{content:\"\";font:inherit;display:inline-block;width:1em;"
                     f"height:1em;vertical-align:-.125em;background-color:currentColor;"
                     f"-webkit-mask:{mask} center/contain no-repeat;mask:{mask} center/contain "
                     "no-repeat}")
    return "\n".join(rules) + "\n"
