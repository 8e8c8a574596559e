"""pytest's configuration for the whole tree: the docstring examples of `rnn` (run by
``--doctest-modules``) that need an optional framework this environment lacks are skipped.
The fixtures of the tests are in tests/conftest.py."""

from __future__ import annotations

import doctest
from collections.abc import Generator

import pytest
from docs_site import missing_frameworks  # tests/, on pytest's pythonpath


def _missing_module(error: BaseException | None) -> str | None:
    """The optional framework whose absence raised `error` (or what caused it), or None."""
    missing = set(missing_frameworks())
    while error is not None:
        if isinstance(error, ModuleNotFoundError) and error.name:
            name = error.name.split(".")[0]
            if name in missing:
                return name
        error = error.__cause__
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A docstring example that stops at the missing import of an optional framework
    (``rnn._optional.require``'s ImportError, or the example's own import) is skipped,
    naming it; any other failure stays a failure."""
    try:
        return (yield)
    except doctest.UnexpectedException as failure:
        name = _missing_module(failure.exc_info[1])
        if name is None:
            raise
        pytest.skip(f"the example needs {name}, not installed here: {failure.exc_info[1]}")
