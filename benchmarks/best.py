"""Publish the search's pick: recorded in the run's report (and its bold row) and copied, with its
manifest, to ``runs/<recipe>/best``."""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks.report import REPORT, best_entry, load_report, render
from benchmarks.search import pick
from slimkit import atomic
from slimkit.settings import SearchConfig

log = logging.getLogger(__name__)
BEST = "best"


def apply_search(run_dir: Path, cfg: SearchConfig) -> dict[str, Any]:
    """Pick from the run's report, record it there, and publish ``best``."""
    report = load_report(run_dir / REPORT)
    result = pick(report, cfg)
    if report.get("search") == result and (result["pick"] is None or (run_dir / BEST).is_dir()):
        return result  # already applied to this report
    report["search"] = result
    best = report.setdefault("best", {})  # the bold row is the published one, or none
    if result["pick"] is None:
        best.pop(cfg.device, None)
    else:
        best[cfg.device] = best_entry(result)
    atomic.write_json(run_dir / REPORT, report)
    render(report, run_dir)
    if result["pick"] is None:
        log.warning("search: %s", result["why"])
        return result
    publish(run_dir, result)
    chosen = result["pick"]
    log.info("search: best is %s, %.1fx faster than the reference at %s %.4f",
             chosen["id"], chosen["speedup"], cfg.metric, chosen[cfg.metric])
    return result


def publish(run_dir: Path, result: dict[str, Any]) -> Path:
    """Copy the picked variant's folder (manifest included) to ``best``, atomically."""
    source = run_dir / result["pick"]["variant"]

    def fill(tmp: Path) -> None:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
        atomic.write_json(tmp / "best.json", {**result, "created": datetime.now(timezone.utc)
                                              .isoformat(timespec="seconds")})

    atomic.replace_folder(run_dir / BEST, fill)
    return run_dir / BEST
