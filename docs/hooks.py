"""MkDocs hooks for the rnn docs.

1. Pin global state before each page, because markdown-exec runs every page's code in the
   mkdocs process and numpy print options, matplotlib settings and warning filters would
   otherwise leak from one page to the next (in file order, not nav order).
2. Turn LaTeX into MathML at build time. ``pymdownx.arithmatex`` (generic mode) finds
   ``$...$`` and ``$$...$$`` outside code, in pages and in mkdocstrings docstrings alike, and
   leaves ``<span class="arithmatex">\\(...\\)</span>`` / ``<div class="arithmatex">\\[...\\]
   </div>``; ``on_page_content`` replaces those with ``latex2mathml`` output. Browsers draw
   MathML natively: no JavaScript, no CSS, no CDN.
3. Make builds reproducible: ``SOURCE_DATE_EPOCH`` defaults to the last commit time (0 if
   there is none), which fixes the sitemap dates and matplotlib's SVG date metadata.

``tests/test_docs.py`` imports ``pin_global_state`` so pages run there exactly as here.
"""

from __future__ import annotations

import functools
import html as html_lib
import logging
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

# A logger under "mkdocs." so that `mkdocs build --strict` counts its warnings.
log = logging.getLogger("mkdocs.hooks.rnn_docs")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = str(ROOT / "docs" / "examples")

NUMPY_PRINT_DEFAULTS: dict[str, Any] = {
    "edgeitems": 3,
    "threshold": 1000,
    "floatmode": "maxprec",
    "precision": 8,
    "suppress": False,
    "linewidth": 75,
    "nanstr": "nan",
    "infstr": "inf",
    "sign": "-",
    "formatter": None,
    "legacy": False,
}
NUMPY_PRINT_PINNED: dict[str, Any] = {"precision": 4, "suppress": True, "linewidth": 88}
SVG_HASHSALT = "rnn-docs"

# markdown-exec runs a block as a module named after the block, e.g. "_code_block_n1_" or
# "_code_block_session_gru_n2_" (see markdown_exec/_internal/formatters/python.py).
EXEC_MODULE_PATTERN = r"_code_block_"


def pin_global_state() -> None:
    """Reset numpy, matplotlib and warnings state, then apply the docs' settings.

    Also puts ``docs/examples`` on ``sys.path``, so pages can import its shared helpers
    (``figures``); mkdocs restores ``sys.path`` after loading this module, hence here.
    """
    if EXAMPLES not in sys.path:
        sys.path.insert(0, EXAMPLES)
    import numpy as np

    np.set_printoptions(**NUMPY_PRINT_DEFAULTS)
    np.set_printoptions(**NUMPY_PRINT_PINNED)

    try:
        import matplotlib
    except ImportError:
        pass
    else:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")
        matplotlib.rcdefaults()
        matplotlib.use("Agg")
        matplotlib.rcParams["svg.hashsalt"] = SVG_HASHSALT

    # A warning raised by executed docs code (or by rnn on its behalf) is an error: the
    # block fails and the strict build with it. Re-added per page in case a block changed
    # the filters; filterwarnings() drops an identical filter before inserting it first.
    warnings.filterwarnings("error", module=EXEC_MODULE_PATTERN)
    warnings.filterwarnings("error", module=r"rnn(\.|$)")


def _last_commit_time() -> str | None:
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%ct"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return out or None


def on_config(config: Any, **kwargs: Any) -> Any:
    if "SOURCE_DATE_EPOCH" not in os.environ:
        os.environ["SOURCE_DATE_EPOCH"] = _last_commit_time() or "0"
    os.environ.setdefault("MPLBACKEND", "Agg")
    return config


def on_pre_page(page: Any, **kwargs: Any) -> Any:
    pin_global_state()
    return page


# ---------------------------------------------------------------------------------------
# Math

_INLINE_MATH = re.compile(r'<span class="arithmatex">\\\((.*?)\\\)</span>', re.DOTALL)
_BLOCK_MATH = re.compile(r'<div class="arithmatex">\\\[(.*?)\\\]</div>', re.DOTALL)
# What latex2mathml leaves behind when it does not know a command or an environment:
# `<mi>\foo</mi>`, or a bare `&` from an alignment it did not lay out.
_UNCONVERTED = re.compile(r">[^<]*(\\[A-Za-z]+|&(?![#A-Za-z0-9]+;))[^<]*<")


_ALIGNED = re.compile(r"\\(begin|end)\{aligned\}")


class MathError(ValueError):
    pass


@functools.cache
def latex_to_mathml(latex: str, display: str = "inline") -> str:
    """Convert LaTeX to a ``<math>`` element; raise MathError if it is not fully converted."""
    from latex2mathml.converter import convert

    # latex2mathml lays out `align*` as a table but not `aligned` (it leaves the `&`s in);
    # inside $$...$$ the two mean the same.
    latex = _ALIGNED.sub(r"\\\1{align*}", latex)
    try:
        mathml = convert(latex, display=display)
    except Exception as error:  # latex2mathml raises many exception types
        raise MathError(f"{type(error).__name__}: {error}") from error
    bad = _UNCONVERTED.search(mathml)
    if bad:
        raise MathError(f"latex2mathml left {bad.group(1)!r} unconverted")
    return mathml


def _replace_math(content: str, page_name: str) -> str:
    def convert(match: re.Match[str], display: str) -> str:
        latex = html_lib.unescape(match.group(1)).strip()
        try:
            mathml = latex_to_mathml(latex, display)
        except MathError as error:
            log.warning(f"{page_name}: cannot render math {latex!r}: {error}")
            return f"<code>{html_lib.escape(latex)}</code>"
        if display == "block":
            return f'<div class="arithmatex">{mathml}</div>'
        return f'<span class="arithmatex">{mathml}</span>'

    content = _BLOCK_MATH.sub(lambda m: convert(m, "block"), content)
    return _INLINE_MATH.sub(lambda m: convert(m, "inline"), content)


def on_page_content(html: str, page: Any, **kwargs: Any) -> str:
    return _replace_math(html, page.file.src_uri)
