"""Every Python block of the built site runs when a reader copies it, page by page.

From each page's HTML this takes what the copy buttons copy (``python`` blocks, executed
or not, and ``>>>`` examples without prompts and output, as in the API reference) and runs
them in page order in one fresh interpreter: a virtual environment outside the repository
with the package installed from a wheel built from this tree, working directory a new
temporary folder holding the files the page links to (fetched from the built site).

Checked per page: every block runs; what a block prints equals the output block shown
right after it; each third-party module a block imports is named by a ``pip install``
earlier on the page; the page's downloadable script is its blocks in order.

The environment: ``python -m venv`` plus a ``.pth`` file listing this interpreter's
site-packages directories, so numpy, matplotlib, torch... come from the test venv without
a download. Lines of a ``.pth`` file are added to ``sys.path`` as plain directories: the
``.pth`` files inside them, among them the editable install of ``rnn``, are not run, so
``import rnn`` finds the wheel (asserted). With ``RNN_COPYPASTE_INSTALL=pip`` the venv is
fully separate instead: pip installs the wheel, its dependencies and every package the
pages name in a ``pip install`` (from pip's cache or the index; slower).
"""

from __future__ import annotations

import ast
import html as html_lib
import importlib.metadata
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from docs_site import DOCS, ROOT, page_html_path, pages, rnn_docs, site_dir

tomllib = pytest.importorskip("tomllib")  # Python 3.11+, as the docs build

PYTHON_LANGUAGES = {"python", "py", "pycon"}
# Import names whose distribution has another name.
DISTRIBUTION_OF = {"sklearn": "scikit-learn", "PIL": "pillow", "yaml": "pyyaml"}
# Modules every reader has once the package is installed.
PROVIDED = {"rnn", "numpy"}
PAGE_TIMEOUT = 300

# Runs in the test venv: each block in __main__'s namespace, as pasted into `python`.
DRIVER = r"""
def _rnn_copypaste(blocks_path, results_path):
    import contextlib, io, json, traceback
    with open(blocks_path, encoding="utf-8") as file:
        blocks = json.load(file)
    results = []
    for number, code in enumerate(blocks, start=1):
        out, err = io.StringIO(), io.StringIO()
        error = None
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                exec(compile(code, f"<block {number}>", "exec"), globals())
        except BaseException:
            error = traceback.format_exc()
        results.append({"stdout": out.getvalue(), "stderr": err.getvalue(), "error": error})
        if error:
            break
    with open(results_path, "w", encoding="utf-8") as file:
        json.dump(results, file)

import sys
_rnn_copypaste(sys.argv[1], sys.argv[2])
del _rnn_copypaste, sys
"""


@dataclass(frozen=True)
class Venv:
    python: Path
    site_packages: Path


def _clean_env(cwd: Path) -> dict[str, str]:
    """The environment of a reader's shell: no PYTHONPATH pointing into this repository."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update({"HOME": str(cwd), "MPLBACKEND": "Agg", "PYTHONNOUSERSITE": "1"})
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of this tree (the build leaves nothing in the repository)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "rnn", source / "rnn", ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy(ROOT / name, source / name)
    out = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Venv:
    tmp = tmp_path_factory.mktemp("venv")
    root = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site_packages = Path(
        sysconfig.get_path("purelib", vars={"base": str(root), "platbase": str(root)})
    )
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    if os.environ.get("RNN_COPYPASTE_INSTALL") == "pip":
        # Fully separate: the wheel with its dependencies and every package the pages
        # tell readers to install, by pip (from its cache or the index).
        stated = sorted(set().union(*(_installed_names(_page_content(p)) for p in pages())))
        # Not these: the package itself, the build tool, and `rnn`, which Install names as
        # the unrelated project readers must not install.
        skip = {next(iter(_extras_of_project()), "[").split("[")[0], "build", "rnn"}
        install = [*pip, str(wheel), *(_same_version(n) for n in stated if n not in skip)]
        timeout = 1800
    else:
        third_party = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
        (site_packages / "shared-third-party.pth").write_text(
            "".join(f"{path}\n" for path in sorted(third_party))
        )
        install, timeout = [*pip, "--no-deps", "--no-index", str(wheel)], 300
    subprocess.run(install, check=True, capture_output=True, timeout=timeout)
    where = subprocess.run(
        [str(python), "-c", "import rnn, numpy; print(rnn.__file__)"],
        cwd=tmp,
        env=_clean_env(tmp),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(site_packages), f"rnn imported from {where}"
    return Venv(python, site_packages)


# ---------------------------------------------------------------------------------------
# Reading a built page


def _same_version(name: str) -> str:
    """``name`` pinned to the version installed here (so pip takes it from its cache or
    the local wheels, e.g. torch's CPU build rather than the index's CUDA one)."""
    try:
        return f"{name}=={importlib.metadata.version(name)}"
    except importlib.metadata.PackageNotFoundError:
        return name


def _page_content(page: Path) -> str:
    return _content((site_dir() / page_html_path(page)).read_text(encoding="utf-8"))


def _content(page_html: str) -> str:
    """The page's article: what a reader reads (no navigation, header or footer)."""
    start = page_html.find('<article class="md-content__inner')
    end = page_html.find("</article>", start)
    assert start >= 0 and end > start, "no <article> in the page"
    return page_html[start:end]


