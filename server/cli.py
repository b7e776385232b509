"""`nce-playground serve`, `nce-playground run --config CFG.json --out RESULT.json` and
`nce-playground sweep --config SWEEP.json --out SWEEP_RESULT.json`."""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

# The commands import models/ (and with it torch, ~2-7 s) only when they run: `--help` stays instant.


def _progress_bar_of(unit: str):
    """A progress callback (done, total) that redraws one line on stderr."""
    def draw(done: int, total: int) -> None:
        width = 30
        filled = int(width * done / max(1, total))
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {unit}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
    return draw


_progress_bar = _progress_bar_of("steps")


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _threads(args: argparse.Namespace) -> bool:
    """Apply --threads (default: NCE_TORCH_THREADS, else 1); False after printing why it is refused."""
    from models.threads import set_torch_threads

    try:
        set_torch_threads(args.threads)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return False
    return True


def _load_config(path: str, parse, what: str):
    """The validated config in the JSON file at `path`, or None after printing every problem on stderr."""
    from models.config import ConfigError

    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        print(f"error: cannot read {what} {path}: {error}", file=sys.stderr)
        return None
    try:
        return parse(raw)
    except ConfigError as error:
        print(f"error: invalid {what} {path}:", file=sys.stderr)
        for message in error.errors:
            print(f"  {message}", file=sys.stderr)
        return None


def run_command(args: argparse.Namespace) -> int:
    from models.config import parse_config
    from models.data import CUSTOM
    from models.run import run_config
    from models.samples import SamplesError, parse_samples

    if not _threads(args):
        return 2
    config = _load_config(args.config, parse_config, "config")
    if config is None:
        return 2
    samples = None
    if config.data == CUSTOM and config.method != "cpc":
        path = Path(config.data_file)
        if not path.is_absolute():
            path = Path(args.config).parent / path
        try:
            samples = parse_samples(path.read_text())
        except OSError as error:
            print(f"error: data_file: cannot read {path}: {error}", file=sys.stderr)
            return 2
        except SamplesError as error:
            print(f"error: data_file {path}: {error}", file=sys.stderr)
            return 2
    try:
        result = run_config(config, samples, progress=None if args.quiet else _progress_bar)
    except ValueError as error:  # e.g. device: 'cuda' asked for but absent
        print(f"error: {error}", file=sys.stderr)
        return 2
    Path(args.out).write_text(json.dumps(_json_safe(result)))
    final = result["final"]
    summary = {k: final[k] for k in ("step", "log_z_est", "log_z_true", "kl", "mi_estimate") if final.get(k) is not None}
    print(f"{result['state']}: {summary}; {result['steps_per_s']:.0f} steps/s on {result['device']}", file=sys.stderr)
    return 0 if result["state"] == "done" else 1


def sweep_command(args: argparse.Namespace) -> int:
    from models.experiments import EXPERIMENTS, SweepContext, parse_sweep, run_sweep

    if not _threads(args):
        return 2
    config = _load_config(args.config, parse_sweep, "sweep config")
    if config is None:
        return 2
    progress = None if args.quiet else _progress_bar_of(EXPERIMENTS[config.experiment].progress_unit)
    try:
        result = run_sweep(config, SweepContext(progress=progress))
    except ValueError as error:  # e.g. device: 'cuda' asked for but absent
        print(f"\nerror: {error}", file=sys.stderr)
        return 2
    Path(args.out).write_text(json.dumps(_json_safe(result)))
    print(f"{result['experiment']}: {len(result['points'])} points from {result['models']} models in "
          f"{result['seconds']:.1f} s on {result['device']}", file=sys.stderr)
    return 0


def serve_command(args: argparse.Namespace) -> int:
    import uvicorn
    from pydantic import ValidationError

    from server.boot import DeferredApp
    from server.security import install_log_redaction
    from server.settings import UVICORN_OPTIONS, Settings

    # the settings come from the environment: let --host/--port reach them too
    if args.host:
        os.environ["NCE_HOST"] = args.host
    if args.port is not None:
        os.environ["NCE_PORT"] = str(args.port)
    try:
        settings = Settings()
    except ValidationError as error:
        for problem in error.errors():
            name = "NCE_" + "_".join(str(part) for part in problem["loc"]).upper()
            print(f"error: {name}: {problem['msg']}", file=sys.stderr)
        return 2

    def build_app():  # on a thread, while the port is already open: imports torch and the models
        # Adam imports torch._dynamo when the first one is built (1-3 s): here, not in the first session's start
        import torch._dynamo  # noqa: F401

        from server.app import create_app
        return create_app(settings)

    install_log_redaction()  # from the first request line on, even one answered while the app loads
    app = DeferredApp(build_app)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", **UVICORN_OPTIONS)
    return 1 if app.failure else 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer (got {text!r})") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (got {text!r})")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nce-playground", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the web app")
    serve.add_argument("--host", help="interface to bind (default 127.0.0.1, or NCE_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8000, or NCE_PORT)")
    serve.set_defaults(func=serve_command)
    run = commands.add_parser("run", help="train headless and write RESULT.json")
    run.add_argument("--config", required=True, help="JSON file of knobs (see /api/schema)")
    run.add_argument("--out", required=True, help="where to write RESULT.json")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--threads", type=_positive_int, default=None,
                     help="torch threads (default: NCE_TORCH_THREADS, else 1; tiny models gain little from more)")
    run.set_defaults(func=run_command)
    sweep = commands.add_parser("sweep", help="run an experiment (many models at once) and write SWEEP_RESULT.json")
    sweep.add_argument("--config", required=True, help="JSON file: {\"experiment\": ..., its knobs} (DESIGN.md §5)")
    sweep.add_argument("--out", required=True, help="where to write SWEEP_RESULT.json")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.add_argument("--threads", type=_positive_int, default=None,
                       help="torch threads (default: NCE_TORCH_THREADS, else 1; a big sweep gains from the cores)")
    sweep.set_defaults(func=sweep_command)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
