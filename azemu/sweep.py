"""`azemu sweep SPEC.toml`: an experiment matrix, one azemu process a point.

The spec (azemu/sweep_spec.py) expands to points; the engine
(azemu/sweep_engines.py: the local pool, or a Dask cluster with --cluster)
runs each where it can (azemu/sweep_point.py measures it there); each record
is appended to the sweep's JSON-lines file as soon as it comes back:

    {"sweep": "scaling", "key": "...", "point": {"mode": "lwk", "cores": 2}, "repeat": 0,
     "argv": [...], "engine": "local", "status": 0, "wall_s": ..., "cpu_s": ...,
     "stdout_sha256": ..., "counters": {...}, "modelled_ns": ..., "modelled_ns_per_call": ...,
     "host": {...}, "azemu": "0.1.0", "calibration": {...}, "finished": "..."}

A rerun reads the file and runs only the points whose key is not there, so an
interrupted sweep goes on where it stopped.  After the run — or alone, with
--report — azemu/sweep_report.py turns the records into tables and a plot.
"""
from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from . import resources
from .sweep_spec import SpecError, load

SHIP_LIMIT = 64 << 20            # a program file travels with its points up to this size


def spec_path(name: str) -> Path:
    """A spec file, or the name of a spec azemu ships (`azemu sweep scaling`)."""
    path = Path(name)
    if path.is_file() or os.sep in name or name.endswith(".toml"):
        return path
    shipped = resources.data_dir() / "sweeps" / f"{name}.toml"
    return shipped if shipped.is_file() else path


def read_results(path: Path) -> list[dict]:
    """The records of a results file; a line cut short by an interruption is skipped."""
    out = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and "key" in rec:
                out.append(rec)
    return out


def _payload(spec, point, shipped: dict | None) -> dict:
    return {"argv": list(point.argv), "measures": spec.measures, "timeout": spec.timeout,
            "program": shipped, "key": point.key}


def _shipped_program(spec, shared: bool):
    """The program's bytes, when it is a file here and the workers may not see it."""
    if shared or spec.command != "exec":
        return None
    path = Path(spec.program)
    if not path.is_file():
        return None                               # a shipped example or a name in PATH: the worker's own
    if path.stat().st_size > SHIP_LIMIT:
        raise SpecError(f"{spec.program}: larger than {SHIP_LIMIT >> 20} MiB: put it on a path the "
                        "workers share and give --shared-files")
    return {"arg": spec.program, "data": base64.b64encode(path.read_bytes()).decode()}


def run_sweep(spec, out: Path, engine, console: Console, shared_files: bool = True) -> tuple[int, int]:
    """Run the points of `spec` not yet in `out`; returns (run now, failed)."""
    done = {r["key"] for r in read_results(out)}
    todo = [p for p in spec.points if p.key not in done]
    by_key = {p.key: p for p in todo}
    shipped = _shipped_program(spec, shared_files)
    if todo and "modelled" in spec.measures and engine.name == "local":
        from .calibrate import load_or_measure
        load_or_measure()                          # once, before the points need it at once
    failed = 0
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("points"), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn())
    if out.exists() and out.stat().st_size and not out.read_bytes().endswith(b"\n"):
        with open(out, "a") as f:
            f.write("\n")                          # a line cut short stays apart from the next
    with Progress(*columns, console=console, transient=False) as progress, open(out, "a") as f:
        task = progress.add_task(f"{spec.name} ({engine.name})", total=len(spec.points),
                                 completed=len(spec.points) - len(todo))
        for payload, record in engine.run([_payload(spec, p, shipped) for p in todo]):
            point = by_key[payload["key"]]
            rec = {"sweep": spec.name, "key": point.key, "point": point.values, "repeat": point.repeat,
                   "argv": list(point.argv), "engine": engine.name, **record}
            f.write(json.dumps(rec) + "\n")
            f.flush()
            failed += rec["status"] != 0
            progress.advance(task)
    return len(todo), failed


def cmd_sweep(args) -> int:
    from .sweep_report import report
    console = Console(file=sys.stderr)
    if args.list:
        for path in sorted((resources.data_dir() / "sweeps").glob("*.toml")):
            print(f"{path.stem:16} {path}")
        return 0
    if not args.spec:
        print("azemu sweep: give a SPEC.toml (or a shipped spec's name: azemu sweep --list)", file=sys.stderr)
        return 2
    try:
        spec = load(spec_path(args.spec))
    except SpecError as e:
        print(f"azemu sweep: {e}", file=sys.stderr)
        return 2
    out = Path(args.out or f"{spec.name}.jsonl")
    if not args.report:
        if args.fresh and out.exists():
            out.unlink()
        try:
            engine = _engine(args, spec)
        except RuntimeError as e:
            print(f"azemu sweep: {e}", file=sys.stderr)
            return 2
        try:
            ran, failed = run_sweep(spec, out, engine, console, shared_files=args.shared_files
                                    or engine.name == "local")
        except SpecError as e:
            print(f"azemu sweep: {e}", file=sys.stderr)
            return 2
        finally:
            getattr(engine, "close", lambda: None)()
        console.print(f"{ran} points run now, {len(spec.points) - ran} were in {out} already"
                      + (f"; {failed} ended with a non-zero status" if failed else ""))
    records = [r for r in read_results(out) if r.get("sweep") == spec.name]
    if not records:
        print(f"azemu sweep: {out}: no results of {spec.name} yet", file=sys.stderr)
        return 1
    report(spec, records, Console(width=max(120, 14 * (len(spec.axes) + 9))), plot=args.plot)
    return 0


def _engine(args, spec):
    if args.cluster:
        from .sweep_engines import DaskCluster
        return DaskCluster(args.cluster, args.worker_command, args.connect_timeout)
    from .sweep_engines import LocalPool
    if args.workers is not None and args.workers < 1:
        raise RuntimeError(f"--workers {args.workers}: must be 1 or more")
    return LocalPool(args.workers or spec.workers)