_HREF = re.compile(r'<a\s[^>]*href="(?P<href>[^"]+)"')
_PIP_INSTALL = re.compile(r"pip install (?P<args>[^\n]+)")
_CODE = re.compile(r"<code>(?P<code>.*?)</code>", re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_DISTRIBUTION = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?")


def _downloads(content: str, page_path: str, site: Path, script: str | None) -> dict[str, Path]:
    """Files (not pages) the page links to, by name, as they are in the built site."""
    found: dict[str, Path] = {}
    for match in _HREF.finditer(content):
        href = html_lib.unescape(match["href"])
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not parts.path or parts.path.endswith("/"):
            continue
        path = posixpath.normpath(posixpath.join(posixpath.dirname(page_path), unquote(parts.path)))
        file = site / path
        if file.suffix == ".html" or not file.is_file() or file.name == script:
            continue
        found[file.name] = file
    return found


def _extras_of_project() -> dict[str, list[str]]:
    with open(ROOT / "pyproject.toml", "rb") as file:
        project = tomllib.load(file)["project"]
    return {f"{project['name']}[{k}]": v for k, v in project["optional-dependencies"].items()}


def _requirement_name(word: str) -> str:
    return re.split(r"[\[<>=!~;@ ]", word.strip("\"'"), maxsplit=1)[0].lower()


def _installed_names(html_before: str) -> set[str]:
    """Distributions named by ``pip install ...`` in code (inline or blocks) so far."""
    extras = _extras_of_project()
    names: set[str] = set()
    for code in _CODE.finditer(html_before):
        text = html_lib.unescape(_TAG.sub("", code["code"]))
        for match in _PIP_INSTALL.finditer(text):
            for word in match["args"].split():
                if word.startswith("-"):
                    continue
                for requirement in extras.get(word.strip("\"'"), [word]):
                    name = _requirement_name(requirement).replace("_", "-")
                    if _DISTRIBUTION.fullmatch(name) and not name.endswith(".whl"):
                        names.add(name)
    return names


def _imports(code: str) -> set[str]:
    names: set[str] = set()
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return names  # running the block reports it
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _unstated_imports(content: str, blocks: list[Any], local: set[str]) -> list[str]:
    problems = []
    for number, block in enumerate(blocks, start=1):
        stated = _installed_names(content[: block.start])
        for name in sorted(_imports(block.text)):
            if name in sys.stdlib_module_names or name in PROVIDED or name in local:
                continue
            dist = DISTRIBUTION_OF.get(name, name).lower().replace("_", "-")
            if dist not in stated:
                problems.append(f"block {number} imports {name}: no `pip install {dist}` before it")
    return problems


def _expected_outputs(all_blocks: list[Any]) -> dict[int, str]:
    """Python block number -> the output block shown right after it."""
    expected, number = {}, 0
    for i, block in enumerate(all_blocks):
        if block.language not in PYTHON_LANGUAGES:
            continue
        number += 1
        following = all_blocks[i + 1] if i + 1 < len(all_blocks) else None
        if following is not None and following.language == "output":
            expected[number] = following.text
    return expected


def _same_output(shown: str, printed: str) -> bool:
    def norm(text: str) -> list[str]:
        return [line.rstrip() for line in text.rstrip().splitlines()]

    return norm(shown) == norm(printed)


# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site() -> Path:
    """The built site (before the venv: without it the test skips at once)."""
    return site_dir()


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(DOCS).as_posix())
def test_page_runs_as_pasted(
    page: Path, site: Path, venv: Venv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page_path = page_html_path(page)
    content = _page_content(page)
    all_blocks = rnn_docs().code_blocks(content)
    blocks = [b for b in all_blocks if b.language in PYTHON_LANGUAGES]
    if not blocks:
        pytest.skip("no Python blocks")

    script = re.search(r'<p class="rnn-script"><a href="(?P<href>[^"]+)"', content)
    assert script, "the page offers no downloadable script of its code"
    script_file = site / posixpath.dirname(page_path) / script["href"]
    code = [b.text for b in blocks]
    assert script_file.read_text(encoding="utf-8") == "\n\n".join(code) + "\n"

    cwd = tmp_path / "reader"
    cwd.mkdir()
    downloads = _downloads(content, page_path, site, script["href"])
    for name, file in downloads.items():
        shutil.copyfile(file, cwd / name)
    local = {Path(name).stem for name in downloads if name.endswith(".py")}
    problems = _unstated_imports(content, blocks, local)

    (tmp_path / "blocks.json").write_text(json.dumps(code), encoding="utf-8")
    results_path = tmp_path / "results.json"
    subprocess.run(
        [str(venv.python), "-c", DRIVER, str(tmp_path / "blocks.json"), str(results_path)],
        cwd=cwd,
        env=_clean_env(cwd),
        capture_output=True,
        text=True,
        timeout=PAGE_TIMEOUT,
    )
    results = json.loads(results_path.read_text(encoding="utf-8"))
    ran = sum(1 for r in results if r["error"] is None)
    expected = _expected_outputs(all_blocks)
    equal = 0
    for number, shown in expected.items():
        if number > len(results) or results[number - 1]["error"]:
            continue
        printed = results[number - 1]["stdout"]
        if _same_output(shown, printed):
            equal += 1
        else:
            problems.append(
                f"block {number} printed something else than the page shows:\n"
                f"--- page\n{shown}\n--- printed\n{printed}"
            )
    for number, result in enumerate(results, start=1):
        if result["error"]:
            problems.append(f"block {number} raised:\n{blocks[number - 1].text}\n{result['error']}")
    with capsys.disabled():
        print(
            f"\ncopy-paste {page.relative_to(ROOT)}: {ran}/{len(blocks)} blocks ran, "
            f"{equal}/{len(expected)} outputs as shown",
            end="",
        )
    assert not problems, f"{page.relative_to(ROOT)}:\n" + "\n\n".join(problems)
