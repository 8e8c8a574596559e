"""MkDocs hooks for the rnn docs.

1. Run each page's code as a reader would. Before each page, global state is reset to the
   libraries' own defaults (numpy print options, matplotlib rcParams), because markdown-exec
   runs every page's code in the mkdocs process, in file order. Nothing is set that changes
   what a block prints: what a page shows is what its code prints in a plain interpreter.
   Build-only settings that change nothing a reader sees: warnings from executed code are
   errors (the strict build fails), matplotlib draws with Agg and ``plt.show()`` does
   nothing (figures are shown by ``rnn_docs.figure``).
   Every ``python exec="on"`` block runs in a fresh per-page working directory that holds
   exactly the files the page links to (its downloads), and that directory is on
   ``sys.path``, as the current directory is in a reader's interpreter.
2. Executed output is rendered as an ``output`` block (``result="text"`` becomes
   ``result="output"``), which docs/stylesheets/site.css labels "Output".
3. Copy buttons copy code only: ``>>>`` examples (``pycon``) get a ``data-copy`` attribute
   holding their code without prompts and output, which Material's copy button copies.
4. Each page with Python code offers it as one downloadable script, ``<page>.py``.
5. Files outside ``docs/`` that pages link to (``PUBLISHED``) and the math font are added
   to the site.
6. LaTeX becomes MathML at build time. ``pymdownx.arithmatex`` (generic mode) finds
   ``$...$`` and ``$$...$$`` outside code, in pages and in mkdocstrings docstrings alike, and
   leaves ``<span class="arithmatex">\\(...\\)</span>`` / ``<div class="arithmatex">\\[...\\]
   </div>``; ``on_page_content`` replaces those with ``latex2mathml`` output. Browsers draw
   MathML natively (no JavaScript, no CDN), with the self-hosted STIX Two Math font.
7. Builds are reproducible: ``SOURCE_DATE_EPOCH`` defaults to the last commit time (0 if
   there is none), which fixes the sitemap dates and matplotlib's SVG date metadata.
"""

from __future__ import annotations

import functools
import html as html_lib
import logging
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

# A logger under "mkdocs." so that `mkdocs build --strict` counts its warnings.
log = logging.getLogger("mkdocs.hooks.rnn_docs")

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SUPPORT = str(DOCS / "_support")

# numpy's own defaults (numpy.core.arrayprint), restored before every page.
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
SVG_HASHSALT = "rnn-docs"
MATPLOTLIB_BACKEND = "module://rnn_docs"

# Files outside docs/ that pages may link to: repository path -> path in the site.
PUBLISHED = {
    "benchmarks/results.json": "data/results.json",
    "benchmarks/results-intel.json": "data/results-intel.json",
}
# The OpenType math font (STIX Two Math, SIL OFL), fetched by `make fonts` from npm.
MATH_FONT = ROOT / ".cache" / "fonts" / "stix-two-math.woff2"
MATH_FONT_URI = "assets/fonts/stix-two-math.woff2"

# markdown-exec runs a block as a module named after the block, e.g. "_code_block_n1_" or
# "_code_block_session_gru_n2_" (see markdown_exec/_internal/formatters/python.py).
EXEC_MODULE_PATTERN = r"_code_block_"


def pin_global_state() -> None:
    """Reset numpy, matplotlib and warnings state to defaults, plus the build-only settings.

    Also puts ``docs/_support`` on ``sys.path`` (for ``rnn_docs``); mkdocs restores
    ``sys.path`` after loading this module, hence here.
    """
    if SUPPORT not in sys.path:
        sys.path.append(SUPPORT)
    import numpy as np

    np.set_printoptions(**NUMPY_PRINT_DEFAULTS)

    try:
        import matplotlib
    except ImportError:
        pass
    else:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")
        matplotlib.rcdefaults()
        matplotlib.use(MATPLOTLIB_BACKEND)
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


def project_metadata() -> dict[str, Any]:
    """``[project]`` of pyproject.toml: the distribution name, version, licence."""
    import tomllib

    with open(ROOT / "pyproject.toml", "rb") as file:
        project: dict[str, Any] = tomllib.load(file)["project"]
    return project


def on_config(config: Any, **kwargs: Any) -> Any:
    if "SOURCE_DATE_EPOCH" not in os.environ:
        os.environ["SOURCE_DATE_EPOCH"] = _last_commit_time() or "0"
    os.environ.setdefault("MPLBACKEND", "Agg")
    project = project_metadata()
    config["copyright"] = (
        f"{project['name']} {project['version']} · {project['license']['text']} licence"
    )
    return config


