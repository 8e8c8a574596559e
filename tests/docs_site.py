"""The built site that the docs tests read: ``RNN_SITE_DIR`` if set (``make test`` builds
the site once, strictly, into ``site/`` and passes it), else one strict build per test
session into a temporary directory. Also the ``rnn_docs`` helpers, from docs/_support.

The pages run every optional framework (`rnn._optional.EXTRAS`). Where one is not
installed the site cannot be built: the build is skipped with a message naming what is
missing (``python tests/docs_site.py build <dir>``, which ``make docs-build`` runs), and so
are the tests that read the site. ``.ci/run`` installs them all, so nothing skips there.
"""

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

import pytest

from rnn._optional import EXTRAS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def missing_frameworks() -> list[str]:
    """The modules of the optional extras that are not installed, e.g. ``["torch"]``."""
    modules = {name.strip('"').split("[")[0] for names in EXTRAS.values() for name in names.split()}
    return sorted(m for m in modules if importlib.util.find_spec(m) is None)


def unbuildable() -> str | None:
    """Why the site cannot be built here (frameworks its pages run are missing), or None."""
    missing = missing_frameworks()
    if not missing:
        return None
    return (
        f"the site's pages run {', '.join(missing)}, not installed here: "
        "pip install -e '.[all]' (the extras; .ci/run installs them)"
    )


def build(site: Path, capture: bool) -> subprocess.CompletedProcess[str]:
    """``mkdocs build --strict`` into `site`; its messages captured or shown."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=capture,
        text=True,
        timeout=600,
    )


@functools.cache
def _built() -> Path:
    """One strict build per test session, into a temporary directory."""
    site = Path(tempfile.mkdtemp(prefix="rnn-site-"))
    atexit.register(shutil.rmtree, site, ignore_errors=True)
    result = build(site, capture=True)
    if result.returncode != 0:
        raise RuntimeError(f"mkdocs build --strict failed:\n{result.stderr}")
    return site


def site_dir() -> Path:
    """The built site; the calling test is skipped if the site cannot be built here."""
    reason = unbuildable()
    if reason:
        pytest.skip(reason)
    given = os.environ.get("RNN_SITE_DIR")
    if not given:
        return _built()
    site = Path(given).resolve()
    if not (site / "index.html").is_file():
        raise FileNotFoundError(f"RNN_SITE_DIR={given} holds no built site (index.html)")
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


def main(arguments: list[str]) -> int:
    """``build <dir>``: the strict build, or a message saying why it is skipped here."""
    if len(arguments) != 2 or arguments[0] != "build":
        print("usage: python tests/docs_site.py build <dir>", file=sys.stderr)
        return 2
    reason = unbuildable()
    if reason:
        print(f"docs build skipped: {reason}")
        return 0
    return build(Path(arguments[1]), capture=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
