"""The training budget chosen from the data: batch size, learning rate, epochs, schedule.

Every rule here was chosen by measurement (``benchmarks/RESULTS.md``, "Defaults"); the
estimators call these when a parameter is left at ``"auto"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

#: learning-rate schedules over the epoch budget (``learning_rate=``)
SCHEDULES = ("cosine", "linear", "constant")

#: ``batch_size="auto"``: about ``sqrt(n_samples)`` rows, a power of two in this range
AUTO_BATCH_RANGE = (32, 2048)
#: ``learning_rate_init="auto"``: this rate at this batch size, scaled by ``sqrt(batch / ref)``
AUTO_LR, AUTO_LR_BATCH = 3e-3, 64
#: the sparse input layer (lazy rows, one a column of ``X``, updated by row-wise Adagrad) takes
#: this multiple of the rate: such a row moves only in the steps whose batch holds its column, and
#: Adagrad's step shrinks with the row's own updates, so a rare column's row starts large
#: (``benchmarks/RESULTS.md``, "Scale": 1e5-label XMC P@1 0.828 with lazy Adam at 4x, 0.855 here,
#: means over seeds; 16x and 96x gave 0.847 and 0.851 where 32x gave 0.861)
INPUT_RATE_SCALE = 32.0
#: the hashed label-column pairs' table (``pair_buckets``, Adagrad over the whole table) takes this
#: multiple of the rate: 1e5-label XMC P@1 0.855, 0.866 and 0.850 at 16x, 64x and 256x, 0.850
#: without the table (``benchmarks/RESULTS.md``, "Scale")
PAIRS_RATE_SCALE = 64.0
#: ``max_iter="auto"``: enough epochs for this many optimizer steps, within this range
AUTO_STEPS, AUTO_EPOCH_RANGE = 1000, (2, 10)
#: ``MHEMultiLabelClassifier(max_iter="auto")`` takes this many steps when its training rows hold
#: fewer than :data:`RARE_LABEL_POSITIVES` positives a label on average: a rare label's rows
#: learn only in the steps whose batch holds one of its few positives, once an epoch. 1e5-label
#: XMC data (5 positives a label): 9 epochs instead of 6 gave P@1 0.874 and 0.873 (seeds 0 and
#: 1) against 0.845 and 0.862, in 1.5x the time, 2.3x omikuji's (``benchmarks/RESULTS.md``,
#: "Scale"); 1e4 labels (25 positives a label) converged in 3 of its 6 epochs and keep
#: :data:`AUTO_STEPS`
AUTO_RARE_LABEL_STEPS, RARE_LABEL_POSITIVES = 1500, 10
#: warm-up: this share of the scheduled steps, linear from 1/10 of the rate
WARMUP_SHARE = 0.05
#: ``early_stopping="auto"`` holds out a validation split from this many training rows on
AUTO_EARLY_STOPPING_MIN_SAMPLES = 10_000


def auto_batch_size(n_samples: int) -> int:
    """Rows per step for ``batch_size="auto"``: the power of two nearest ``sqrt(n_samples)``.

    Clipped to :data:`AUTO_BATCH_RANGE` and to ``n_samples``. An epoch is then about
    ``sqrt(n_samples)`` steps: small data gets many small steps, large data large batches,
    which are much cheaper per row on a CPU and on a GPU.
    """
    low, high = AUTO_BATCH_RANGE
    power = 2 ** round(math.log2(max(1.0, math.sqrt(n_samples))))
    return int(max(1, min(n_samples, max(low, min(high, power)))))


def auto_learning_rate(batch_size: int) -> float:
    """Adam's peak rate for ``learning_rate_init="auto"``: ``AUTO_LR * sqrt(batch / AUTO_LR_BATCH)``."""
    return AUTO_LR * math.sqrt(batch_size / AUTO_LR_BATCH)


def auto_max_iter(n_samples: int, batch_size: int, steps: int = AUTO_STEPS) -> int:
    """Epochs for ``max_iter="auto"``: about ``steps`` steps (default :data:`AUTO_STEPS`), within
    :data:`AUTO_EPOCH_RANGE`."""
    low, high = AUTO_EPOCH_RANGE
    steps_per_epoch = math.ceil(n_samples / max(1, batch_size))
    return int(max(low, min(high, math.ceil(steps / steps_per_epoch))))


def lr_schedule(kind: str, peak: float, total_steps: int) -> Callable[[int], float]:
    """The learning rate of optimizer step ``t`` (0-based) of a ``total_steps`` budget.

    ``"constant"``: ``peak`` throughout. ``"cosine"`` and ``"linear"``: a linear warm-up
    from ``peak / 10`` over the first :data:`WARMUP_SHARE` of the steps, then a cosine or
    linear decay to zero at ``total_steps``. Steps past the budget (``warm_start`` and
    ``partial_fit`` continue training) keep the last rate, ``peak / 100``.
    """
    if kind not in SCHEDULES:
        raise ValueError(f"learning_rate must be one of {SCHEDULES}, got {kind!r}")
    if kind == "constant" or total_steps <= 1:
        return lambda step: peak
    warmup = max(1, int(WARMUP_SHARE * total_steps))
    floor = peak / 100

    def rate(step: int) -> float:
        if step < warmup:
            return peak * (0.1 + 0.9 * step / warmup)
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        decay = 0.5 * (1 + math.cos(math.pi * progress)) if kind == "cosine" else 1 - progress
        return max(floor, peak * decay)

    return rate