def on_files(files: Any, config: Any, **kwargs: Any) -> Any:
    from mkdocs.structure.files import File

    for source, uri in PUBLISHED.items():
        files.append(File.generated(config, uri, abs_src_path=str(ROOT / source)))
    if MATH_FONT.is_file():
        files.append(File.generated(config, MATH_FONT_URI, abs_src_path=str(MATH_FONT)))
        licence = MATH_FONT.with_name("LICENSE")  # the OFL travels with the font
        uri = posixpath.join(posixpath.dirname(MATH_FONT_URI), "LICENSE-stix-two-math.txt")
        files.append(File.generated(config, uri, abs_src_path=str(licence)))
    else:
        log.info(f"{MATH_FONT} missing (make fonts): equations use the browser's math font")
    return files


# ---------------------------------------------------------------------------------------
# Running a page's code

_EXEC_FENCE = re.compile(
    r"""^(?P<head>[ \t]*(?:`{3,}|~{3,})[ \t]*\{?[ \t]*\.?(?:python|py)\b)(?P<opts>.*\bexec=["']?"""
    r"""(?:on|1|true|yes)\b.*)$""",
    re.MULTILINE | re.IGNORECASE,
)
_RESULT_TEXT = re.compile(r"""\bresult=(["']?)text\1""")
_RESULT_PYTHON = re.compile(r"""\bresult=(["']?)(python|py|pycon)\1""")
_LINK = re.compile(r"\]\((?P<target><[^>]+>|[^)\s]+)(?:\s+[\"'][^)]*[\"'])?\)")


def page_downloads(markdown: str, src_uri: str, files: Any) -> dict[str, Path]:
    """The files a page links to (not pages): their names -> where they are on disk."""
    downloads: dict[str, Path] = {}
    for match in _LINK.finditer(markdown):
        target = unquote(urlsplit(match["target"].strip("<>")).path)
        if not target or "://" in match["target"] or target.endswith((".md", "/")):
            continue
        uri = posixpath.normpath(posixpath.join(posixpath.dirname(src_uri), target))
        file = files.get_file_from_path(uri)
        if file is None or file.is_documentation_page() or not file.abs_src_path:
            continue
        downloads[posixpath.basename(uri)] = Path(file.abs_src_path)
    return downloads


class _PageRun:
    """The working directory of the page being built (one page at a time)."""

    workdir: ClassVar[Path | None] = None
    started: ClassVar[float] = 0.0
    scripts: ClassVar[dict[str, str]] = {}  # site path of a page's script -> its code


def _start_page_run(markdown: str, page: Any, files: Any) -> str:
    _end_page_run()
    workdir = Path(tempfile.mkdtemp(prefix="rnn-docs-page-"))
    for name, source in page_downloads(markdown, page.file.src_uri, files).items():
        shutil.copyfile(source, workdir / name)
    _PageRun.workdir = workdir
    sys.path.insert(0, str(workdir))

    def rewrite(match: re.Match[str]) -> str:
        if _RESULT_PYTHON.search(match["opts"]):
            log.warning(
                f'{page.file.src_uri}: result="python" shows output as copyable Python code;'
                ' use result="text"'
            )
        opts = _RESULT_TEXT.sub('result="output"', match["opts"])
        if "workdir=" not in opts:
            opts += f' workdir="{workdir}"'
        return match["head"] + opts

    return _EXEC_FENCE.sub(rewrite, markdown)


def _end_page_run() -> None:
    workdir = _PageRun.workdir
    if workdir is None:
        return
    _PageRun.workdir = None
    if str(workdir) in sys.path:
        sys.path.remove(str(workdir))
    for name, module in list(sys.modules.items()):  # modules a page imported from its files
        if str(getattr(module, "__file__", None) or "").startswith(str(workdir)):
            del sys.modules[name]
    shutil.rmtree(workdir, ignore_errors=True)


def on_pre_page(page: Any, **kwargs: Any) -> Any:
    pin_global_state()
    _PageRun.started = time.perf_counter()
    return page


# What the extras of pyproject.toml are for, for the table on the Install page.
EXTRA_USES = {
    "torch": "comparing with PyTorch, converting its models",
    "onnx": "exporting to ONNX and checking with ONNX Runtime",
    "keras": "converting Keras models",
    "dask": "dask arrays and distributed runs",
    "progress": "a progress bar while training",
    "threads": "setting numpy's BLAS threads with rnn.set_num_threads",
    "plot": "the figures on this site",
    "all": "every extra above at once",
}
DEVELOPMENT_EXTRAS = {"test", "docs", "bench"}  # for working on rnn, not for using it
_PLACEHOLDER = re.compile(r"\{\{ (\w+) \}\}")


