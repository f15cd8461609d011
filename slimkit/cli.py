"""``slimkit`` command line: validate, run, list-stages."""

from __future__ import annotations

import argparse
import logging
import sys
import time
import types
import typing
from typing import Any

from slimkit.errors import SlimkitError

log = logging.getLogger("slimkit")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slimkit", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check a recipe, its data and its model config")
    validate.add_argument("recipe")
    run = commands.add_parser("run", help="run a recipe's stages, resuming finished ones")
    run.add_argument("recipe")
    run.add_argument("--out", help="output folder (default: the recipe's output_dir, 'runs')")
    run.add_argument("--force", action="store_true", help="redo finished stages too")
    commands.add_parser("list-stages", help="every registered stage and its fields")
    bench = commands.add_parser("bench", help="time every variant of a run against a reference")
    bench.add_argument("run_dir")
    bench.add_argument("--reference", default="teacher")
    bench.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    bench.add_argument("--seq", type=int, nargs="+", default=[64, 128])
    bench.add_argument("--rounds", type=int, default=10)
    bench.add_argument("--per-round", type=int, default=10)
    bench.add_argument("--only", nargs="+", help="variant names to time (and the reference)")
    bench.add_argument("--json", help="write the report here as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for ours in ("slimkit", "compress", "export", "benchmarks"):  # libraries' INFO stays quiet
        logging.getLogger(ours).setLevel(logging.WARNING if args.quiet else logging.INFO)
    logging.getLogger("torchao").setLevel(logging.ERROR)  # import-time noise about GPU kernels
    try:
        return _COMMANDS[args.command](args)
    except SlimkitError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: finished stages are kept; run again to resume", file=sys.stderr)
        return 130


def _validate(args: argparse.Namespace) -> int:
    from slimkit.runner import build_registry, plan

    started = time.perf_counter()
    planned = plan(args.recipe, build_registry())
    names = ", ".join(f"{c.variant_name} ({c.kind})" for c in planned.stages)
    print(f"{args.recipe}: ok in {time.perf_counter() - started:.2f}s: {len(planned.splits.train)} "
          f"train / {len(planned.splits.eval)} eval rows, labels {planned.splits.train.label_names}; "
          f"stages: {names}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from slimkit.runner import build_registry, execute, plan

    registry = build_registry()
    planned = plan(args.recipe, registry)
    started = time.perf_counter()
    manifests = execute(planned, registry, out_dir=args.out, force=args.force)
    print(_table(manifests))
    print(f"done in {time.perf_counter() - started:.0f}s")
    return 0


def _table(manifests: list[dict[str, Any]]) -> str:
    lines = [f"{'variant':<20} {'stage':<12} {'accuracy':>9} {'f1':>7} {'params':>11} {'MB':>7}"]
    for m in manifests:
        metrics = m.get("metrics") or {}
        acc, f1 = metrics.get("accuracy"), metrics.get("f1")
        lines.append(f"{m['variant']:<20} {m['stage']:<12} "
                     f"{'-' if acc is None else f'{acc:.4f}':>9} {'-' if f1 is None else f'{f1:.4f}':>7} "
                     f"{m.get('parameters') or 0:>11,} {m.get('size_bytes', 0) / 1e6:>7.1f}")
    return "\n".join(lines)


def _list_stages(args: argparse.Namespace) -> int:
    from slimkit.runner import build_registry

    registry = build_registry()
    for kind in registry.kinds():
        cls = registry.config_class(kind, field_name="kind")
        print(f"{kind}: {(cls.__doc__ or '').strip().splitlines()[0]}")
        for name, info in cls.model_fields.items():
            if name == "kind":
                continue
            default = "required" if info.is_required() else f"default {info.default!r}"
            note = f"  {info.description}" if info.description else ""
            print(f"    {name}: {_type_name(info.annotation)} ({default}){note}")
    return 0


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

    from benchmarks.harness import bench, table
    from slimkit.artifacts import write_json_atomic

    report = bench(Path(args.run_dir), reference=args.reference, batch_sizes=args.batch,
                   seq_lens=args.seq, rounds=args.rounds, per_round=args.per_round, only=args.only)
    if args.json:
        write_json_atomic(Path(args.json), report)
    print(table(report))
    return 0


_COMMANDS = {"validate": _validate, "run": _run, "list-stages": _list_stages, "bench": _bench}

if __name__ == "__main__":
    sys.exit(main())
