"""`make bench`: measure invoca-upload against references taken in the same run, print one table.

Every figure runs as its own process (so peak RSS is that command's alone) on data generated here:
a 1M-row and a 100k-row CSV, a 200k-row xlsx. The targets come from issue #8.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
PYTHON = sys.executable
# The command as installed beside this Python (`make bench` installs the wheel into .bench-venv),
# not the source tree: the figures are the tool's as users get it.
CLI = [str(Path(PYTHON).with_name("invoca-upload"))]
HEADER = [
    "external_call_unique_id",
    "start_time",
    "calling_phone_number",
    "destination_phone_number",
    "call_direction",
    "recording_url",
    "signal:sale",
    "custom:channel",
]
ROUNDS = 3  # each timed figure is the best of this many rounds, run alternately with its reference
FORMS = ["+1{a}555{c}", "{a}555{c}", "({a}) 555-{c}", "1{a}555{c}"]


def row(index: int, rng: random.Random) -> list:
    area = rng.choice(["312", "773", "212", "415", "617"])
    return [
        f"CALL-{index:08d}",
        f"2024-03-{1 + index % 28:02d}T{index % 24:02d}:{index % 60:02d}:{index * 7 % 60:02d}Z",
        rng.choice(FORMS).format(a=area, c=f"01{index % 100:02d}"),
        "+18885551212",
        "inbound" if index % 3 else "outbound",
        f"https://rec.example.com/{index}.wav",
        "yes" if index % 2 else "no",
        rng.choice(["web", "ads", "direct"]),
    ]


def zone_less_row(index: int, rng: random.Random) -> list:
    """Another export's shape: times without a zone, bare 10-digit numbers, capitalised words."""
    area = rng.choice(["312", "773", "212", "415", "617"])
    return [
        f"{index:010d}-{rng.randrange(1000):03d}",
        f"2024-{1 + index % 12:02d}-{1 + index % 28:02d} "
        f"{index % 24:02d}:{index % 60:02d}:{index * 7 % 60:02d}",
        f"{area}555{index % 10000:04d}",
        "8885551212",
        "Inbound" if index % 3 else "Outbound",
        f"https://rec.example.com/{index}.mp3",
        "Yes" if index % 2 else "No",
        rng.choice(["web", "ads", "direct"]),
    ]


def make_csv(path: Path, rows: int, make_row=row) -> Path:
    if not path.exists():
        rng = random.Random(rows)
        with path.open("w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(HEADER)
            for index in range(rows):
                writer.writerow(make_row(index, rng))
    return path


def make_xlsx(path: Path, rows: int) -> Path:
    if not path.exists():
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet("Calls")
        sheet.append(HEADER)
        rng = random.Random(rows)
        for index in range(rows):
            sheet.append(row(index, rng))
        book.save(path)
    return path


def measure(command: list[str], **kwargs) -> tuple[float, float, subprocess.CompletedProcess]:
    """Seconds and peak RSS (MiB) of one child process."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    out, err = process.stdout.read(), process.stderr.read()  # type: ignore[union-attr]
    process.returncode = os.waitstatus_to_exitcode(status)
    return (
        elapsed,
        usage.ru_maxrss / 1024,
        subprocess.CompletedProcess(command, process.returncode, out, err),
    )


def pandas_reader(code: str) -> list[str]:
    return [PYTHON, "-c", f"import pandas as pd; {code}"]


@dataclass
class Timed:
    """A command's fastest time and median peak RSS over the rounds, and its last output."""

    seconds: float
    rss: float
    done: subprocess.CompletedProcess


def alternately(
    *commands: Callable[[], tuple[float, float, subprocess.CompletedProcess]], rounds: int = ROUNDS
) -> list[Timed]:
    """Run the commands in turn, `rounds` times over: a slow minute on this shared machine then
    hits each of them, and the fastest round of each is the one compared (as timeit does)."""
    results: list[list[tuple[float, float, subprocess.CompletedProcess]]] = [[] for _ in commands]
    for _ in range(rounds):
        for runs, command in zip(results, commands, strict=True):
            runs.append(command())
    return [
        Timed(min(r[0] for r in runs), statistics.median(r[1] for r in runs), runs[-1][2])
        for runs in results
    ]


def validate(path: Path) -> tuple[float, float, subprocess.CompletedProcess]:
    seconds, rss, done = measure(
        [
            *CLI,
            "validate",
            str(path),
            "--no-progress",
            "--campaign-id",
            "85",
            "--report",
            str(path.with_suffix(".errors.csv")),
        ]
    )
    if done.returncode != 0:
        raise SystemExit(f"validate {path} failed: {done.stderr}")
    return seconds, rss, done


class Peer:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [PYTHON, str(ROOT / "benchmarks" / "peer.py")], stdout=subprocess.PIPE, text=True
        )
        self.url = self.process.stdout.readline().strip()  # type: ignore[union-attr]

    def times(self) -> list[float]:
        with urllib.request.urlopen(self.url + "/stats", timeout=30) as response:  # noqa: S310 - loopback
            return json.loads(response.read())["times"]

    def clear(self) -> None:
        urllib.request.urlopen(
            urllib.request.Request(self.url + "/stats", method="DELETE"), timeout=30
        )  # noqa: S310

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


