"""The tool as users get it: a wheel installed into a fresh environment, run from another folder.

Every other test runs from the checkout, where a file found through the repository's layout works
by accident; this one builds the wheel, installs it into a new virtual environment and runs every
command from an unrelated directory.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import TOKEN, call_row, write_csv
from uploader.sandbox import SandboxConfig
from uploader.sandbox.background import running_sandbox

ROOT = Path(__file__).resolve().parent.parent
BUILT_IN = [
    "aircall",
    "amazon_connect",
    "callrail",
    "five9",
    "invoca",
    "ringcentral",
    "twilio",
    "zoom",
]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A new virtual environment holding only the wheel; its dependencies are this environment's
    (through a .pth line, which does not load this checkout's editable finder), so no download."""
    work = tmp_path_factory.mktemp("wheel")
    # Built from a clean copy: setuptools' build/ folder in the checkout would hide a missing file.
    source = work / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".venv", "build", "dist", "*.egg-info", ".git", "__pycache__", "*_cache", "data"
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(work / "dist"),
            str(source),
        ],
        check=True,
        cwd=work,
    )
    wheel = next((work / "dist").glob("invoca_upload-*.whl"))
    env_dir = work / "env"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    purelib = subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
    ).strip()
    Path(purelib, "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True, cwd=work
    )
    return env_dir / "bin"


def run(bin_dir: Path, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("INVOCA_")}
    environment.update(env)
    return subprocess.run(
        [str(bin_dir / "invoca-upload"), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_wheel_is_not_imported_from_the_checkout(installed, tmp_path):
    where = subprocess.check_output(
        [installed / "python", "-c", "import uploader; print(uploader.__file__)"],
        cwd=tmp_path,
        text=True,
    )
    assert "site-packages" in where and str(ROOT) not in where


def test_profiles_template_and_validate_work_when_installed(installed, tmp_path):
    listed = run(installed, "profiles", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == BUILT_IN

    made = run(installed, "template", "t.xlsx", "--signal", "sale", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "t.xlsx").stat().st_size > 0

    sample = write_csv(tmp_path / "calls.csv", [call_row("w1"), call_row("w2")])
    checked = run(installed, "validate", str(sample), "--campaign-id", "85", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "valid" in checked.stdout


def test_demo_writes_only_into_its_own_folder(installed, tmp_path):
    done = run(installed, "demo", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "has stopped" in done.stdout and "invoca-upload sandbox" in done.stdout
    assert "warning: " in done.stdout  # its zone-less times, said as upload says them
    assert sorted(p.name for p in tmp_path.iterdir()) == ["invoca-upload-demo"]
    written = {p.name for p in (tmp_path / "invoca-upload-demo").iterdir()}
    assert {"calls.xlsx", "calls.results.xlsx", "calls.summary.json"} <= written
    site_packages = Path(
        subprocess.check_output(
            [
                installed / "python",
                "-c",
                "import uploader, pathlib; print(pathlib.Path(uploader.__file__).parent)",
            ],
            text=True,
        ).strip()
    )
    assert not (site_packages.parent / "out").exists()


def test_an_upload_from_the_installed_command_reaches_the_sandbox(installed, tmp_path):
    sample = write_csv(tmp_path / "calls.csv", [call_row(f"inst-{i}") for i in range(3)])
    with running_sandbox(SandboxConfig(token=TOKEN)) as sandbox:
        done = run(
            installed,
            "upload",
            str(sample),
            "--campaign-id",
            "85",
            "--base-url",
            sandbox.url,
            "--journal",
            str(tmp_path / "j.sqlite"),
            "--summary-json",
            str(tmp_path / "s.json"),
            cwd=tmp_path,
            INVOCA_OAUTH_TOKEN=TOKEN,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert sorted(call["id"] for call in sandbox.calls()) == ["inst-0", "inst-1", "inst-2"]
    assert json.loads((tmp_path / "s.json").read_text())["counts"]["created"] == 3


def test_the_installed_web_page_serves_its_own_assets(installed, tmp_path):
    """The page's HTML, script and style ship inside the wheel (no CDN, no checkout)."""
    import urllib.request

    from tests.conftest import Lines

    process = subprocess.Popen(
        [str(installed / "invoca-upload"), "ui", "--no-browser", "--work-dir", str(tmp_path / "w")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = Lines(process.stdout).wait_for(lambda text: "open http://" in text, 30)
        address = line.split("open ")[1].split()[0]
        base = address.split("/?")[0]

        class Keep(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        opener = urllib.request.build_opener(Keep)
        try:
            opener.open(address, timeout=10)
        except urllib.error.HTTPError as redirect:
            cookie = redirect.headers["Set-Cookie"].split(";")[0]
        for path, marker in [
            ("/", "invoca-upload"),
            ("/static/app.js", "use strict"),
            ("/static/app.css", "--accent"),
        ]:
            request = urllib.request.Request(base + path, headers={"Cookie": cookie})
            with urllib.request.urlopen(request, timeout=10) as response:
                assert marker in response.read().decode(), path
    finally:
        process.terminate()
        process.wait(10)
