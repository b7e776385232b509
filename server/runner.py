"""One session's training thread. It alone touches the session's Trainer: it executes the client's
commands between steps, trains in short chunks (so a command waits ~15 ms at most), publishes
status changes, and schedules frames and gradient comparisons on the shared pools from snapshots.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Optional

import torch

from models.config import RunConfig, parse_config
from models.cost import RunCost, check_budget
from models.methods import METHODS
from models.problem import uses_uploaded_data
from models.trainer import ApplyResult, Stopped, Trainer, needs_rebuild

from . import render, wire
from .messages import Command
from .outbox import ByteBudget, Outbox
from .settings import Settings
from .sweeps import StepCount
from .uploads import UploadStore, check_data_file

log = logging.getLogger(__name__)

CHUNK_SECONDS = 0.015   # training time between two looks at the command queue
MAX_CHUNK_STEPS = 1000
IDLE_WAIT_S = 0.25      # a paused worker still wakes this often
MAX_PENDING_COMMANDS = 64
LAYOUT_KNOBS = frozenset({"noise", "noise_fit", "noise_loc", "noise_scale"})  # change log_q (static part)
GRAD_KNOBS = LAYOUT_KNOBS | {"nr"}  # change the gradient comparison
SESSION_LIMIT = 4408
OFFLOAD_MIN_CELLS = 4096  # frames and gradients on grids this big go to the pools (2-D at grid >= 64)


@dataclass
class Services:
    """What every session shares (owned by the Hub, made in the app's lifespan)."""
    settings: Settings
    frame_pool: ThreadPoolExecutor
    grad_pool: ThreadPoolExecutor
    uploads: UploadStore
    train_slots: threading.BoundedSemaphore  # sessions training at one moment (the rest wait their turn)
    sweep_slots: threading.BoundedSemaphore  # sweeps running at one moment (the rest are queued)


class CommandError(ValueError):
    """A command that cannot apply now (answered with an `error` message)."""


@dataclass
class _Gradient:
    epoch: int   # the _grad_epoch it was computed in; stale once that moves on
    data: dict
    fresh: bool  # not yet put in a frame


class Runner:
    def __init__(self, services: Services, outbox: Outbox, budget: ByteBudget, name: str):
        self.services, self.settings = services, services.settings
        self.outbox, self.budget = outbox, budget
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._cond = threading.Condition()  # guards the fields the pools' callbacks touch (an RLock)
        self._commands: deque[Command] = deque()
        self._stopped = False

        self.trainer: Optional[Trainer] = None
        self.mode = "paused"          # what the client asked for: running or paused
        self.steps_left: Optional[int] = None  # of a `step n`
        self.error: Optional[str] = None       # set when training failed unexpectedly
        self.config_rev = 0
        self.cost: Optional[RunCost] = None  # the run's predicted cost (models/cost.py), within the budget
        self.steps = StepCount()      # steps this session trained, its sweeps' model-steps too (settings.max_steps)
        self._published: Optional[tuple] = None
        self._step_seconds = 0.002    # running mean of one step's time: sizes the chunks
        self._limit_close: Optional[tuple[int, str]] = None

        # rendering: at most one frame and one gradient job in flight
        self._frame_job: Optional[Future] = None
        self._grad_job: Optional[Future] = None
        self._frame_urgent = False
        self._grad_urgent = False
        self._next_frame_at = 0.0
        self._next_grad_at = 0.0
        self._layout_epoch = 0        # moves when the static grid parts change
        self._layout_sent = -1
        self._grad_epoch = 0          # moves when the gradient comparison changes
        self._grad: Optional[_Gradient] = None
        self._array_bytes = 0         # size of the last frame that carried arrays
        self._snapshots = render.Snapshots()

    # ------------------------------------------------------------------ control from the event loop
    def start(self) -> None:
        self._thread.start()

    def submit(self, command: Command) -> bool:
        """Queue a command; False when too many are waiting (the client should slow down)."""
        with self._cond:
            if len(self._commands) >= MAX_PENDING_COMMANDS:
                return False
            self._commands.append(command)
            self._cond.notify()
        return True

    def stop(self) -> None:
        """Ask the thread to end: between two commands or chunks, and within ~0.5 s inside heavy work
        (the Trainer's build, the KDE of uploaded data, frames: they look at `stopping`)."""
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def stopping(self) -> bool:
        return self._stopped

    @property
    def steps_total(self) -> int:
        return self.steps.total

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        torch.set_num_threads(self.settings.torch_threads)  # per thread with OpenMP: set it here too
        try:
            while True:
                with self._cond:
                    if not self._commands and not self._stopped and not self._has_work():
                        self._cond.wait(IDLE_WAIT_S)
                    if self._stopped:
                        return
                    commands = list(self._commands)
                    self._commands.clear()
                for command in commands:
                    if self._stopped:
                        return
                    self._execute(command)
                self._publish()
                self._schedule_renders()  # before training: a frame right after a command shows its effect
                self._train()
        except Stopped:  # stop() was called in the middle of heavy work: nobody is waiting for it
            return
        except Exception:  # a bug: say so, close, and leave the rest of the server alone
            log.exception("session worker failed")
            self.outbox.put(wire.status_message("error", "the session failed on the server; reconnect"))
            self.outbox.close(1011, "internal error")
        finally:
            self.trainer = None  # frees the model and its tensors now, not when the session is collected

    def _has_work(self) -> bool:
        return (self._training() or self._state() != self._published
                or (self._frame_urgent and self._frame_job is None)
                or (self._grad_urgent and self._grad_job is None and self.trainer is not None))

    def _training(self) -> bool:
        trainer = self.trainer
        return (trainer is not None and trainer.state == "ok" and self.error is None
                and self._limit_close is None and (self.mode == "running" or bool(self.steps_left)))

    # ------------------------------------------------------------------ commands
    def _execute(self, command: Command) -> None:
        try:
            getattr(self, f"_on_{command.kind}")(command)
        except Stopped:
            raise
        except ValueError as error:  # ConfigError, CommandError, and Trainer's refusals (e.g. no CUDA)
            self.outbox.put(wire.error_message(str(error)))
        except Exception:
            log.exception("%s failed", command.kind)
            self.outbox.put(wire.error_message(f"{command.kind}: failed on the server (logged); "
                                               "the session keeps its previous state"))

    def _on_start(self, command: Command) -> None:
        check_data_file(command.config.get("data_file"))
        config = parse_config({"device": self.settings.device, **command.config})
        samples = self._samples_for(config)
        cost = self._within_budget(config, samples)  # before anything is allocated
        trainer = Trainer(config, samples, stop=self.stopping)
        old = self.trainer.config if self.trainer is not None else None
        self.trainer, self.error = trainer, None
        self.mode, self.steps_left = ("paused" if command.paused else "running"), None
        self.cost = cost
        self._accepted(ApplyResult(config, True, _changed(old, config)))

    def _on_set(self, command: Command) -> None:
        trainer = self._require_trainer()
        if "data_file" in command.config:
            check_data_file(command.config["data_file"])
        old = trainer.config
        new = old.patched(command.config)
        samples = self._samples_for(new) if needs_rebuild(old, new) and _uses_samples(new) else None
        cost = self._within_budget(new, samples if samples is not None else trainer.samples)
        result = trainer.apply(command.config, samples=samples)
        self.cost = cost
        self._accepted(result)

    def _on_pause(self, _command: Command) -> None:
        self._require_trainer()
        self.mode, self.steps_left = "paused", None
        self._changed_state()

    def _on_resume(self, _command: Command) -> None:
        self._require_trainer()
        self.mode, self.steps_left = "running", None
        self._changed_state()

    def _on_step(self, command: Command) -> None:
        trainer = self._require_trainer()
        self.mode, self.steps_left = "paused", command.n
        self._published = None  # the frame follows when the steps are done
        if trainer.state != "ok":  # done or diverged: no step to take
            self.steps_left = None
            self._changed_state()

    def _on_reset(self, _command: Command) -> None:
        trainer = self._require_trainer()
        trainer.reset()
        self.error = None
        self.mode, self.steps_left = "paused", None
        render.prepare_views(trainer, self.settings.frame_grid_2d)
        with self._cond:
            self._grad_epoch += 1
            self._grad_urgent = True
        self._changed_state()

    def _require_trainer(self) -> Trainer:
        if self.trainer is None:
            raise CommandError("no run yet: send start first")
        return self.trainer

    def _samples_for(self, config: RunConfig):
        return self.services.uploads.samples_for(config.data_file) if _uses_samples(config) else None

    def _within_budget(self, config: RunConfig, samples) -> RunCost:
        """The run's predicted cost (models/cost.py); ConfigError naming the knobs that drive it when its peak
        memory is over NCE_SESSION_MEMORY_MB or a step over NCE_MAX_STEP_SECONDS (an `error` reply: nothing applied, the session goes on)."""
        shape = samples.shape if samples is not None and _uses_samples(config) else (None, None)
        return check_budget(config, self.settings.session_memory_mb, shape[0], shape[1],
                            self.settings.max_step_seconds)

    def _accepted(self, result: ApplyResult) -> None:
        """After a start or set: reply with the config (and its predicted cost), and refresh what the change
        touched."""
        self.config_rev += 1
        reply = wire.config_message(self.config_rev, result.config.model_dump(), result.rebuilt, result.changed)
        reply["cost"] = self.cost.public(self.settings.session_memory_mb, self.settings.max_step_seconds)
        self.outbox.put(reply)
        if result.rebuilt:
            self.error = None
        render.prepare_views(self.trainer, self.settings.frame_grid_2d)
        changed = set(result.changed)
        with self._cond:
            if result.rebuilt or changed & LAYOUT_KNOBS:
                self._layout_epoch += 1
            if result.rebuilt or changed & GRAD_KNOBS:
                self._grad_epoch += 1
                self._grad_urgent = True
            self._frame_urgent = True  # the next frame carries the new config_rev at once
        self._published = None  # answer with a status too

    def _changed_state(self) -> None:
        with self._cond:
            self._frame_urgent = True  # a paused page shows the exact step
        self._published = None

    # ------------------------------------------------------------------ training
    def _train(self) -> None:
        if not self._training():
            return
        trainer = self.trainer
        n = max(1, min(MAX_CHUNK_STEPS, int(CHUNK_SECONDS / self._step_seconds)))
        if self.steps_left:
            n = min(n, self.steps_left)
        if self.settings.max_steps is not None:
            n = min(n, self.settings.max_steps - self.steps_total)
        try:
            with self.services.train_slots:  # many sessions taking turns beat many fighting over the GIL
                started = time.perf_counter()
                taken = trainer.step(n)
        except Stopped:
            raise
        except Exception:
            log.exception("training step failed")
            self.error = "training failed on the server (logged); reset or start again"
            self._changed_state()
            return
        if taken:
            self._step_seconds = 0.8 * self._step_seconds + 0.2 * (time.perf_counter() - started) / taken
        self.steps.add(taken)
        if self.steps_left is not None:
            self.steps_left -= taken
            if self.steps_left <= 0 or trainer.state != "ok":
                self.mode, self.steps_left = "paused", None
                self._changed_state()
        if trainer.state != "ok":  # done or diverged: show the final state
            self._changed_state()
        if self.settings.max_steps is not None and self.steps_total >= self.settings.max_steps:
            self._limit_close = (SESSION_LIMIT, f"this session used its {self.settings.max_steps} training "
                                                "steps (the server's limit); reload to start a new one")
            self._changed_state()

    def _state(self) -> Optional[tuple[str, Optional[str]]]:
        trainer = self.trainer
        if trainer is None:
            return None
        if self.error is not None:
            return "error", self.error
        if trainer.state in ("diverged", "done"):
            return trainer.state, trainer.message
        return ("running" if self.mode == "running" or self.steps_left else "paused"), None

    def _publish(self) -> None:
        state = self._state()
        if state is not None and state != self._published:
            self._published = state
            self.outbox.put(wire.status_message(*state, step=self.trainer.step_count if self.trainer else None))

    # ------------------------------------------------------------------ frames and gradients
    def _schedule_renders(self) -> None:
        trainer = self.trainer
        if trainer is None:
            return
        now = time.monotonic()
        running = self._training()
        grad_epoch = spec = None
        with self._cond:  # decide under the lock, render outside it (the event loop takes it to submit)
            if self._frame_job is None and (self._frame_urgent or (running and now >= self._next_frame_at)):
                self._next_frame_at = now + 1.0 / self.settings.frame_rate
                self._frame_urgent = False
                spec, then_close = self._frame_spec(trainer), self._limit_close
            elif (self._frame_job is None and self._grad_job is None  # a frame in the making goes first
                  and METHODS[trainer.config.method].has_gradient_comparison and trainer.state != "diverged"
                  and (self._grad_urgent or (running and now >= self._next_grad_at))):
                rate = self.settings.grad_rate if trainer.dim == 1 else self.settings.grad_rate_2d
                self._next_grad_at = now + 1.0 / rate
                self._grad_urgent = False
                grad_epoch = self._grad_epoch
        if spec is not None:  # the frame first: it carries a change's config_rev out at once
            self._launch("frame", self._render_frame, trainer, spec,
                         lambda job: self._frame_done(job, spec, then_close))
        if grad_epoch is not None:
            self._launch("grad", _gradient, trainer, grad_epoch, self._gradient_done)

    def _launch(self, kind: str, work, trainer: Trainer, argument, done) -> None:
        """Run a frame or gradient job: on a pool, from a snapshot, when its tensors are big (the
        kernels release the GIL, so another core helps); here and now when they are small (the
        work is Python dispatch: another thread would only fight this one for the GIL)."""
        if trainer.grid.size >= OFFLOAD_MIN_CELLS:
            pool = self.services.frame_pool if kind == "frame" else self.services.grad_pool
            job = pool.submit(work, self._snapshots.take(trainer, kind), argument)
        else:
            job = Future()
            try:
                job.set_result(work(trainer, argument))
            except Exception as error:  # reported by `done`, like a pool job's
                job.set_exception(error)
        with self._cond:
            setattr(self, f"_{kind}_job", job)
        job.add_done_callback(done)  # runs at once when the job is already done

    def _frame_spec(self, trainer: Trainer) -> render.FrameSpec:
        with_static = self._layout_epoch != self._layout_sent
        with_arrays = with_static or self.budget.allows(self._array_bytes)
        self._layout_sent = self._layout_epoch
        grad, scalars = None, (None, None)
        if self._grad is not None and self._grad.epoch == self._grad_epoch:
            scalars = (self._grad.data.get("cos_current"), self._grad.data.get("norm_ratio_current"))
            if self._grad.fresh:
                grad, self._grad.fresh = self._grad.data, False
        resolution = render.frame_resolution(trainer, self.settings.frame_grid_2d)
        state = self._state()
        return render.FrameSpec(self.config_rev, state[0] if state else "paused", resolution,
                                with_static, with_arrays, grad, scalars)

    def _render_frame(self, trainer: Trainer, spec: render.FrameSpec) -> None:
        raw = trainer.frame(resolution=spec.resolution, with_grad=False, arrays=spec.with_arrays,
                            static=spec.with_static)
        frame = wire.shape_frame(raw, config_rev=spec.config_rev, state=spec.state,
                                 total_steps=trainer.config.steps, with_static=spec.with_static,
                                 with_arrays=spec.with_arrays, grad=spec.grad, grad_scalars=spec.grad_scalars)
        size = self.outbox.put_frame(frame)
        if spec.with_arrays:
            self._array_bytes = size

    def _frame_done(self, job: Future, spec: render.FrameSpec, then_close: Optional[tuple]) -> None:
        with self._cond:
            self._frame_job = None
            if not job.cancelled() and job.exception() is not None and not isinstance(job.exception(), Stopped):
                log.error("frame failed", exc_info=job.exception())
                if spec.with_static:
                    self._layout_sent = -1  # send the static parts with the next one
            self._cond.notify()
        if then_close is not None:
            self.outbox.close(*then_close)

    def _gradient_done(self, job: Future) -> None:
        with self._cond:
            self._grad_job = None
            if not job.cancelled() and not isinstance(job.exception(), Stopped):  # Stopped: the session ended
                if job.exception() is not None:
                    log.error("gradient comparison failed", exc_info=job.exception())
                else:
                    epoch, data = job.result()
                    if epoch == self._grad_epoch:
                        self._grad = _Gradient(epoch, data, fresh=True)
                        if not self._training():
                            self._frame_urgent = True  # paused: nothing else would carry it out
            self._cond.notify()


def _gradient(trainer: Trainer, epoch: int) -> tuple[int, dict]:
    return epoch, wire.rounded(trainer.gradient_frame())


def _uses_samples(config: RunConfig) -> bool:
    return uses_uploaded_data(config)


def _changed(old: Optional[RunConfig], new: RunConfig) -> list[str]:
    return [k for k in RunConfig.model_fields if old is None or getattr(old, k) != getattr(new, k)]
