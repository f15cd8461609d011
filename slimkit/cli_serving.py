"""``slimkit serve`` and ``slimkit loadtest``: flags from ``serving.config``, work in ``serving``."""

from __future__ import annotations

import argparse
from typing import Any

from slimkit.cli_flags import add_model_flags, model_flags


def add_serving_commands(commands: Any) -> None:
    from serving.config import LoadtestConfig, ServeConfig

    serve = commands.add_parser("serve", help="serve a variant folder over HTTP (dynamic batching)")
    serve.add_argument("folder", help="a finished variant, e.g. runs/<recipe>/best")
    add_model_flags(serve, ServeConfig)
    loadtest = commands.add_parser("loadtest", help="replay real texts against a running server")
    loadtest.add_argument("url", help="the server, e.g. http://127.0.0.1:8000")
    loadtest.add_argument("--out", help="write the result as JSON here")
    loadtest.add_argument("--report", help="add the result as the `serving` section of this "
                          "benchmark report.json (slimkit compare gates it)")
    loadtest.add_argument("--name", default="default", help="key of the result in that section")
    add_model_flags(loadtest, LoadtestConfig)


def serve_command(args: argparse.Namespace) -> int:
    from serving.config import ServeConfig
    from slimkit.recipe import parse_model
    from slimkit.runtime import require

    require("fastapi", "serve")
    require("uvicorn", "serve")
    cfg = parse_model(ServeConfig, model_flags(args, ServeConfig), file="slimkit serve")
    from serving.app import serve

    serve(args.folder, cfg)
    return 0


def loadtest_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from benchmarks.report import add_serving
    from benchmarks.serving import markdown
    from serving.config import LoadtestConfig
    from serving.loadtest import loadtest
    from slimkit import atomic
    from slimkit.recipe import parse_model
    from slimkit.runtime import require

    require("aiohttp", "serve")
    cfg = parse_model(LoadtestConfig, model_flags(args, LoadtestConfig), file="slimkit loadtest")
    result = loadtest(args.url, cfg)
    if args.out:
        atomic.write_json(Path(args.out), result)
    if args.report:
        add_serving(Path(args.report), args.name, result)
    print(markdown({args.name: result}))
    return 0 if result["ok"] else 1
