"""Run the code the docs execute at build time, so a failure names the page and the line.

For every ``docs/**/*.md`` page, the ``python exec="on"`` blocks run in order, the way
markdown-exec runs them in ``mkdocs build``: a block without ``session`` gets a fresh
namespace, blocks with the same ``session`` on a page share one, and each page starts from
scratch. ``--8<--`` snippets are expanded first (as ``pymdownx.snippets`` does), and global
state is pinned by ``pin_global_state`` from ``docs/hooks.py``. Every ``docs/examples/*.py``
also runs as a script.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
import traceback
import types
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
PAGES = sorted(DOCS.rglob("*.md"))
EXAMPLE_SCRIPTS = sorted(EXAMPLES.glob("*.py")) if EXAMPLES.is_dir() else []

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>.*)$")
_SNIPPET = re.compile(r"""^(?P<indent>[ \t]*)--8<--[ \t]+(?P<q>["'])(?P<target>.+?)(?P=q)\s*$""")
_LINE_RANGE = re.compile(r"^(?P<path>.+?)(?::(?P<start>-?\d*))?(?::(?P<end>-?\d*))?$")
_EXEC_ON = {"on", "1", "true", "yes"}


def _load_hooks() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("rnn_docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Line:
    text: str
    path: Path
    lineno: int

    def where(self) -> str:
        return f"{_rel(self.path)}:{self.lineno}"


@dataclass
class Block:
    lines: list[Line]
    options: dict[str, str]
    start: Line  # the opening fence
    code: str = field(init=False)

    def __post_init__(self) -> None:
        self.code = "\n".join(line.text for line in self.lines) + "\n"


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def _expand_snippets(path: Path, depth: int = 0) -> list[Line]:
    """The page's lines with ``--8<-- "file"`` lines replaced by the file, like snippets."""
    if depth > 8:
        raise RecursionError(f"snippets nested too deep at {_rel(path)}")
    out: list[Line] = []
    for lineno, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = _SNIPPET.match(text)
        if not match:
            out.append(Line(text, path, lineno))
            continue
        target = _LINE_RANGE.match(match["target"])
        assert target is not None
        included = ROOT / target["path"]  # base_path: ["."] in mkdocs.yml
        if not included.is_file():
            raise FileNotFoundError(f"{_rel(path)}:{lineno}: snippet {match['target']!r} not found")
        lines = _expand_snippets(included, depth + 1)
        start = int(target["start"]) if target["start"] else 1
        end = int(target["end"]) if target["end"] else len(lines)
        for line in lines[max(start, 1) - 1 : end]:
            text_ = match["indent"] + line.text if line.text else line.text
            out.append(Line(text_, line.path, line.lineno))
    return out


def _parse_options(info: str) -> tuple[str, dict[str, str]]:
    info = info.strip().lstrip("{").rstrip("}")
    words = shlex.split(info) if info else []
    language = words[0].lstrip(".") if words and "=" not in words[0] else ""
    options = dict(word.split("=", 1) for word in words if "=" in word)
    return language, options


def exec_blocks(page: Path) -> list[Block]:
    """The ``python exec="on"`` fenced blocks of a page, in order."""
    lines = _expand_snippets(page)
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i].text)
        if not opening:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body: list[Line] = []
        j = i + 1
        while j < len(lines) and not closing.match(lines[j].text):
            line = lines[j]
            text = line.text[len(indent) :] if line.text.startswith(indent) else line.text.lstrip()
            body.append(Line(text, line.path, line.lineno))
            j += 1
        language, options = _parse_options(opening["info"])
        if language in {"python", "py"} and options.get("exec", "").lower() in _EXEC_ON:
            blocks.append(Block(body, options, lines[i]))
        i = j + 1
    return blocks


def _failure_message(block: Block, filename: str, error: BaseException) -> str:
    """The traceback, with lines of the executed block mapped back to .md/.py files."""
    where = block.start.where()
    frames = []
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename == filename and frame.lineno is not None:
            line = block.lines[frame.lineno - 1]
            frames.append(f"  {line.where()}\n    {line.text.strip()}")
            where = line.where()
        elif frames:  # only frames below the block's own code
            frames.append(f"  {frame.filename}:{frame.lineno} in {frame.name}")
    detail = "".join(traceback.format_exception_only(type(error), error)).rstrip()
    return (
        f"{where}: python exec block (opened at {block.start.where()}) raised\n"
        + "\n".join(frames)
        + f"\n{detail}"
    )


def _page_id(path: Path) -> str:
    return str(path.relative_to(DOCS))


@pytest.fixture
def docs_env(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Run from the repository root with the build's pinned global state."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.syspath_prepend(str(ROOT))
    hooks = _load_hooks()
    hooks.pin_global_state()
    return hooks


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_page_exec_blocks(page: Path, docs_env: types.ModuleType) -> None:
    sessions: dict[str, dict[str, Any]] = defaultdict(dict)
    blocks = exec_blocks(page)
    for n, block in enumerate(blocks, start=1):
        session = block.options.get("session")
        namespace = sessions[session] if session else {}
        # Like markdown-exec: code runs as a module of its own (dataclasses need this).
        module_name = f"_code_block_test_{re.sub(r'[^A-Za-z0-9]+', '_', _page_id(page))}_{n}"
        namespace["__name__"] = module_name
        sys.modules[module_name] = types.ModuleType(module_name)
        filename = f"<docs exec block {block.start.where()}>"
        failure = None
        try:
            exec(compile(block.code, filename, "exec"), namespace)
        except Exception as error:
            failure = _failure_message(block, filename, error)
        finally:
            sys.modules.pop(module_name, None)
        if failure is not None:
            pytest.fail(failure, pytrace=False)


def test_sessions_are_per_page() -> None:
    """markdown-exec sessions are global and follow file order: keep each to one page."""
    pages_of: dict[str, set[str]] = defaultdict(set)
    for page in PAGES:
        for block in exec_blocks(page):
            if "session" in block.options:
                pages_of[block.options["session"]].add(_page_id(page))
    shared = {name: sorted(pages) for name, pages in pages_of.items() if len(pages) > 1}
    assert not shared, f"session names used on more than one page: {shared}"


def test_exec_block_parser_sees_index() -> None:
    """Guard against a parser that silently finds nothing."""
    blocks = exec_blocks(DOCS / "index.md")
    assert blocks, "docs/index.md has no python exec block, or the parser missed it"
    assert all(block.code.strip() for block in blocks)


@pytest.mark.parametrize("script", EXAMPLE_SCRIPTS, ids=lambda p: p.name)
def test_example_script(script: Path) -> None:
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"{_rel(script)} exited with {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
