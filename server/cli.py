"""`nce-playground serve`, `nce-playground run --config CFG.json --out RESULT.json`,
`nce-playground sweep --config SWEEP.json --out SWEEP_RESULT.json` and
`nce-playground tokens --count N --out TOKENS.txt` (per-student links)."""
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
    from models.experiments import EXPERIMENTS, SweepContext, parse_sweep, predict, run_sweep

    if not _threads(args):
        return 2
    config = _load_config(args.config, parse_sweep, "sweep config")
    if config is None:
        return 2
    cost = predict(config)  # from the config alone: nothing is allocated yet
    if not args.quiet:
        print(f"{config.experiment}: {cost.summary()}", file=sys.stderr)
    if args.max_memory_mb is not None:
        problem = cost.over(args.max_memory_mb, f"--max-memory-mb allows {args.max_memory_mb:,} MB")
        if problem is not None:
            print(f"error: {problem}", file=sys.stderr)
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
    from server.connections import uvicorn_options
    from server.security import install_log_redaction
    from server.settings import Settings

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
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", **uvicorn_options(settings))
    return 1 if app.failure else 0


def tokens_command(args: argparse.Namespace) -> int:
    from urllib.parse import urlsplit

    from server.tokens import TOKEN_FILE_MODE, link_with_token, new_tokens, write_token_file

    parts = urlsplit(args.url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        print(f"error: --url must be an http:// or https:// address with a host (got {args.url!r})", file=sys.stderr)
        return 2
    tokens = new_tokens(args.count)
    try:
        write_token_file(args.out, tokens)
    except FileExistsError:
        print(f"error: --out {args.out} exists: its links may be handed out already; remove it or pick another "
              f"file", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: --out {args.out}: cannot write it: {error}", file=sys.stderr)
        return 2
    for token in tokens:
        print(link_with_token(args.url, token))
    placeholder = " and put this machine's address for HOST" if "HOST" in args.url else ""
    print(f"wrote {len(tokens)} token{'' if len(tokens) == 1 else 's'} to {args.out} (mode {TOKEN_FILE_MODE:04o}); "
          f"serve with NCE_STUDENT_TOKENS={args.out}{placeholder}", file=sys.stderr)
    return 0


def _token_count(text: str) -> int:
    from server.tokens import MAX_TOKEN_COUNT

    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 1 <= value <= MAX_TOKEN_COUNT:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_TOKEN_COUNT:,} (got {text!r})")
    return value


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
    sweep.add_argument("--config", required=True, help="JSON file: {\"experiment\": ..., its knobs} (docs/design.md §5)")
    sweep.add_argument("--out", required=True, help="where to write SWEEP_RESULT.json")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.add_argument("--threads", type=_positive_int, default=None,
                       help="torch threads (default: NCE_TORCH_THREADS, else 1; a big sweep gains from the cores)")
    sweep.add_argument("--max-memory-mb", type=_positive_int, default=None,
                       help="refuse (exit 2, naming the knobs) a sweep whose predicted peak memory is over this; "
                            "default: no bound (the prediction is printed either way, unless --quiet)")
    sweep.set_defaults(func=sweep_command)
    tokens = commands.add_parser("tokens", help="write per-student access tokens (for NCE_STUDENT_TOKENS) and "
                                                "print one link each")
    tokens.add_argument("--count", required=True, type=_token_count, help="how many tokens (one per student)")
    tokens.add_argument("--out", required=True, help="the new token file (mode 0600; an existing one is refused)")
    tokens.add_argument("--url", default="http://HOST:8000/", help="the server's address, for the links "
                                                                   "(default http://HOST:8000/)")
    tokens.set_defaults(func=tokens_command)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
