"""A session's sweep: one experiment on its own thread beside the live run (docs/protocol.md, "Sweeps").

A page has at most one sweep: a new `sweep` cancels the one before. The server runs at most
`sweep_slots` sweeps at a time (a sweep fills every core it is given); the others wait, cancellable,
and say so. A sweep lives inside its session, so it counts against the session limits and ends
when the socket closes (every heavy loop of an experiment looks at the cancel flag: ~1 s at most).

Before anything is allocated, a sweep's cost is predicted from its config (models.experiments.predict):
one whose peak memory is over NCE_SWEEP_MEMORY_MB, or whose model-steps are more than the session has
left of NCE_MAX_STEPS (the live run's steps and its sweeps' model-steps share one StepCount), is
refused by name with `sweep_error`, and the sweep before, if any, goes on.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Optional

from models.config import ConfigError
from models.experiments import EXPERIMENTS, SweepCancelled, SweepContext, parse_sweep, predict, run_sweep
from models.threads import set_torch_threads

from . import wire
from .outbox import Outbox
from .settings import Settings

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.2  # progress messages at most 5/s
SLOT_POLL_S = 0.25         # a queued sweep checks for cancellation this often


class StepCount:
    """A session's training steps: its live run's (Runner) and its sweeps' model-steps, one total for
    NCE_MAX_STEPS. The runner's thread and a sweep's add to it at once, hence the lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = 0

    @property
    def total(self) -> int:
        return self._total

    def add(self, steps: int) -> int:
        with self._lock:
            self._total += steps
            return self._total


class StepLimit(Exception):
    """The session's NCE_MAX_STEPS ran out while the sweep ran (its live run trained meanwhile)."""


class SweepJob:
    def __init__(self, sweep_id: int, raw_config: dict, settings: Settings, slots: threading.Semaphore,
                 outbox: Outbox, name: str, steps: StepCount):
        self.sweep_id, self.settings, self.slots, self.outbox = sweep_id, settings, slots, outbox
        self.config = parse_sweep({"device": settings.device, **raw_config})  # ConfigError: nothing started
        self.cost = predict(self.config)
        self.steps, self._counted = steps, 0
        self._refuse_over_budget()
        self._cancel = threading.Event()
        self._last_progress = 0.0
        self._thread = threading.Thread(target=self._run, name=f"{name}-sweep-{sweep_id}", daemon=True)

    def _refuse_over_budget(self) -> None:
        """ConfigError naming the knobs and the bound when the predicted memory or model-steps are over."""
        limit = self.settings.sweep_memory_mb
        problem = self.cost.over(limit, f"this server allows {limit:,} MB per sweep (NCE_SWEEP_MEMORY_MB)")
        if problem is None and self.settings.max_steps is not None:
            left = max(0, self.settings.max_steps - self.steps.total)
            problem = self.cost.steps_over(left, f"this session has {left:,} of its NCE_MAX_STEPS = "
                                                 f"{self.settings.max_steps:,} steps left (live run and sweeps "
                                                 "together)")
        if problem is not None:
            raise ConfigError([problem])

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _send(self, kind: str, **fields) -> None:
        self.outbox.put(wire.rounded({"type": kind, "sweep_id": self.sweep_id, **fields}))

    def _progress(self, done: int, total: int) -> None:
        """Counts the model-steps done since the last call (progress is in the experiment's unit, which is
        what NCE_MAX_STEPS counts of a sweep) and sends at most 5 progress messages a second."""
        if done > self._counted:
            session_total = self.steps.add(done - self._counted)
            self._counted = done
            limit = self.settings.max_steps
            if limit is not None and session_total > limit:
                raise StepLimit(f"NCE_MAX_STEPS: this session used its {limit:,} steps (live run and sweeps "
                                f"together) before the sweep ended; reload to start a new one")
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_INTERVAL_S or done >= total:
            self._last_progress = now
            self._send("sweep_progress", done=done, total=total)

    def _run(self) -> None:
        acquired = False
        try:
            queued = not self.slots.acquire(blocking=False)
            models = EXPERIMENTS[self.config.experiment].total_models(self.config)
            self._send("sweep_started", experiment=self.config.experiment, config=self.config.model_dump(),
                       models=models, queued=queued, predicted=self.cost.public())
            acquired = not queued
            while not acquired:  # wait for a free slot, cancellable
                if self._cancel.is_set():
                    raise SweepCancelled()
                acquired = self.slots.acquire(timeout=SLOT_POLL_S)
            set_torch_threads(self.settings.sweep_threads)
            result = run_sweep(self.config,
                               SweepContext(progress=self._progress, cancelled=self._cancel.is_set),
                               on_point=lambda point: self._send("sweep_point", point=point),
                               on_theory=lambda curves: self._send("sweep_theory", theory_curves=curves))
            self._send("sweep_done", result=result)
        except SweepCancelled:
            self._send("sweep_cancelled")
        except StepLimit as error:
            self._send("sweep_error", message=str(error))
        except ValueError as error:  # e.g. device: 'cuda' asked for but absent
            self._send("sweep_error", message=str(error))
        except Exception:
            log.exception("sweep %s failed", self.sweep_id)
            self._send("sweep_error", message="the sweep failed on the server (logged); the session goes on")
        finally:
            if acquired:
                self.slots.release()


class SweepSlot:
    """The one sweep of a session: start (cancelling the one before), cancel, and wait at the end."""

    def __init__(self, settings: Settings, slots: threading.Semaphore, outbox: Outbox, name: str,
                 steps: Optional[StepCount] = None):
        self.settings, self.slots, self.outbox, self.name = settings, slots, outbox, name
        self.steps = steps if steps is not None else StepCount()  # the session's, shared with its Runner
        self.job: Optional[SweepJob] = None
        self._serial = 0

    def start(self, raw_config: dict) -> None:
        self._serial += 1
        try:
            job = SweepJob(self._serial, raw_config, self.settings, self.slots, self.outbox, self.name, self.steps)
        except ConfigError as error:
            self.outbox.put({"type": "sweep_error", "sweep_id": self._serial, "message": str(error)})
            return  # the sweep before (if any) goes on
        self.cancel()
        self.job = job
        job.start()

    def cancel(self) -> bool:
        if self.job is not None and self.job.is_alive():
            self.job.cancel()
            return True
        return False

    def busy(self) -> bool:
        return self.job is not None and self.job.is_alive()