def project_values(config: Any) -> dict[str, str]:
    """What pages may write as ``{{ name }}``: facts from pyproject.toml and mkdocs.yml."""
    project = project_metadata()
    name, version = project["name"], project["version"]
    wheel = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    repo = config.get("repo_url")
    if repo:
        folder = repo.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
        clone = f"```bash\ngit clone {repo}\ncd {folder}\npython -m pip install .\n```"
    else:
        clone = "In the folder of the clone:\n\n```bash\npython -m pip install .\n```"
    rows = []
    for extra, requirements in project.get("optional-dependencies", {}).items():
        if extra in DEVELOPMENT_EXTRAS:
            continue
        if extra not in EXTRA_USES:
            log.warning(f"pyproject.toml: say what extra {extra!r} is for in EXTRA_USES")
        packages = ", ".join(f"`{r}`" for r in requirements)
        rows.append(f"| `{extra}` | {packages} | {EXTRA_USES.get(extra, '')} |")
    return {
        "dist_name": name,
        "version": version,
        "wheel_name": wheel,
        "clone_commands": clone,
        "extras_table": "\n".join(rows),
    }


def _fill_placeholders(markdown: str, page: Any, config: Any) -> str:
    values = project_values(config)

    def fill(match: re.Match[str]) -> str:
        if match[1] not in values:
            log.warning(f"{page.file.src_uri}: unknown placeholder {match[0]}")
            return match[0]
        return values[match[1]]

    return _PLACEHOLDER.sub(fill, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any, **kwargs: Any) -> str:
    return _start_page_run(_fill_placeholders(markdown, page, config), page, files)


def script_name(page: Any) -> str:
    """The file name of a page's downloadable script: ``gru.py``, ``home.py``."""
    stem = Path(page.file.src_uri).stem
    if stem == "index":
        parent = Path(page.file.src_uri).parent.name
        stem = parent or "home"
    return f"{stem}.py"


_PYCON = re.compile(r'<div class="language-pycon highlight"')


def _add_copy_texts(content: str) -> str:
    """Give each ``>>>`` block a ``data-copy`` with its code only (no prompts, no output)."""
    from rnn_docs import code_blocks

    out, last = [], 0
    for block in code_blocks(content):
        if block.language != "pycon":
            continue
        head = _PYCON.match(content, block.start)
        if head is None or "data-copy=" in content[block.start : block.start + 200]:
            continue
        out.append(content[last : head.end()])
        out.append(f' data-copy="{html_lib.escape(block.text + chr(10), quote=True)}"')
        last = head.end()
    out.append(content[last:])
    return "".join(out)


def _add_script_link(content: str, page: Any) -> str:
    from rnn_docs import code_blocks

    code = [b.text for b in code_blocks(content) if b.language in {"python", "py", "pycon"}]
    if not code:
        return content
    name = script_name(page)
    directory = posixpath.dirname(page.file.dest_uri)
    _PageRun.scripts[posixpath.join(directory, name)] = "\n\n".join(code) + "\n"
    return content + (
        f'<p class="rnn-script"><a href="{name}" download>Download this page\'s code</a>'
        f" (<code>{name}</code>): every Python block above, in order.</p>"
    )


def on_page_content(html: str, page: Any, **kwargs: Any) -> str:
    _end_page_run()
    seconds = time.perf_counter() - _PageRun.started
    log.info(f"{page.file.src_uri}: built in {seconds:.1f} s")  # `mkdocs build -v` shows it
    html = _replace_math(html, page.file.src_uri)
    html = _add_copy_texts(html)
    return _add_script_link(html, page)


def on_post_build(config: Any, **kwargs: Any) -> None:
    site = Path(config["site_dir"])
    for path, code in _PageRun.scripts.items():
        (site / path).write_text(code, encoding="utf-8")


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
    return _unscript_primes(mathml)


# latex2mathml writes h' as <msup><mi>h</mi><mi>&#x02032;</mi></msup>. A math font's prime
# (U+2032) is already drawn raised and small, so as a superscript it shrinks and floats away
# from the letter: put it next to the base instead (h, prime), and c'_t as (c, prime)_t.
_PRIME = r"<mi>(?P<prime>&#x0203[234];)</mi>"
_TOKEN = r"<m[ion]>[^<]*</m[ion]>"
_SUP_PRIME = re.compile(rf"<msup>(?P<base>{_TOKEN}){_PRIME}</msup>")
_SUBSUP_PRIME = re.compile(
    rf"<msubsup>(?P<base>{_TOKEN})(?P<sub>(?:(?!<msubsup>).)*?){_PRIME}</msubsup>"
)


def _unscript_primes(mathml: str) -> str:
    mathml = _SUP_PRIME.sub(r"<mrow>\g<base><mi>\g<prime></mi></mrow>", mathml)
    return _SUBSUP_PRIME.sub(r"<msub><mrow>\g<base><mi>\g<prime></mi></mrow>\g<sub></msub>", mathml)


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
