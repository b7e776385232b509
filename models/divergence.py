"""Divergence: when a run has blown up, and what most likely did it. Pure math on numbers the
Trainer already has (no tensors are kept here).

A run has diverged when any one of these holds:

1. The loss or a parameter is not finite (NaN or ±inf).
   Reason: nothing after that step means anything; the next loss would be NaN anyway.
2. |L_t| > LOSS_GROWTH · max(|L_ref|, 1): the loss grew by three orders of magnitude over its
   reference L_ref, the first loss after a build, a reset or a live change of the config.
   Reason: at the defaults the loss of no preset and no method ever exceeds its first value
   (measured: max_t |L_t| / |L_0| = 1.00 over 300 steps on all 34 preset × method pairs), while at
   lr = 10 every method passes 1e5 × L_0 within a few dozen steps (CPC reached 4e13). 1e3 sits far
   from both. The floor 1 keeps a first loss near 0 from turning an ordinary loss into a "blow-up".
   The reference moves with a live change (a new N_r, k or method changes the objective's scale).
3. |log Ẑ − log Z| > LOG_FLOAT_MAX or KL(p_d ‖ p_θ) > LOG_FLOAT_MAX, checked every CHECK_EVERY
   steps on a coarse grid (a frame's, at most 64 cells per axis in 2-D).
   Reason: LOG_FLOAT_MAX = log(largest float64) ≈ 709.78: past it Ẑ/Z (or p_d/p_θ at the data) is no
   longer a number any float can hold, so the estimate is gone, not merely poor. Honest runs stay
   far below: the "noise too far" lesson (NCE, q at 7 ± 1, data at −2 and 1.5) climbs to KL ≈ 15
   and log Z ≈ 19 and is deliberately NOT flagged: it is NCE failing to learn (its lesson, with the
   coverage warning), not arithmetic blowing up. A finite blow-up like log Ẑ − log Z = −860,681 or
   KL = 7e5 is caught. Rule 2 usually fires first; rule 3 catches the runs whose loss started
   huge (data at scale 1e20: L_0 = 3e18, KL = 1e18).
   InfoNCE's log Z is not identified (any constant shift of G is free), so only KL counts for it.

The cause named in the message:
- "data scale" when the data reach |x| > DATA_SCALE_LIMIT. Reason: the network's initial weights and
  Adam's steps (about lr per weight) are sized for inputs of order 1: at |x| ≈ S the energies move by
  ~lr·S a step, so a lower lr only hides the problem; standardising the data fixes it (measured: N(0,
  1000²) data already ends NCE at KL ≈ 80 at the default lr, 1e6 at KL ≈ 860). Then the message says
  so and does not advise "lower lr".
- otherwise the learning rate, with a value to try: min(lr / 10, the default lr).
"""
from __future__ import annotations

import math
import sys
from typing import Optional

LOSS_GROWTH = 1e3
LOG_FLOAT_MAX = math.log(sys.float_info.max)  # ≈ 709.78
DATA_SCALE_LIMIT = 1e3
CHECK_EVERY = 50  # steps between two checks of rule 3 (a forward pass on ≤ 64² cells: ~1% of the steps' time)


def loss_blowup(loss: float, reference: Optional[float]) -> Optional[str]:
    """Rules 1 and 2 for one step's loss: what went wrong in words, or None. `reference`: L_ref, or
    None when this loss is the first since a build, reset or change (it becomes the reference)."""
    if not math.isfinite(loss):
        return f"loss became {loss}"
    if reference is not None and abs(loss) > LOSS_GROWTH * max(abs(reference), 1.0):
        return f"loss grew from {reference:.4g} to {loss:.4g} (over {LOSS_GROWTH:g}×)"
    return None


def grid_blowup(log_z_gap: Optional[float], kl: Optional[float]) -> Optional[str]:
    """Rule 3: |log Ẑ − log Z| (None where Ẑ is not learned) and KL(p_d ‖ p_θ) from a grid.
    Non-finite values count as blown up (the model overflowed on the grid)."""
    if log_z_gap is not None and not abs(log_z_gap) <= LOG_FLOAT_MAX:
        return f"log Ẑ − log Z reached {log_z_gap:.4g} (beyond ±{LOG_FLOAT_MAX:.0f}, where Z overflows)"
    if kl is not None and not kl <= LOG_FLOAT_MAX:
        return f"KL(p_d ‖ p_θ) reached {kl:.4g} (beyond {LOG_FLOAT_MAX:.0f} nats)"
    return None


def data_scale(box_low: list[float], box_high: list[float]) -> float:
    """S = the largest |x| of the data's box (its 0.1%–99.9% range, widened): the scale the model sees."""
    return max(abs(v) for v in [*box_low, *box_high])


def likely_cause(scale: float, lr: float, default_lr: float) -> str:
    """What to change, in words: the data's scale when it is large (see the module docstring), else lr."""
    if not scale <= DATA_SCALE_LIMIT:
        return (f"the data's scale is the likely cause (values reach |x| ≈ {scale:.2g}; the model expects "
                f"values of order 1, |x| ≤ {DATA_SCALE_LIMIT:g}): rescale the data (e.g. standardise each "
                f"column) and upload it again")
    suggestion = min(lr / 10, default_lr)
    return f"the learning rate is the likely cause: lower lr (now {lr:g}; try {suggestion:g}) and reset"


def divergence_message(what: str, step: int, scale: float, lr: float, default_lr: float) -> str:
    """'<what> at step N; <the likely cause and what to change>'."""
    return f"{what} at step {step}; {likely_cause(scale, lr, default_lr)}"


def untrainable_data(moments: list[float], scale: float) -> Optional[str]:
    """Why data cannot be trained at all, or None: its moments (mean, covariance) overflowed, or its
    box is not finite. Such data fails later as a bare LinAlgError (the noise's Cholesky), so the
    Trainer refuses it first with this message, which names the field."""
    if all(math.isfinite(v) for v in moments) and math.isfinite(scale):
        return None
    shown = f"{scale:.2g}" if math.isfinite(scale) else "beyond 1e308"
    return (f"data_file: the data's scale cannot be trained (values reach |x| {shown}: their mean and "
            f"variance overflow); rescale the data (e.g. standardise each column) and upload it again")
