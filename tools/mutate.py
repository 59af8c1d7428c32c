"""`make mutate`: mutation testing of the modules that hold the product's guarantees.

Each module is mutated by cosmic-ray's operators (one small change at a time: an operator, a
constant, a comparison, a removed call) and every test that runs the mutated line is run against
the mutant; a mutant none of them catches "survives". Which tests run which line comes from one
run of the whole suite under coverage with a context per test, also in the processes tests start
(cached in `.mutate/` for the commit it was made at), so a module is guarded by all its tests,
wherever they live and however they run it, and each mutant costs only the tests that can see it.

It runs in a throwaway copy of the tracked files (the checkout is never left mutated), outside
`make test`, within a time budget: mutants are drawn at random (seeded) in turn from every module
until the budget is spent, and the score is reported per guarantee and per module, with every
surviving mutant (file, line, operator, diff) written to `.mutate/survivors.txt`.

    python tools/mutate.py                       # every module below, 50 minutes
    python tools/mutate.py --minutes 10 client   # some of them
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".mutate"
# The README's guarantees, each with the modules that hold it.
GUARANTEES = {
    "exactly once": {
        "client": "uploader/send/client.py",
        "flow": "uploader/send/flow.py",
        "journal": "uploader/send/journal.py",
        "pipeline": "uploader/pipeline.py",
    },
    "values sent as the file meant": {
        "normalize": "uploader/check/normalize.py",
        "profiles": "uploader/check/profiles.py",
        "mapping": "uploader/check/mapping.py",
    },
    "results and exit codes": {
        "results": "uploader/report/results.py",
    },
    "safety": {
        "files": "uploader/report/files.py",
        "settings": "uploader/settings.py",
        "textsafe": "uploader/textsafe.py",
        "ui-server": "uploader/ui/server.py",
    },
}
MODULES = {name: path for modules in GUARANTEES.values() for name, path in modules.items()}
# Lines are attributed to the test running them (tools/testcontext.py), in the tests' own process
# and in every Python process a test starts (the command line, the page's server, which the
# browser tests run as subprocesses and stop with SIGTERM).
COVERAGE_RC = """[run]
plugins = tools.testcontext
source = uploader
relative_files = true
parallel = true
patch = subprocess
sigterm = true
"""
TEST_TIMEOUT = 300.0
JUDGED = ("killed", "survived", "uncovered")  # an incompetent mutant (cannot run) is not judged


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"some of: {', '.join(MODULES)}")
    parser.add_argument("--minutes", type=float, default=50.0, help="time budget (default 50)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    unknown = set(args.modules) - set(MODULES)
    if unknown:
        parser.error(f"unknown module(s): {', '.join(sorted(unknown))}")
    names = args.modules or list(MODULES)
    deadline = time.monotonic() + args.minutes * 60
    STATE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="invoca-mutate-") as tmp:
        copy = _copy_tree(Path(tmp) / "tree")
        # the copy's package, not the checkout's (the venv's editable install points there), in
        # the tests and in every process they start
        os.environ["PYTHONPATH"] = str(copy)
        guards = _guards(copy)
        mutants = {name: _mutants(copy, MODULES[name], Path(tmp)) for name in names}
        results = _run(copy, mutants, guards, deadline, random.Random(args.seed))
    _report(results, names)
    return 0


def _copy_tree(copy: Path) -> Path:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, copy / name)
    return copy


def _guards(copy: Path) -> dict[str, dict[int, list[str]]]:
    """file -> line -> the pytest node ids of the tests that ran it: from the whole suite under
    coverage, once per commit."""
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    cached = STATE / f"guards-{head}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    print("mapping lines to tests: the whole suite under coverage (once per commit) ...")
    (copy / ".coveragerc-mutate").write_text(COVERAGE_RC)
    subprocess.run(
        [sys.executable, "-m", "coverage", "run", "--rcfile=.coveragerc-mutate", "-m", "pytest"]
        + ["-q", "-p", "no:cacheprovider", "tests"],
        cwd=copy,
        check=False,  # a failing test still maps the lines it ran
    )
    subprocess.run(
        [sys.executable, "-m", "coverage", "combine", "--rcfile=.coveragerc-mutate", "-q"],
        cwd=copy,
        check=True,
    )
    import coverage

    data = coverage.CoverageData(str(copy / ".coverage"))
    data.read()
    guards: dict[str, dict[int, list[str]]] = {}
    for measured in data.measured_files():
        relative = _relative(Path(measured).resolve(), copy.resolve())
        if relative is None:
            continue
        lines: dict[int, list[str]] = {}
        for line, contexts in (data.contexts_by_lineno(measured) or {}).items():
            found = sorted({context for context in contexts if context.startswith("tests/")})
            if found:
                lines[line] = found
        guards[relative] = lines
    cached.write_text(json.dumps(guards))
    return guards


def _relative(path: Path, copy: Path) -> str | None:
    for base in (copy, ROOT):
        if path.is_relative_to(base):
            return path.relative_to(base).as_posix()
    return None


def _mutants(copy: Path, module: str, tmp: Path) -> list[dict]:
    """Every mutation cosmic-ray's operators make in the module."""
    config = tmp / f"{Path(module).stem}.toml"
    session = tmp / f"{Path(module).stem}.sqlite"
    config.write_text(
        f'[cosmic-ray]\nmodule-path = "{module}"\ntimeout = {TEST_TIMEOUT}\n'
        'excluded-modules = []\ntest-command = "true"\n'
        '[cosmic-ray.distributor]\nname = "local"\n'
    )
    subprocess.run(
        [sys.executable, "-m", "cosmic_ray.cli", "init", str(config), str(session)],
        cwd=copy,
        check=True,
    )
    with sqlite3.connect(session) as db:
        rows = db.execute(
            "SELECT module_path, operator_name, occurrence, start_pos_row, start_pos_col,"
            " end_pos_row, end_pos_col, operator_args FROM mutation_specs"
        ).fetchall()
    spans = _annotations(copy / module)
    return [
        {
            "module": row[0],
            "operator": row[1],
            "occurrence": row[2],
            "start": (row[3], row[4]),
            "end": (row[5], row[6]),
            "args": _operator_args(row[7]),
        }
        for row in rows
        if not _inside((row[3], row[4]), spans)
    ]


