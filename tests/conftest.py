"""Fixtures shared by the test modules."""

from __future__ import annotations

from types import ModuleType

import pytest


@pytest.fixture(scope="session")
def reference() -> ModuleType:
    """``tests/torch_reference.py``, when torch is importable (the test is skipped if not)."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    import torch_reference

    return torch_reference