BENCH_ENV = {**os.environ, "INVOCA_OAUTH_TOKEN": "bench"}
# The peer and the sandbox are on loopback: straight there, whatever HTTP_PROXY says.
urllib.request.install_opener(urllib.request.build_opener(urllib.request.ProxyHandler({})))


def upload_command(path: Path, url: str, scratch: Path, *options: str) -> list[str]:
    """The upload every figure times, with a new journal each time (or every row is done)."""
    return [
        *CLI,
        "upload",
        str(path),
        "--base-url",
        url,
        "--campaign-id",
        "85",
        "--no-progress",
        "--journal",
        str(scratch / f"journal-{time.time()}.sqlite"),
        "--results",
        str(scratch / f"{path.stem}.bench-results.csv"),
        *options,
    ]


def upload(
    path: Path, peer: Peer, scratch: Path, *options: str
) -> tuple[float, float, subprocess.CompletedProcess]:
    seconds, rss, done = measure(upload_command(path, peer.url, scratch, *options), env=BENCH_ENV)
    if done.returncode != 0:
        raise SystemExit(f"upload failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, rss, done


def rate_accuracy(times: list[float], rate: float) -> tuple[float, float]:
    times = sorted(times)
    overall = (len(times) - 1) / (times[-1] - times[0])
    start, busiest = 0, 0
    for end in range(len(times)):
        while times[end] - times[start] >= 1.0:
            start += 1
        busiest = max(busiest, end - start + 1)
    return overall, busiest


FLOW_ROWS = 4000


def flat_out_command(path: Path, url: str, scratch: Path, summary: Path) -> list[str]:
    """The upload the flow figures time: no pacing, 32 requests in flight, a summary document."""
    return upload_command(
        path, url, scratch, "--rate", "0", "--concurrency", "32", "--summary-json", str(summary)
    )


LIMIT = 32 / 0.1  # Little's law: 32 requests in flight / 100 ms mean answer time


def flow_run(path: Path, scratch: Path, *faults: str) -> tuple[float, float, dict, list]:
    """Upload `path` to a sandbox answering in 0-200 ms (with `faults`) at --concurrency 32:
    wall seconds (start-up included), the run's own rows/s, the calls stored and the requests."""
    box = subprocess.Popen(
        [*CLI, "sandbox", "--port", "0", "--token", "bench", "--latency-ms", "200", *faults],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = box.stdout.readline().strip()  # type: ignore[union-attr]
        summary = scratch / "flow.json"
        seconds, _, done = measure(
            flat_out_command(path, url, scratch, summary),
            env=BENCH_ENV,
        )
        if done.returncode != 0:
            raise SystemExit(f"flow upload failed ({done.returncode}): {done.stderr[-2000:]}")
        with urllib.request.urlopen(url + "/_sandbox/calls", timeout=30) as response:  # noqa: S310 - loopback
            stored = {call["id"]: call for call in json.loads(response.read())}
        with urllib.request.urlopen(url + "/_sandbox/requests", timeout=30) as response:  # noqa: S310 - loopback
            requests = json.loads(response.read())
        return seconds, json.loads(summary.read_text())["rows_per_second"], stored, requests
    finally:
        box.terminate()
        box.wait(10)


def twice_or_lost(stored: dict, requests: list) -> tuple[int, int]:
    """Calls posted again after an answer that was not transient (0 expected), and rows lost."""
    answers: dict[str, list] = {}
    for seen in requests:
        answers.setdefault(seen.get("id"), []).append(seen["status"])
    twice = sum(
        1
        for statuses in answers.values()
        if any(s not in (None, 429, 500, 503) for s in statuses[:-1])
    )
    return twice, FLOW_ROWS - len(stored)


def network_flow() -> list[tuple[str, str, str, str, str]]:
    """Issue #17: throughput where the network, not the CPU, is what users wait for."""
    rows: list[tuple[str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        path = make_csv(scratch / "flow.csv", FLOW_ROWS)
        for label, faults, target, limit in (
            ("no faults", (), ">= 0.9", LIMIT),
            ("2% of answers 503, Retry-After 1", ("--unavailable-rate", "0.02"), ">= 0.7", LIMIT),
            ("a 429 limit of 100/s", ("--rate-limit", "100"), ">= 0.9 R", 100.0),
        ):
            print(
                f"6. {FLOW_ROWS:,} rows to a sandbox answering in 0-200 ms, {label}...", flush=True
            )
            seconds, own, stored, requests = flow_run(path, scratch, *faults)
            twice, lost = twice_or_lost(stored, requests)
            refused = sum(1 for seen in requests if seen["status"] == 429)
            wall = FLOW_ROWS / seconds
            rows.append(
                (
                    f"upload {FLOW_ROWS:,} rows, 0-200 ms answers, -c 32, {label}",
                    f"{own:,.0f} rows/s (run's clock), {wall:,.0f} with start-up",
                    f"limit {limit:,.0f} rows/s; {twice} posted twice, {lost} lost, {refused} 429s",
                    f"{own / limit:.2f} / {wall / limit:.2f}",
                    target,
                )
            )
    return rows


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    print("generating data (kept in benchmarks/data/ for later runs)...", flush=True)
    big = make_csv(DATA / "calls-1m.csv", 1_000_000)
    other = make_csv(DATA / "calls-1m-zone-less.csv", 1_000_000, zone_less_row)
    small = make_csv(DATA / "calls-100k.csv", 100_000)
    book = make_xlsx(DATA / "calls-200k.xlsx", 200_000)
    table: list[tuple[str, str, str, str, str]] = []
    read_csv = lambda path: lambda: measure(pandas_reader(f"pd.read_csv({str(path)!r}, dtype=str)"))  # noqa: E731

    print(f"1. validate 1M-row CSVs (best of {ROUNDS})...", flush=True)
    ours, ref = alternately(lambda: validate(big), read_csv(big))
    table.append(
        (
            "validate 1M-row CSV",
            f"{ours.seconds:.1f} s, {ours.rss:.0f} MiB",
            f"pandas.read_csv(dtype=str): {ref.seconds:.1f} s, {ref.rss:.0f} MiB",
            f"{ours.seconds / ref.seconds:.2f}x time",
            "<= 3x",
        )
    )
    o_ours, o_ref = alternately(lambda: validate(other), read_csv(other))
    table.append(
        (
            "  same, zone-less times, 10-digit phones",
            f"{o_ours.seconds:.1f} s, {o_ours.rss:.0f} MiB",
            f"pandas.read_csv(dtype=str): {o_ref.seconds:.1f} s",
            f"{o_ours.seconds / o_ref.seconds:.2f}x time",
            "<= 3x",
        )
    )

    print("2. memory growth...", flush=True)
    (short,) = alternately(lambda: validate(small))
    table.append(
        (
            "peak RSS, validate 1M / 100k (medians)",
            f"{ours.rss:.0f} / {short.rss:.0f} MiB",
            "",
            f"{ours.rss / short.rss:.2f}x",
            "<= 1.3x",
        )
    )

    print("5. validate 200k-row xlsx...", flush=True)
    (x_ours,) = alternately(lambda: validate(book))
    xr_seconds, xr_rss, _ = measure(pandas_reader(f"pd.read_excel({str(book)!r}, dtype=str)"))
    (xc,) = alternately(
        lambda: measure(
            pandas_reader(f"pd.read_excel({str(book)!r}, dtype=str, engine='calamine')")
        )
    )
    table.append(
        (
            "validate 200k-row xlsx",
            f"{x_ours.seconds:.1f} s, {x_ours.rss:.0f} MiB",
            f"pandas.read_excel (openpyxl): {xr_seconds:.1f} s, {xr_rss:.0f} MiB; "
            f"(calamine): {xc.seconds:.1f} s",
            f"{x_ours.seconds / xr_seconds:.2f}x / {x_ours.seconds / xc.seconds:.2f}x",
            "<= 3x",
        )
    )

    peer = Peer()
    try:
        with tempfile.TemporaryDirectory() as folder:
            scratch = Path(folder)
            print(f"3. upload 100k rows to an instant peer (best of {ROUNDS})...", flush=True)
            subprocess.run(
                [
                    *CLI,
                    "upload",
                    str(small),
                    "--dry-run",
                    "--campaign-id",
                    "85",
                    "--no-progress",
                    "--results",
                    str(scratch / "dry.csv"),
                ],
                check=True,
                capture_output=True,
            )
            requests = str(small.with_name(small.stem + ".requests.jsonl"))
            endpoint = peer.url + "/api/2022-03-01/calls.json"
            posted: list[int] = []
            cpu: dict[str, list[float]] = {}  # CPU seconds (user + system) of each round

            def counted(
                name: str, command: Callable[[], list[str]], **kwargs
            ) -> Callable[[], tuple]:
                def run() -> tuple[float, float, subprocess.CompletedProcess]:
                    peer.clear()
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    result = measure(command(), **kwargs)  # waited for: its time is counted
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                    cpu.setdefault(name, []).append(used)
                    posted.append(len(peer.times()))
                    return result

                return run

            up, ref, alone = alternately(
                counted(
                    "ours",
                    lambda: flat_out_command(small, peer.url, scratch, scratch / "summary.json"),
                    env=BENCH_ENV,
                ),
                counted(
                    "minimal",
                    lambda: [
                        PYTHON,
                        str(ROOT / "benchmarks" / "reference_client.py"),
                        endpoint,
                        requests,
                        "32",
                    ],
                ),
                counted(
                    "sender",
                    lambda: [
                        PYTHON,
                        str(ROOT / "benchmarks" / "sender_only.py"),
                        endpoint,
                        requests,
                        "32",
                    ],
                ),
            )
            if up.done.returncode != 0 or set(posted) != {100_000}:
                raise SystemExit(f"upload went wrong: posted {posted}; {up.done.stderr[-2000:]}")
            reported = json.loads((scratch / "summary.json").read_text())["rows_per_second"]
            ours_rate, theirs = 100_000 / up.seconds, 100_000 / ref.seconds
            loop = float(ref.done.stdout)
            table.append(
                (
                    "upload 100k, --rate 0 --concurrency 32",
                    f"{ours_rate:,.0f} rows/s ({up.rss:.0f} MiB)",
                    f"minimal aiohttp client: {theirs:,.0f} rows/s",
                    f"{ours_rate / theirs:.2f}",
                    ">= 0.8",  # issue #17: the peer shares the 2 cores; 0.9 is not asked
                )
            )
            table.append(
                (
                    "  the same, as each reports it (last round)",
                    f"{reported:,.0f} rows/s (run's own clock)",
                    f"{100_000 / loop:,.0f} rows/s (posting loop only)",
                    f"{reported / (100_000 / loop):.2f}",
                    "",
                )
            )
            per_row = {name: statistics.median(used) / 100_000 * 1e6 for name, used in cpu.items()}
            table.append(
                (
                    "  CPU a row (user + system, median)",
                    f"{per_row['ours']:.0f} us (Sender alone {per_row['sender']:.0f} us)",
                    f"minimal client: {per_row['minimal']:.0f} us",
                    f"{per_row['ours'] / per_row['minimal']:.2f}x",
                    "",  # the peer takes its share of the 2 cores too: see the closing notes
                )
            )
            table.append(
                (
                    "  invoca-upload's Sender alone",
                    f"{100_000 / float(alone.done.stdout):,.0f} rows/s",
                    "the minimal client's posting loop",
                    f"{loop / float(alone.done.stdout):.2f}",
                    "",
                )
            )

            print("4. --rate 40 accuracy...", flush=True)
            peer.clear()
            sample = make_csv(scratch / "rate.csv", 400)
            upload(sample, peer, scratch, "--rate", "40", "--concurrency", "8")
            overall, busiest = rate_accuracy(peer.times(), 40)
            table.append(
                (
                    "--rate 40, measured at the peer",
                    f"{overall:.2f}/s overall, busiest second {busiest}",
                    "40/s",
                    f"{abs(overall - 40) / 40:.1%} off, peak {busiest / 40 - 1:+.0%}",
                    "within 2%, peak <= +10%",
                )
            )
    finally:
        peer.stop()

    table.extend(network_flow())

    print()
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    widths = [
        max(
            len(r[i]) for r in table + [("figure", "invoca-upload", "reference", "ratio", "target")]
        )
        for i in range(5)
    ]
    for line in [("figure", "invoca-upload", "reference", "ratio", "target"), *table]:
        print(" | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
    resource.getrusage(resource.RUSAGE_SELF)


if __name__ == "__main__":
    main()
