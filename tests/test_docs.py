"""Every ``docs/examples/*.py`` runs as a script, with warnings as errors.

The pages' own code is tested from the built site by ``tests/test_copypaste.py``, as a
reader pasting it runs it; these files are also what pages include or offer as downloads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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
