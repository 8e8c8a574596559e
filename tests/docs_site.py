"""The built site that the docs tests read: ``RNN_SITE_DIR`` if set (``make test`` builds
the site once, strictly, into ``site/`` and passes it), else one strict build per test
session into a temporary directory. Also the ``rnn_docs`` helpers, from docs/_support."""

from __future__ import annotations

import atexit
import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


@functools.cache
def site_dir() -> Path:
    given = os.environ.get("RNN_SITE_DIR")
    if given:
        site = Path(given).resolve()
        if not (site / "index.html").is_file():
            raise FileNotFoundError(f"RNN_SITE_DIR={given} holds no built site (index.html)")
        return site
    site = Path(tempfile.mkdtemp(prefix="rnn-site-"))
    atexit.register(shutil.rmtree, site, ignore_errors=True)
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"mkdocs build --strict failed:\n{result.stderr}")
    return site


def pages() -> list[Path]:
    """The Markdown pages of the site, as files under docs/."""
    return sorted(p for p in DOCS.rglob("*.md") if "_support" not in p.parts)


def page_html_path(page: Path) -> str:
    """Where ``page`` lands in the site (``use_directory_urls``): ``gru/index.html``."""
    relative = page.relative_to(DOCS).with_suffix("")
    if relative.name == "index":
        return (relative.parent / "index.html").as_posix().removeprefix("./")
    return (relative / "index.html").as_posix()


@functools.cache
def rnn_docs() -> types.ModuleType:
    """docs/_support/rnn_docs.py (the HTML code-block parser the hook uses too)."""
    spec = importlib.util.spec_from_file_location("rnn_docs", DOCS / "_support" / "rnn_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["rnn_docs"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
