"""`make mutate`: mutation testing of the modules that hold the product's guarantees.

Each module is mutated by cosmic-ray (one small change at a time: an operator, a constant, a
comparison, a removed call) and the tests that guard it are run against every mutant; a mutant the
tests do not catch "survives". It runs in a throwaway copy of the tracked files, so the checkout is
never left mutated, and outside `make test` (it takes from minutes to hours).

    python tools/mutate.py                 # every module below
    python tools/mutate.py textsafe client # some of them
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# module -> the tests that guard it (run with -x: the first failure kills the mutant)
GUARDED = {
    "textsafe": ("uploader/textsafe.py", "tests/test_textsafe.py tests/report/test_results.py"),
    "mapping": ("uploader/check/mapping.py", "tests/check/test_mapping.py"),
    "flow": ("uploader/send/flow.py", "tests/send/test_flow.py"),
    "journal": ("uploader/send/journal.py", "tests/send/test_journal.py"),
    "client": ("uploader/send/client.py", "tests/send/test_client.py tests/send/test_flow.py"),
    "normalize": (
        "uploader/check/normalize.py",
        "tests/check/test_normalize.py tests/check/test_never_silently_wrong.py",
    ),
}
CONFIG = """[cosmic-ray]
module-path = "{module}"
timeout = 300.0
excluded-modules = []
test-command = "{python} -m pytest -x -q -p no:cacheprovider {tests}"

[cosmic-ray.distributor]
name = "local"
"""


def main(names: list[str]) -> int:
    unknown = set(names) - set(GUARDED)
    if unknown:
        print(f"unknown module(s): {', '.join(sorted(unknown))}; known: {', '.join(GUARDED)}")
        return 2
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    with tempfile.TemporaryDirectory(prefix="invoca-mutate-") as tmp:
        copy = Path(tmp) / "tree"
        for name in tracked:
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
        for name in names or list(GUARDED):
            module, tests = GUARDED[name]
            config = Path(tmp) / f"{name}.toml"
            session = Path(tmp) / f"{name}.sqlite"
            config.write_text(CONFIG.format(module=module, python=sys.executable, tests=tests))
            cosmic = [sys.executable, "-m", "cosmic_ray.cli"]
            subprocess.run([*cosmic, "init", str(config), str(session)], cwd=copy, check=True)
            subprocess.run([*cosmic, "exec", str(config), str(session)], cwd=copy, check=True)
            report(name, session)
    return 0


def report(name: str, session: Path) -> None:
    """The score and each surviving mutant (file, line, operator), from cosmic-ray's session."""
    with sqlite3.connect(session) as db:
        rows = db.execute(
            "SELECT m.module_path, m.start_pos_row, m.operator_name, r.test_outcome "
            "FROM mutation_specs m JOIN work_results r ON m.job_id = r.job_id"
        ).fetchall()
    killed = [row for row in rows if row[3] == "KILLED"]
    survived = sorted(row for row in rows if row[3] == "SURVIVED")
    judged = len(killed) + len(survived)  # a mutant that cannot even be imported is not counted
    score = len(killed) / judged if judged else 0.0
    print(f"{name}: {len(killed)}/{judged} mutants killed ({score:.0%}), {len(survived)} survived")
    for module, line, operator, _ in survived:
        print(f"  survived: {module}:{line} {operator}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