def _annotations(path: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where the module's type annotations are: with `from __future__ import annotations` they
    are never evaluated, so a mutant inside one cannot change what the program does."""
    import ast

    spans = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        found = []
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
            found.append(node.annotation)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
            found.append(node.returns)
        for annotation in found:
            start = (annotation.lineno, annotation.col_offset)
            end = (annotation.end_lineno or annotation.lineno, annotation.end_col_offset or 0)
            spans.append((start, end))
    return spans


def _inside(position: tuple[int, int], spans) -> bool:  # type: ignore[no-untyped-def]
    return any(start <= position < end for start, end in spans)


def _operator_args(stored: object) -> dict:
    """cosmic-ray keeps an operator's arguments as JSON text of JSON text."""
    while isinstance(stored, str):
        stored = json.loads(stored)
    return stored if isinstance(stored, dict) else {}


def _run(copy, mutants, guards, deadline, rng) -> dict[str, list[dict]]:
    """Mutants drawn in turn from each module until the budget is spent; each judged by the
    tests that run its lines (none: it survives as uncovered)."""
    from cosmic_ray.mutating import mutate_and_test
    from cosmic_ray.work_item import MutationSpec

    for found in mutants.values():
        rng.shuffle(found)
    cost = _costs(guards)
    results: dict[str, list[dict]] = defaultdict(list)
    queues = {name: list(found) for name, found in mutants.items()}
    os.chdir(copy)
    while any(queues.values()) and time.monotonic() < deadline:
        for name, queue in queues.items():
            if not queue or time.monotonic() >= deadline:
                continue
            mutant = queue.pop()
            ranked = _tests_for(mutant, guards.get(mutant["module"], {}), cost)
            if not ranked:
                results[name].append({**mutant, "outcome": "uncovered", "diff": ""})
                continue
            spec = MutationSpec(
                module_path=mutant["module"],
                operator_name=mutant["operator"],
                occurrence=mutant["occurrence"],
                start_pos=tuple(mutant["start"]),
                end_pos=tuple(mutant["end"]),
                operator_args=mutant["args"],
            )
            # the cheapest tests first; a mutant they miss meets the rest of its guards (up to
            # MAX_TESTS_AGAIN): a module run by every test is guarded by a few far down the list
            for tests in (ranked[:MAX_TESTS], ranked[MAX_TESTS:MAX_TESTS_AGAIN]):
                if not tests:
                    break
                command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
                work = mutate_and_test([spec], shlex.join([*command, *tests]), TEST_TIMEOUT)
                outcome = str(work.test_outcome.value if work.test_outcome else work.worker_outcome)
                if outcome.lower() != "survived":
                    break
            if outcome.lower() == "incompetent" and not results[name]:
                print(work.output)  # the first of a module: why it could not run
            results[name].append({**mutant, "outcome": outcome.lower(), "diff": work.diff or ""})
            print(
                f"{name}: {mutant['module']}:{mutant['start'][0]} {mutant['operator']} -> {outcome}"
            )
    return results


MAX_TESTS = 40  # per mutant: the cheapest of the tests that run its lines, then
MAX_TESTS_AGAIN = 200  # for a mutant they miss, the next ones


def _costs(guards: dict[str, dict[str, list[str]]]) -> dict[str, int]:
    """Each test's cost, as the number of lines it runs (a unit test runs few, an end-to-end
    upload many): the cheapest tests that see a mutant are tried first."""
    cost: dict[str, int] = defaultdict(int)
    for lines in guards.values():
        for tests in lines.values():
            for test in tests:
                cost[test] += 1
    return cost


def _tests_for(mutant: dict, lines: dict[str, list[str]], cost: dict[str, int]) -> list[str]:
    """The tests that run the mutated lines; for a line run only at import (a module's constant),
    the tests that run any line of the module. Cheapest first."""
    span = range(mutant["start"][0], mutant["end"][0] + 1)
    found = {test for line in span for test in lines.get(str(line), [])}
    if not found:
        found = {test for tests in lines.values() for test in tests}
    return sorted(found, key=lambda test: (cost.get(test, 0), test))


def _report(results: dict[str, list[dict]], names: list[str]) -> None:
    """The score per guarantee and per module; the survivors with their diffs in a file."""
    survivors: list[str] = []
    print("\nmutation score (killed / judged; an incompetent mutant, one that cannot run, is not")
    print("judged; an uncovered one, run by no test, counts as survived)")
    for guarantee, modules in GUARANTEES.items():
        judged = killed = 0
        lines = []
        for name in modules:
            if name not in names:
                continue
            done = results.get(name, [])
            module_killed = sum(1 for r in done if r["outcome"] == "killed")
            module_judged = sum(
                1 for r in done if r["outcome"] in ("killed", "survived", "uncovered")
            )
            killed, judged = killed + module_killed, judged + module_judged
            share = f"{module_killed / module_judged:.0%}" if module_judged else "-"
            lines.append(f"    {name:<10} {module_killed:>4}/{module_judged:<4} {share}")
            for r in done:
                if r["outcome"] in ("survived", "uncovered"):
                    where = f"{r['module']}:{r['start'][0]}"
                    survivors.append(f"{where} {r['operator']} ({r['outcome']})\n{r['diff']}")
        if judged:
            print(f"  {guarantee}: {killed}/{judged} ({killed / judged:.0%})")
            print("\n".join(lines))
    (STATE / "survivors.txt").write_text("\n".join(survivors))
    print(f"\n{len(survivors)} survivors, with their diffs: {STATE / 'survivors.txt'}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
