"""``slimkit`` command line: validate, run, list-stages."""

from __future__ import annotations

import argparse
import contextlib
import logging
import shlex
import signal
import sys
import threading
import time
import types
import typing
from collections.abc import Iterator
from typing import Any

from slimkit.errors import SlimkitError

log = logging.getLogger("slimkit")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slimkit", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    commands = parser.add_subparsers(dest="command", required=True)
    _run_commands(commands)
    _measure_commands(commands)
    from slimkit.cli_serving import add_serving_commands

    add_serving_commands(commands)
    return parser


def _run_commands(commands: Any) -> None:
    validate = commands.add_parser("validate", help="check a recipe, its data and its model config")
    validate.add_argument("recipe")
    run = commands.add_parser("run", help="run a recipe's stages, resuming finished ones")
    run.add_argument("recipe")
    run.add_argument("--out", help="output folder (default: the recipe's output_dir, 'runs')")
    run.add_argument("--force", action="store_true", help="redo finished stages too")
    run.add_argument("--seed", type=int, help="the recipe's seed, for a seed study (default: its "
                     "'seed'); pair it with --out so each seed keeps its own folder")
    commands.add_parser("list-stages", help="every registered stage and its fields")


def _measure_commands(commands: Any) -> None:
    from slimkit.cli_flags import add_model_flags
    from slimkit.settings import BenchmarkConfig, Tolerances

    bench = commands.add_parser("bench", help="measure every variant x backend x device of a run")
    bench.add_argument("run_dir")
    bench.add_argument("--recipe", help="take the settings from this recipe's benchmark: block")
    bench.add_argument("--out", help="folder for report.json / .md / pareto.png (default: RUN_DIR)")
    add_model_flags(bench, BenchmarkConfig, skip=("publish",))
    profile = commands.add_parser("profile", help="where one call's time goes, per operator kind")
    profile.add_argument("run_dir")
    profile.add_argument("--variants", nargs="+", required=True)
    profile.add_argument("--batch-size", type=int, default=1)
    profile.add_argument("--seq-len", type=int, default=64)
    profile.add_argument("--threads", type=int, help="default: the physical cores")
    profile.add_argument("--calls", type=int, default=50, help="profiled calls per variant")
    profile.add_argument("--warmup", type=int, default=10)
    profile.add_argument("--out", help="folder for profile.json / profile.md (default: RUN_DIR)")
    report = commands.add_parser("report", help="rebuild report.md and pareto.png from report.json")
    report.add_argument("report", help="a report.json or the folder holding it")
    compare = commands.add_parser("compare", help="fail when NEW regressed against BASELINE")
    compare.add_argument("new")
    compare.add_argument("baseline")
    compare.add_argument("--tolerances", help="YAML of per-metric limits (see benchmarks/REPORT.md)")
    compare.add_argument("--format", choices=("markdown", "json", "junit", "github"),
                         default="markdown", help="markdown table and one line per failure; JSON; "
                         "JUnit XML; GitHub Actions ::error annotations + job summary")
    add_model_flags(compare, Tolerances)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for reports: how they were made
    _configure_output(args)
    with _sigterm_as_interrupt():
        return _run_command(args)


