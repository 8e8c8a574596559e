"""Build-time helpers for the rnn docs (not part of the site; docs/hooks.py puts this folder
on ``sys.path`` while pages run).

- ``figure(fig, alt=...)``: a matplotlib figure as an ``<img>`` of its SVG with a text
  alternative, for a ``python exec="on" html="1"`` block to print.
- A matplotlib backend (``matplotlib.use("module://rnn_docs")``): Agg, whose ``show()`` does
  nothing, so a page's visible ``plt.show()`` runs at build time without a warning.
- ``code_blocks(html)``: the code a reader's copy button copies from each code block of a
  page, in page order, with the kind of block (``python``, ``pycon``, ``output``...). The hook
  uses it to write each page's downloadable script; tests/test_copypaste.py to run the blocks.
"""

from __future__ import annotations

import base64
import html as html_lib
import io
import re
from dataclasses import dataclass
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg as FigureCanvas

__all__ = ["CodeBlock", "FigureCanvas", "code_blocks", "copy_text", "figure", "show"]


def show(*args: Any, **kwargs: Any) -> None:
    """``plt.show()`` at build time: pages show figures with ``figure()``."""


def figure(fig: Any, alt: str, *, caption: str | None = None) -> str:
    """``fig`` as ``<figure class="rnn-figure"><img alt=...></figure>``; closes ``fig``.

    The SVG is embedded as a data URI, so the picture, its text alternative and its white
    card (see docs/stylesheets/site.css) travel together and read the same in dark mode.
    """
    import matplotlib.pyplot as plt

    if not isinstance(alt, str) or not alt.strip():
        raise ValueError("figure() needs alt: one sentence saying what the figure shows")
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buffer.getvalue()
    size = re.search(r'<svg[^>]*\swidth="([\d.]+)pt"[^>]*\sheight="([\d.]+)pt"', svg)
    assert size, "matplotlib's SVG states its size in pt"
    # The tight bounding box in CSS pixels (1pt = 4/3 px): the page keeps its layout while
    # the picture loads, and CSS scales it down to narrow screens.
    width, height = (round(float(v) * 4 / 3) for v in size.groups())
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    img = (
        f'<img src="data:image/svg+xml;base64,{data}" alt="{html_lib.escape(alt.strip())}"'
        f' width="{width}" height="{height}">'
    )
    figcaption = f"<figcaption>{html_lib.escape(caption)}</figcaption>" if caption else ""
    return f'<figure class="rnn-figure">{img}{figcaption}</figure>'


# ---------------------------------------------------------------------------------------
# Code blocks in built HTML (pymdownx.highlight with pygments_lang_class: true)

CODE_BLOCK = re.compile(
    r'<div class="language-(?P<lang>[\w+-]+) highlight"(?P<attrs>[^>]*)>'
    r"<pre>(?:<span></span>)?<code>(?P<code>.*?)</code></pre></div>",
    re.DOTALL,
)
_TAG = re.compile(r"<[^>]+>")
_DATA_COPY = re.compile(r'\sdata-copy="(?P<text>[^"]*)"')
PROMPTS = (">>> ", "... ")


@dataclass(frozen=True)
class CodeBlock:
    language: str
    text: str  # what the copy button copies
    start: int  # offset in the page's HTML
    end: int


def _text(code_html: str) -> str:
    return html_lib.unescape(_TAG.sub("", code_html))


def copy_text(language: str, shown: str) -> str:
    """What a copy button should copy from a block showing ``shown``: for ``pycon``, the
    code after the ``>>>``/``...`` prompts and no output lines; otherwise all of it."""
    if language != "pycon":
        return shown.rstrip()
    lines = []
    for line in shown.splitlines():
        if line.startswith(PROMPTS):
            lines.append(line[4:])
        elif line in {">>>", "..."}:
            lines.append("")
    return "\n".join(lines).rstrip()


def code_blocks(page_html: str) -> list[CodeBlock]:
    """Every highlighted code block of ``page_html`` with the text its copy button copies."""
    blocks = []
    for match in CODE_BLOCK.finditer(page_html):
        attr = _DATA_COPY.search(match["attrs"])
        shown = _text(match["code"])
        text = html_lib.unescape(attr["text"]) if attr else copy_text(match["lang"], shown)
        blocks.append(CodeBlock(match["lang"], text, match.start(), match.end()))
    return blocks
