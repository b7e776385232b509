"""A session's sweep: one experiment on its own thread beside the live run (docs/protocol.md, "Sweeps").

A page has at most one sweep: a new `sweep` cancels the one before. The server runs at most
`sweep_slots` sweeps at a time (a sweep fills every core it is given); the others wait, cancellable,
and say so. A sweep lives inside its session, so it counts against the session limits and ends
when the socket closes.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Optional

from models.config import ConfigError
from models.experiments import EXPERIMENTS, SweepCancelled, SweepContext, parse_sweep, run_sweep
from models.threads import set_torch_threads

from . import wire
from .outbox import Outbox
from .settings import Settings

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.2  # progress messages at most 5/s
SLOT_POLL_S = 0.25         # a queued sweep checks for cancellation this often


class SweepJob:
    def __init__(self, sweep_id: int, raw_config: dict, settings: Settings, slots: threading.Semaphore,
                 outbox: Outbox, name: str):
        self.sweep_id, self.settings, self.slots, self.outbox = sweep_id, settings, slots, outbox
        self.config = parse_sweep({"device": settings.device, **raw_config})  # ConfigError: nothing started
        self._cancel = threading.Event()
        self._last_progress = 0.0
        self._thread = threading.Thread(target=self._run, name=f"{name}-sweep-{sweep_id}", daemon=True)

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
                       models=models, queued=queued)
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

    def __init__(self, settings: Settings, slots: threading.Semaphore, outbox: Outbox, name: str):
        self.settings, self.slots, self.outbox, self.name = settings, slots, outbox, name
        self.job: Optional[SweepJob] = None
        self._serial = 0

    def start(self, raw_config: dict) -> None:
        self._serial += 1
        try:
            job = SweepJob(self._serial, raw_config, self.settings, self.slots, self.outbox, self.name)
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