def _run_command(args: argparse.Namespace) -> int:
    try:
        return _COMMANDS[args.command](args)
    except SlimkitError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # the reader (head, less) stopped reading: nothing of ours failed
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a full disk, a read-only or missing output folder: where, and why
        if args.debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc} (free space or choose a writable --out; "
              "finished variants are kept)", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print("interrupted: finished stages are kept; run again to resume" if args.command == "run"
              else f"interrupted: slimkit {args.command} writes its results only when it finishes",
              file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a CI job's timeout, a container stopping) ends a command as Ctrl-C does:
    the stack unwinds, so the run lock and temporary folders are cleaned up and one line says so.
    Python's default for SIGTERM is to die at once, silently."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Route SIGTERM to `Terminated` while a command runs, then restore the caller's handler.
    Python lets only the main thread set handlers: `main()` called from another thread (a caller's
    worker) keeps the process's own handling instead of failing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# Third-party messages that tell a slimkit user nothing they can act on; --debug shows them.
_QUIET_LOGGERS = ("torchao", "torch.utils._pytree", "onnxscript", "nncf", "neural_compressor",
                  "optimum", "transformers")
_QUIET_WARNINGS = (r".*(pytree|torch\.compile|TorchScript|deprecated|Deprecat).*",)
_QUIET_MODULES = r"(torch|torchao|transformers|optimum|nncf|onnxscript|onnxruntime|accelerate|" \
                 r"neural_compressor)(\.|$)"


def _configure_output(args: argparse.Namespace) -> None:
    """Our INFO lines unless --quiet; libraries' warnings and progress bars off unless --debug."""
    import os
    import warnings

    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    # in a multi-process launch the other processes repeat the main one's lines: warnings only
    from slimkit.launch import is_main_launch_process

    quiet = args.quiet or not is_main_launch_process()
    for ours in ("slimkit", "compress", "export", "benchmarks", "serving"):
        logging.getLogger(ours).setLevel(logging.WARNING if quiet else logging.INFO)
    if args.debug:
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # "Writing model shards" per save
    os.environ.setdefault("TORCH_LOGS", "-onnx")  # torch resets its loggers' levels on import
    # transformers too: its load report (a base model's new classifier is "MISSING") is a warning
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for pattern in _QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    warnings.filterwarnings("ignore", module=_QUIET_MODULES)


def _validate(args: argparse.Namespace) -> int:
    from slimkit.planning import plan
    from slimkit.runner import build_registry

    started = time.perf_counter()
    planned = plan(args.recipe, build_registry())
    # each stage's parent shown: a stage without one continues from the stage above it
    names = ", ".join(f"{c.variant_name} ({c.kind} from {planned.parent_of(i)})"
                      for i, c in enumerate(planned.stages))
    print(f"{args.recipe}: ok in {time.perf_counter() - started:.2f}s: {len(planned.splits.train)} "
          f"train / {len(planned.splits.eval)} eval rows, labels {planned.splits.train.label_names}; "
          f"stages: {names}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from slimkit.planning import plan
    from slimkit.recipe import Recipe, parse_model
    from slimkit.runner import build_registry, execute

    registry = build_registry()
    planned = plan(args.recipe, registry)
    if args.seed is not None:  # part of every stage's fingerprint: a new seed reruns them all
        planned.recipe = parse_model(Recipe, {**planned.recipe.model_dump(), "seed": args.seed},
                                     file="--seed")
    started = time.perf_counter()
    manifests = execute(planned, registry, out_dir=args.out, force=args.force)
    print(_table(manifests))
    print(f"done in {time.perf_counter() - started:.0f}s")
    return 0


def _table(manifests: list[dict[str, Any]]) -> str:
    lines = [f"{'variant':<20} {'stage':<12} {'accuracy':>9} {'f1':>7} {'params':>11} {'MB':>7}"]
    for m in manifests:
        metrics = m.metrics or {}
        acc, f1 = metrics.get("accuracy"), metrics.get("f1")
        lines.append(f"{m.variant:<20} {m.stage:<12} "
                     f"{'-' if acc is None else f'{acc:.4f}':>9} {'-' if f1 is None else f'{f1:.4f}':>7} "
                     f"{m.parameters or 0:>11,} {m.size_bytes / 1e6:>7.1f}")
    return "\n".join(lines)


def _list_stages(args: argparse.Namespace) -> int:
    from slimkit.runner import build_registry

    registry = build_registry()
    for kind in registry.kinds():
        cls = registry.config_class(kind, field_name="kind")
        print(f"{kind}: {(cls.__doc__ or '').strip().splitlines()[0]}")
        _print_fields(cls, "    ")
    return 0


def _print_fields(cls: Any, indent: str) -> None:
    """One line per field; a nested block (``augment:``, ``fake_quant:``) lists its own below."""
    from pydantic import BaseModel

    for name, info in cls.model_fields.items():
        if name == "kind":
            continue
        default = "required" if info.is_required() else \
            f"default {info.get_default(call_default_factory=True, validated_data={})!r}"
        note = f"  {info.description}" if info.description else ""
        print(f"{indent}{name}: {_type_name(info.annotation)} ({default}){note}")
        for inner in typing.get_args(info.annotation) or (info.annotation,):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                _print_fields(inner, indent + "    ")


def _type_name(annotation: Any) -> str:
    """'float | None', "'accuracy' | 'f1'": readable field types for list-stages."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in args)}]"
    return "None" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def _bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from benchmarks.harness import bench
    from benchmarks.report import MARKDOWN
    from slimkit.cli_flags import model_flags
    from slimkit.recipe import load_recipe, parse_model
    from slimkit.run_lock import run_lock
    from slimkit.settings import BenchmarkConfig

    settings: dict[str, Any] = {}
    if args.recipe:
        block = load_recipe(args.recipe).benchmark
        settings = block.model_dump(exclude_unset=True) if block else {}
    settings.update(model_flags(args, BenchmarkConfig))
    cfg = parse_model(BenchmarkConfig, settings, file=args.recipe or "slimkit bench",
                      prefix="benchmark" if args.recipe else "")
    out = Path(args.out or args.run_dir)
    command = shlex.join(["slimkit", *args.argv])
    with run_lock(out, command):
        report = bench(Path(args.run_dir), cfg, out_dir=out, progress=not args.quiet,
                       extra={"command": command})
    print((out / MARKDOWN).read_text(encoding="utf-8"))
    failed = [r for r in report["rows"] if r.get("status") == "failed"]
    if report["rows"] and len(failed) == len(report["rows"]):  # nothing measured: not a pass
        print(f"error: every measurement failed; the first: {failed[0]['variant']}/"
              f"{failed[0]['backend']}: {failed[0].get('reason', '')}", file=sys.stderr)
        return 1
    return 0


def _profile(args: argparse.Namespace) -> int:
    from pathlib import Path

    from benchmarks.profile import markdown, profile_run
    from slimkit import atomic
    from slimkit.errors import RecipeError
    from slimkit.launch import physical_cores

    for flag in ("batch_size", "seq_len", "calls", "threads"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise RecipeError(f"{value} is not a count", file="slimkit profile",
                              field=f"--{flag.replace('_', '-')}", fix="use 1 or more")
    result = profile_run(Path(args.run_dir), args.variants, batch_size=args.batch_size,
                         seq_len=args.seq_len, threads=args.threads or physical_cores(),
                         calls=args.calls, warmup=args.warmup)
    result["command"] = shlex.join(["slimkit", *args.argv])
    out = Path(args.out or args.run_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_json(out / "profile.json", result)
    atomic.write_text(out / "profile.md", markdown(result))
    print(markdown(result))
    return 0


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from benchmarks.report import REPORT, load_report, render

    path = Path(args.report)
    folder = path if path.is_dir() else path.parent
    report = load_report(path)
    published = not path.is_dir() and path.name != REPORT  # benchmarks/results/<name>.json
    print(render(report, folder, path.stem if published else None).read_text(encoding="utf-8"))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from benchmarks.compare import compare, load_tolerances, skipped
    from benchmarks.gate_output import refuse_incomparable, render
    from benchmarks.report import load_report
    from slimkit.cli_flags import model_flags
    from slimkit.settings import Tolerances

    tolerances = load_tolerances(args.tolerances, **model_flags(args, Tolerances))
    new, baseline = load_report(args.new), load_report(args.baseline)
    refuse_incomparable(new, baseline)
    checks = compare(new, baseline, tolerances)
    print(render(checks, args.format, skipped(new, baseline, tolerances)))
    return 1 if any(c.failed for c in checks) else 0


def _serve(args: argparse.Namespace) -> int:
    from slimkit.cli_serving import serve_command

    return serve_command(args)


def _loadtest(args: argparse.Namespace) -> int:
    from slimkit.cli_serving import loadtest_command

    return loadtest_command(args)


_COMMANDS = {"validate": _validate, "run": _run, "list-stages": _list_stages, "bench": _bench,
             "profile": _profile, "report": _report, "compare": _compare, "serve": _serve,
             "loadtest": _loadtest}

if __name__ == "__main__":
    sys.exit(main())
