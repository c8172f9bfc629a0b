"""What `azemu sweep SPEC.toml` runs: a spec, and the points it expands to.

A spec names one azemu command, the axes of the experiment and the fixed
options; every combination of the axes' values is a point, run `repeats`
times, each run as an azemu process of its own:

    name = "scaling"
    command = "exec"                  # exec, run or bench
    program = "syscall_threads"       # exec: the program; run: the machine; bench: getpid or boot
    args = ["{cores}", "{iters}"]     # {axis} is replaced by the point's value
    repeats = 2
    workers = 1                       # optional: points at a time here (default: the CPUs)

    [axes]
    mode = ["linux", "lwk"]
    cores = [1, 2]
    iters = [200]

    [options]
    deterministic = true

An axis or option that names an option of the command (`mode`, `cores`,
`mem`, `fwk-wait`, `iterations` ...) is passed as that option; other axes
only fill `{name}` in `args`.  A point's key is a digest of what it runs, so
a results file can be resumed: a point whose key is there is not run again.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

COMMANDS = ("exec", "run", "bench")
MEASURES = ("wall", "cpu", "status", "digest", "counters", "modelled")
COUNTED = ("counters", "modelled")          # only `exec` counts kernel events


class SpecError(Exception):
    """A spec that cannot be run: the message says what and where."""


@dataclass(frozen=True)
class Point:
    values: dict                 # axis -> value
    repeat: int
    argv: tuple                  # azemu's arguments (after `azemu`)
    key: str


@dataclass
class Spec:
    name: str
    command: str
    program: str
    args: list
    repeats: int
    axes: dict
    options: dict
    measures: list
    timeout: float
    workers: int | None = None     # points at a time on the local pool (1: timings undisturbed)
    source: str = ""
    points: list = field(default_factory=list)


def _option_names(command: str) -> dict[str, str]:
    """The long options of `azemu COMMAND`, by name with '-' and '_' alike."""
    from .cli import build_parser
    sub = build_parser(command).command_parsers[command]
    out = {}
    for action in sub._actions:
        for opt in action.option_strings:
            if opt.startswith("--"):
                out[opt[2:].replace("-", "_")] = opt
    return out


def _flag(opt: str, value) -> list[str]:
    if value is True:
        return [opt]
    if value is False or value is None:
        return []
    return [opt, str(value)]


def load(path: str | Path) -> Spec:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise SpecError(f"{path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{path}: not TOML: {e}") from None
    return parse(data, str(path))


def parse(data: dict, source: str = "spec") -> Spec:
    def need(key, kind, default=None):
        v = data.get(key, default)
        if v is None or not isinstance(v, kind):
            raise SpecError(f"{source}: `{key}` must be {kind.__name__ if isinstance(kind, type) else 'set'}")
        return v
    known = {"name", "command", "program", "args", "repeats", "axes", "options", "measures", "timeout",
             "workers"}
    unknown = set(data) - known
    if unknown:
        raise SpecError(f"{source}: unknown keys {sorted(unknown)} (known: {sorted(known)})")
    command = need("command", str, "exec")
    if command not in COMMANDS:
        raise SpecError(f"{source}: command {command!r}: one of {', '.join(COMMANDS)}")
    axes = need("axes", dict, {})
    for name, values in axes.items():
        if not isinstance(values, list) or not values:
            raise SpecError(f"{source}: axis `{name}` must be a non-empty list")
    measures = need("measures", list, list(MEASURES if command == "exec" else
                                           [m for m in MEASURES if m not in COUNTED]))
    bad = [m for m in measures if m not in MEASURES]
    if bad:
        raise SpecError(f"{source}: unknown measures {bad} (known: {', '.join(MEASURES)})")
    if command != "exec" and any(m in COUNTED for m in measures):
        raise SpecError(f"{source}: counters and modelled time are kept for `exec` only")
    repeats = need("repeats", int, 1)
    if repeats < 1:
        raise SpecError(f"{source}: `repeats` must be 1 or more")
    spec = Spec(name=need("name", str, Path(source).stem), command=command,
                program=need("program", str), args=[str(a) for a in need("args", list, [])],
                repeats=repeats, axes=axes, options=need("options", dict, {}), measures=measures,
                timeout=float(need("timeout", (int, float), 600)), source=source,
                workers=data.get("workers"))
    if spec.workers is not None and (not isinstance(spec.workers, int) or spec.workers < 1):
        raise SpecError(f"{source}: `workers` must be a whole number, 1 or more")
    spec.points = expand(spec)
    return spec


def expand(spec: Spec) -> list[Point]:
    """Every point of the spec, repeats included, in a stable order."""
    opts = _option_names(spec.command)
    for name in spec.options:
        if name.replace("-", "_") not in opts:
            raise SpecError(f"{spec.source}: option `{name}` is not an option of azemu {spec.command}")
    names = list(spec.axes)
    points = []
    for combo in itertools.product(*(spec.axes[n] for n in names)):
        values = dict(zip(names, combo))
        argv = [spec.command]
        for name, value in list(spec.options.items()) + list(values.items()):
            opt = opts.get(name.replace("-", "_"))
            if opt is not None:
                argv += _flag(opt, value)
        if spec.command == "exec" and ("counters" in spec.measures or "modelled" in spec.measures):
            argv += ["--stats-json", "{stats}"]
        try:
            args = [a.format(**values) for a in spec.args]
        except KeyError as e:
            raise SpecError(f"{spec.source}: args name {{{e.args[0]}}}, which is no axis") from None
        argv += [spec.program, *args]
        for r in range(spec.repeats):
            key = hashlib.sha256(json.dumps([spec.name, argv, r]).encode()).hexdigest()[:16]
            points.append(Point(values, r, tuple(argv), key))
    return points
