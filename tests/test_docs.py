"""Every ``docs/examples/*.py`` runs as a script, with warnings as errors; and the docs
build's own pieces (docs/hooks.py, docs/_support/rnn_docs.py) do what they say.

The pages' own code is tested from the built site by ``tests/test_copypaste.py``, as a
reader pasting it runs it; these files are also what pages include or offer as downloads.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
EXAMPLE_SCRIPTS = sorted(EXAMPLES.glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLE_SCRIPTS, ids=lambda p: p.name)
def test_example_script(script: Path, tmp_path: Path) -> None:
    """Run from an empty folder holding a copy of docs/examples, as a reader's download."""
    folder = tmp_path / "examples"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-W", "error", script.name],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"docs/examples/{script.name} exited with {result.returncode}\n"
        f"{result.stdout}\n{result.stderr}"
    )


def _hooks() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("rnn_docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_primes_sit_next_to_their_letter() -> None:
    """h' and c'_t: the prime follows the letter, not raised again as a superscript."""
    pytest.importorskip("latex2mathml")
    hooks = _hooks()
    prime = "<mi>&#x02032;</mi>"
    assert hooks.latex_to_mathml("h'") == hooks.latex_to_mathml("h").replace(
        "<mi>h</mi>", f"<mrow><mi>h</mi>{prime}</mrow>"
    )
    mathml = hooks.latex_to_mathml("c'_t")
    assert f"<msub><mrow><mi>c</mi>{prime}</mrow><mi>t</mi></msub>" in mathml
    assert "msup" not in mathml


def test_copy_text_of_a_prompt_block_is_its_code() -> None:
    from docs_site import rnn_docs

    shown = ">>> x = [1,\n...      2]\n>>> x\n[1, 2]\n>>>\n>>> print(x)\n[1, 2]"
    assert rnn_docs().copy_text("pycon", shown) == "x = [1,\n     2]\nx\n\nprint(x)"
    assert rnn_docs().copy_text("python", "a = 1\n\n") == "a = 1"
