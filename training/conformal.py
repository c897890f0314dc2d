"""Split-conformal prediction intervals for regression, in a few lines of numpy.

The half-width is the ceil((n + 1) * coverage)-th smallest absolute residual on held-out rows
the model never trained on: for new rows exchangeable with them, [value - w, value + w] holds
the truth with probability at least `coverage` (Vovk et al.; Lei et al. 2018, split conformal).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def half_width(y_true: Sequence[float], predicted: Sequence[float], coverage: float) -> float:
    residuals = np.sort(np.abs(np.asarray(y_true, float) - np.asarray(predicted, float)))
    n = len(residuals)
    rank = math.ceil((n + 1) * coverage)
    if n == 0 or rank > n:
        raise ValueError(
            f"{n} held-out rows are too few for {coverage:.0%} coverage: it needs at least "
            f"{math.ceil(coverage / (1 - coverage))}"
        )
    return float(residuals[rank - 1])
