"""Optional dependencies: imported only when a feature needs them, with one clear error.

`EXTRAS` lists, for each extra of the distribution ``numpy-rnn``, the packages it installs:
the ``pip install`` line in an error names those packages, which install today whatever
way ``rnn`` itself was installed (from a clone, a wheel or, once published, the index).
"""

from __future__ import annotations

import importlib
from types import ModuleType

EXTRAS = {
    "torch": "torch",
    "onnx": "onnx onnxruntime",
    "keras": "keras torch",
    "dask": '"dask[array]" distributed',
    "progress": "tqdm",
    "threads": "threadpoolctl",
}
"""Extra -> what ``pip install`` it takes (keras: with torch as its backend)."""


def require(module: str, function: str, extra: str) -> ModuleType:
    """Import `module`, or raise ImportError naming the packages to install.

    >>> require("numpy", "example", "torch").__name__
    'numpy'
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"rnn.{function} needs {module.split('.')[0]}: pip install {EXTRAS[extra]} "
            f'(the extra "{extra}" of numpy-rnn)'
        ) from error
