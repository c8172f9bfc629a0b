"""The teaching labs stay true: every lab's commands run, and every number and
answer its key states is measured again (issue #14).

A lab is `docs/labs/labN-*.md`; its commands are the lines of its ```sh
blocks, run in order with bash in a fresh directory (lab 3, which works on a
checkout, runs them at the top of the tree).  Its key, `docs/labs/answers/
labN.md`, writes each checked answer in bold followed by the check's name:

    **16**<!-- check:lab1.syscalls -->

A number is compared exactly (to the digits written), `A–B` (or `A to B`) is a
range the measured value must fall in, anything else is compared as text.
`tests/lab_checks.py` measures each name from what the commands left behind.
Every claim must have a measurement and every measurement a claim: a key
cannot say more than is checked, nor a check go unread.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
import lab_checks
from test_docs import commands as doc_commands

LABS = ROOT / "docs" / "labs"
CLAIM = re.compile(r"\*\*([^*]+?)\*\*<!-- check:([\w.-]+) -->")
RANGE = re.compile(r"^(-?[\d.]+)\s*(?:–|-|to)\s*(-?[\d.]+)$")
NUMBER = re.compile(r"^-?[\d,]*\.?\d+$")


def lab_file(n: int) -> Path:
    found = sorted(LABS.glob(f"lab{n}-*.md"))
    assert len(found) == 1, f"lab {n}: {found}"
    return found[0]


def commands(md: Path) -> list[str]:
    """The lines of the ```sh blocks (parsed as the docs' test parses them)."""
    return [text for _, text in doc_commands(md)]


def claims(n: int) -> list[tuple[str, str]]:
    return CLAIM.findall((LABS / "answers" / f"lab{n}.md").read_text())


def matches(written: str, measured) -> bool:
    """Whether the key's `written` answer agrees with the `measured` value."""
    written = written.strip()
    m = RANGE.match(written)
    if m and isinstance(measured, (int, float)):
        lo, hi = float(m.group(1)), float(m.group(2))
        return lo <= measured <= hi
    if NUMBER.match(written) and isinstance(measured, (int, float)):
        digits = written.replace(",", "")
        places = len(digits.split(".")[1]) if "." in digits else 0
        return round(float(measured), places) == float(digits)
    return written == str(measured)


def run_commands(cmds: list[str], cwd: Path) -> dict[str, subprocess.CompletedProcess]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["COLUMNS"] = "200"                       # rich tables unwrapped, as in a wide terminal
    done = {}
    for cmd in cmds:
        done[cmd] = subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env, capture_output=True,
                                   text=True, timeout=900)
    return done


LAB_NUMBERS = [1, 2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize("n", LAB_NUMBERS)
def test_the_labs_commands_run_and_their_keys_hold(n, tmp_path):
    md = lab_file(n)
    cmds = commands(md)
    assert cmds, f"{md.name} has no commands"
    cwd = ROOT if n in lab_checks.AT_TOP else tmp_path
    ran = run_commands(cmds, cwd)
    measured = lab_checks.MEASURE[n](cwd, ran, tmp_path)
    stated = claims(n)
    assert stated, f"answers/lab{n}.md states nothing checked"
    names = [name for _, name in stated]
    assert len(names) == len(set(names)), "a check is named twice in the key"
    assert set(names) == set(measured), (
        f"claimed but not measured: {sorted(set(names) - set(measured))}; "
        f"measured but not claimed: {sorted(set(measured) - set(names))}")
    wrong = [f"{name}: the key says {text!r}, measured {measured[name]!r}"
             for text, name in stated if not matches(text, measured[name])]
    assert not wrong, "\n".join(wrong)


def test_every_lab_has_a_key_and_the_index_lists_it():
    index = (LABS / "README.md").read_text()
    for n in LAB_NUMBERS:
        md = lab_file(n)
        assert md.name in index, f"docs/labs/README.md does not list {md.name}"
        assert (LABS / "answers" / f"lab{n}.md").is_file()
        text = md.read_text()
        for part in ("## Goals" if "## Goals" in text else "**Goals.**", "## Steps", "## Questions"):
            assert part in text, f"{md.name}: no {part}"


def test_a_wrong_number_in_a_key_is_caught():
    """The comparison the lab test makes, on the forms a key uses."""
    assert matches("16", 16) and not matches("17", 16)
    assert matches("1,130", 1130) and not matches("1,131", 1130)
    assert matches("1.30", 1.3) and not matches("1.31", 1.3)
    assert matches("5–15", 9.7) and not matches("5–9", 9.7)
    assert matches("1.2 to 1.4", 1.3) and not matches("1.4 to 2", 1.3)
    assert matches("trap+switch", "trap+switch") and not matches("trap", "trap+switch")
    key = "**16**<!-- check:lab1.syscalls --> and **as_switch**<!-- check:lab1.dominant -->"
    assert CLAIM.findall(key) == [("16", "lab1.syscalls"), ("as_switch", "lab1.dominant")]
