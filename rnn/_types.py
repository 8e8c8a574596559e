"""Type aliases shared by the package."""

from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.floating[Any]]
"""A real floating-point array."""

Seed = int | np.random.Generator | None
"""What a ``seed=`` argument accepts."""
