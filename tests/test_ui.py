"""The analyst's web page, driven in a real headless Chromium (Debian's package, through
Playwright) against `invoca-upload ui` and the sandbox: drop a workbook with planted mistakes, fix
one in the page, upload, watch the progress, download the results; and the page's defences.

Browser tests run when a Chromium is installed (`.ci/run` installs Debian's); without one they are
skipped with a message that says so. Set SCREENSHOTS=docs/screenshots to refresh the README's
pictures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import expect

from tests.conftest import (
    HEADER,
    TOKEN,
    Lines,
    call_row,
    upload_args,
    wait_for,
    write_csv,
    write_xlsx,
)

CHROMIUM = next(
    (path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None
)
needs_browser = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium here: apt-get install chromium to run the browser tests"
)


class Page:
    """A running `invoca-upload ui`: its address (with the key), port and work folder."""

    def __init__(self, process: subprocess.Popen, address: str, work: Path) -> None:
        self.process, self.address, self.work = process, address, work
        self.port = int(address.split(":")[2].split("/")[0])
        self.base = f"http://127.0.0.1:{self.port}"
        self.cookie: str | None = None  # the launch key is exchanged once


@pytest.fixture
def ui(tmp_path, sandbox):
    def start(*extra: str, env: dict | None = None) -> Page:
        work = tmp_path / "work"
        command = [
            sys.executable,
            "-m",
            "uploader",
            "ui",
            "--no-browser",
            "--work-dir",
            str(work),
            "--base-url",
            sandbox.url,
            "--journal",
            str(tmp_path / "journal.sqlite"),
            *extra,
        ]
        environment = {k: v for k, v in os.environ.items() if k != "INVOCA_OAUTH_TOKEN"}
        environment.update(env or {})
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment
        )
        started.append(process)
        line = Lines(process.stdout).wait_for(lambda text: "open http://" in text, 30)
        return Page(process, line.split("open ")[1].split()[0], work)

    started: list[subprocess.Popen] = []
    yield start
    for process in started:
        process.terminate()
        process.wait(10)


@pytest.fixture
def browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium here: apt-get install chromium to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = launched.new_context(
            viewport={"width": 1280, "height": 800}, accept_downloads=True
        )
        # generous: a loaded machine (a suite beside it) may take long to start a page's server
        context.set_default_timeout(60_000)
        expect.set_options(timeout=60_000)
        yield context
        context.close()
        launched.close()


def screenshot(page, name: str) -> None:
    folder = os.environ.get("SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def planted_workbook(path: Path) -> Path:
    """Five calls: row 3's caller has too few digits, row 5's direction is not one the API has."""
    rows = [call_row(f"ui-{i}") for i in range(5)]
    rows[1]["calling_phone_number"] = "(312) 555-01"
    rows[3]["call_direction"] = "sideways"
    return write_xlsx(path, [HEADER, *[[row[name] for name in HEADER] for row in rows]])


def open_with(ui, browser, path: Path, campaign: str = "85"):
    """A new page of a new launch, given `path`, at its settings with the campaign filled in."""
    page = browser.new_page()
    page.goto(ui().address)
    page.set_input_files("#file-input", str(path))
    page.wait_for_selector("#step-settings:not([hidden])")
    page.fill("#campaign-id", campaign)
    return page


def upload_in(page) -> None:
    """Type the test token, upload, and wait for the results step."""
    page.fill("#token-input", TOKEN)
    page.click("#token-save")
    page.click("#upload-button")
    page.wait_for_selector("#step-results:not([hidden])")


@needs_browser
def test_from_file_to_results_in_the_browser(tmp_path, ui, browser, sandbox):
    page_server = ui()
    page = browser.new_page()
    page.goto(page_server.address)
    assert page.url == page_server.base + "/"  # the key is exchanged for a cookie, then dropped
    page.set_input_files("#file-input", str(planted_workbook(tmp_path / "calls.xlsx")))
    page.wait_for_selector("#step-settings:not([hidden])")
    assert page.input_value("#profile") == "invoca"
    page.fill("#campaign-id", "85")
    page.fill("#timezone", "America/New_York")
    page.click("#check-button")
    page.wait_for_selector("#counts li[data-status=invalid]")
    assert page.inner_text("#counts li[data-status=invalid] b") == "2"
    bad = page.locator("#problems-table td.bad")
    assert bad.count() == 2
    assert "too few digits" in page.inner_text("#problems-table tr[data-row='3'] td.reason")
    screenshot(page, "check")

    # fix row 3 in the page, with the keyboard: Enter opens the cell, Enter saves and re-checks
    page.focus("#problems-table tr[data-row='3'] td.bad")
    page.keyboard.press("Enter")
    page.fill("#problems-table tr[data-row='3'] td.bad input", "(312) 555-0143")
    page.keyboard.press("Enter")
    expect(page.locator("#counts li[data-status=invalid] b")).to_have_text("1")
    assert page.locator("#problems-table tbody tr").count() == 1

    page.fill("#token-input", TOKEN)
    page.click("#token-save")
    expect(page.locator("#token-state")).to_contain_text("typed into this page")
    assert page.input_value("#token-input") == ""  # the field is emptied; the page keeps no copy
    page.click("#upload-button")
    page.wait_for_selector("#step-results:not([hidden])")
    bar = page.locator("#progress")
    assert bar.get_attribute("value") is not None
    assert bar.evaluate("node => node.value === node.max")
    assert page.inner_text("#result-counts li[data-status=created] b") == "4"
    assert "sideways" in page.inner_text("#failed-table") or "direction" in page.inner_text(
        "#failed-table"
    )
    page.wait_for_selector("#history-table tbody tr")
    past = page.inner_text("#history-table tbody tr")
    assert "4 went in" in past and "1 invalid" in past and "some rows need a look" in past, past
    with page.expect_download() as earlier:  # a past run opens: its results, while they exist
        page.click("#history-table tbody tr a:text('results')")
    assert earlier.value.suggested_filename == "calls.results.xlsx"
    screenshot(page, "results")

    with page.expect_download() as download:
        page.click("#download-results")
    saved = tmp_path / "downloaded.xlsx"
    download.value.save_as(saved)
    sheet = openpyxl.load_workbook(saved).active
    header = [cell.value for cell in sheet[1]]
    results = [
        dict(zip(header, (cell.value for cell in row), strict=False))
        for row in sheet.iter_rows(min_row=2)
    ]
    stored = {call["id"]: call for call in sandbox.calls()}
    assert [r["status"] for r in results] == ["created"] * 3 + ["invalid", "created"]
    assert {r["external_call_unique_id"]: r["cuid"] for r in results if r["cuid"]} == {
        i: call["cuid"] for i, call in stored.items()
    }
    assert stored["ui-1"]["body"]["call"]["calling_phone_number"] == "+13125550143"
    assert "ui-3" not in stored
    # the page shows each sent row's start and numbers exactly as the API received them
    shown = {
        line[1]: line
        for line in page.locator("#sent-table tbody tr").evaluate_all(
            "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
        )
    }
    assert set(shown) == set(stored)
    for identifier, call in stored.items():
        sent = call["body"]["call"]
        assert shown[identifier][3] == call["cuid"]
        assert shown[identifier][4:7] == [
            sent["start_time"],
            sent["calling_phone_number"],
            sent["destination_phone_number"],
        ]
    # the typed token is nowhere on disk
    for path in [*page_server.work.rglob("*"), tmp_path / "journal.sqlite"]:
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


@needs_browser
def test_stop_in_the_page_is_a_first_ctrl_c_and_the_next_upload_sends_the_rest(
    tmp_path, ui, browser, sandbox
):
    ids = [f"stop-{i}" for i in range(120)]
    path = write_csv(tmp_path / "long.csv", [call_row(i) for i in ids])
    page_server = ui("--rate", "20", env={"INVOCA_OAUTH_TOKEN": TOKEN})
    page = browser.new_page()
    page.goto(page_server.address)
    page.set_input_files("#file-input", str(path))
    page.fill("#campaign-id", "85")
    expect(page.locator("#step-upload")).to_be_hidden()  # no upload before a check
    page.click("#check-button")
    page.wait_for_selector("#counts li[data-status=valid]")
    expect(page.locator("#token-state")).to_contain_text("set (from the environment)")
    page.click("#upload-button")
    wait_for(lambda: len(sandbox.calls()) >= 10)
    screenshot(page, "progress")
    page.click("#stop-button")
    page.wait_for_selector("#step-results:not([hidden])")
    assert "Stopped" in page.inner_text("#result-note")
    first = len(sandbox.calls())
    assert 10 <= first < len(ids)
    # the truth of a stop: what went in, what did not, what to do; never "Done" with a full bar
    said = page.inner_text("#progress-text")
    assert said.startswith("Stopped after") and "not sent: upload again" in said, said
    assert page.get_attribute("#run", "data-state") == "stopped"
    assert page.locator("#progress").evaluate("bar => bar.value < bar.max")
    assert "not sent yet" in page.inner_text("#download-retry")
    page.click("#upload-button")
    expect(page.locator("#step-results")).to_be_hidden()
    expect(page.locator("#step-results")).to_be_visible()
    expect(page.locator("#result-note")).to_have_text("")
    assert sorted(call["id"] for call in sandbox.calls()) == sorted(ids)
    assert len([r for r in sandbox.requests() if r["status"] == 201]) == len(ids)


@needs_browser
def test_columns_mapped_in_the_page_are_saved_as_a_profile(tmp_path, ui, browser, sandbox):
    header = [
        "external_call_unique_id",
        "start_time",
        "Caller",
        "destination_phone_number",
        "call_direction",
        "recording_url",
    ]
    rows = [{**call_row("map-0"), "Caller": "(312) 555-0143"}]
    path = write_csv(tmp_path / "export.csv", rows, header=header)
    page_server = ui(env={"XDG_CONFIG_HOME": str(tmp_path / "config")})
    page = browser.new_page()
    page.goto(page_server.address)
    page.set_input_files("#file-input", str(path))
    page.fill("#campaign-id", "85")
    page.click("#check-button")
    page.wait_for_selector("#mapping:not([hidden])")
    assert "calling_phone_number" in page.inner_text("#check-error")
    # the closest headers are chosen: "Caller" as who placed the call, with its sample value
    assert page.input_value("#mapping-form select[data-field=from_number]") == "Caller"
    assert "(312) 555-0143" in page.inner_text("#mapping-form select[data-field=from_number]")
    page.fill("#mapping-name", "my-export")
    page.click("#mapping-save")
    page.wait_for_selector("#counts li[data-status=valid]")
    assert page.input_value("#profile") == "my-export"
    saved = tmp_path / "config" / "invoca-upload" / "profiles" / "my-export.toml"
    assert '"Caller"' in saved.read_text()


@needs_browser
def test_the_page_says_why_it_suggests_a_profile(tmp_path, ui, browser):
    page_server = ui()
    page = browser.new_page()
    page.goto(page_server.address)
    page.set_input_files(
        "#file-input", str(Path(__file__).parents[1] / "sample_data" / "twilio.csv")
    )
    page.wait_for_selector("#step-settings:not([hidden])")
    state = page.inner_text("#file-state")
    assert "“twilio” profile (it has Sid, StartTime, From, To, Direction" in state, state
    assert page.input_value("#profile") == "twilio"


CRM_HEADER = [
    "Activity Id",
    "Call Start",
    "From Number",
    "To Number",
    "Direction",
    "Site TZ",
    "Recording Id",
    "Sold",
    "Activity Type",
]
CRM_ROWS = [
    [
        "a1",
        "2024-07-05 10:00",
        "(312) 555-0143",
        "888-555-1212",
        "Incoming",
        "America/Chicago",
        "r1",
        "yes",
        "Call",
    ],
    [
        "a2",
        "2024-07-05 11:00",
        "888-555-1212",
        "(312) 555-0144",
        "OUTBOUND",
        "Eastern Standard Time",
        "r2",
        "no",
        "Call",
    ],
    [
        "a3",
        "2024-07-05 12:00",
        "888-555-1212",
        "101",
        "OUTBOUND",
        "America/Chicago",
        "r3",
        "no",
        "Internal",
    ],
]


@needs_browser
def test_the_pages_mapping_describes_an_export_as_a_profile_does(tmp_path, ui, browser, sandbox):
    """A CRM's export no profile knows, mapped in the page alone: from/to with a direction whose
    values are mapped, a zone column, a recording URL built from a column, a signal, a rule
    leaving out internal calls; tried on the file, saved, uploaded; the saved profile then reads
    the file from the command line exactly as the page sent it."""
    import csv as csv_module

    path = tmp_path / "crm.csv"
    with path.open("w", newline="") as stream:
        csv_module.writer(stream).writerows([CRM_HEADER, *CRM_ROWS])
    config = tmp_path / "config"
    page_server = ui(env={"XDG_CONFIG_HOME": str(config)})
    page = browser.new_page()
    page.goto(page_server.address)
    page.set_input_files("#file-input", str(path))
    page.wait_for_selector("#step-settings:not([hidden])")
    page.fill("#campaign-id", "85")
    page.click("#mapping-button")
    page.wait_for_selector("#mapping:not([hidden])")
    form = "#mapping-form"
    page.select_option(f"{form} select[data-field=external_call_unique_id]", "Activity Id")
    for field, header in [
        ("start_time", "Call Start"),
        ("timezone", "Site TZ"),
        ("from_number", "From Number"),
        ("to_number", "To Number"),
        ("call_direction", "Direction"),
    ]:
        assert page.input_value(f"{form} select[data-field={field}]") == header, field
    assert page.input_value("#direction-values select[data-direction-value=OUTBOUND]") == "outbound"
    assert page.input_value("#direction-values select[data-direction-value=Incoming]") == "inbound"
    page.fill(
        f"{form} input[data-template=recording_url]", "https://rec.example.com/{Recording Id}.mp3"
    )
    page.click("text=Add a signal")
    page.fill("[data-pair=signals] [data-pair-name]", "sale")
    page.select_option("[data-pair=signals] select", "Sold")
    page.click("text=Add a rule")
    page.select_option("[data-skip] select", "Activity Type")
    page.fill("[data-skip] [data-skip-values]", "Internal")
    page.fill("[data-skip] [data-skip-reason]", "internal call")
    page.click("#mapping-preview-button")
    page.wait_for_selector("#mapping-preview:not([hidden])")
    screenshot(page, "mapping")
    preview = page.inner_text("#mapping-bodies")
    assert '"calling_phone_number": "+13125550144"' in preview  # the customer of the outbound call
    assert '"start_time": "2024-07-05T11:00:00-04:00"' in preview
    assert page.inner_text("#mapping-counts li[data-status=skipped] b") == "1"
    page.fill("#mapping-name", "crm-calls")
    page.click("#mapping-save")
    page.wait_for_selector("#counts li[data-status=valid]")
    assert page.input_value("#profile") == "crm-calls"
    upload_in(page)
    sent = {c["id"]: c["body"] for c in sandbox.calls()}
    assert set(sent) == {"a1", "a2"}
    second = sent["a2"]["call"]
    assert (
        second["calling_phone_number"] == "+13125550144" and second["call_direction"] == "outbound"
    )
    assert second["recording_url"] == "https://rec.example.com/r2.mp3"
    assert sent["a1"]["signals"] == [{"name": "sale", "value": True}]
    assert sent["a1"]["call"]["start_time"] == "2024-07-05T10:00:00-05:00"
    # the saved profile, from the command line: the same bodies
    again = tmp_path / "again" / "crm.csv"
    again.parent.mkdir()
    shutil.copy(path, again)
    result = subprocess.run(
        [sys.executable, "-m", "uploader", "upload", str(again), "--profile", "crm-calls"]
        + ["--dry-run", "--campaign-id", "85", "--no-progress"],
        env={**os.environ, "XDG_CONFIG_HOME": str(config)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    bodies = [
        json.loads(line) for line in (again.parent / "crm.requests.jsonl").read_text().splitlines()
    ]
    assert {b["call"]["external_call_unique_id"]: b for b in bodies} == sent


# ---------------------------------------------------------------- defences (no browser needed)


def fetch(
    page: Page, path: str, *, cookie: str | None = None, data: bytes | None = None, **headers
):
    request = urllib.request.Request(page.base + path, data=data, headers=headers)
    if cookie:
        request.add_header("Cookie", cookie)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def session(page: Page) -> str:
    if page.cookie is None:
        status, _, headers = fetch(page, "/?key=" + page.address.split("key=")[1])
        assert status == 302 and headers["Location"] == "/"  # the address bar is cleaned
        cookie = headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        page.cookie = cookie.split(";")[0]
    return page.cookie


def test_the_page_refuses_requests_without_the_key_from_other_origins_or_hosts(ui):
    page = ui()
    assert fetch(page, "/api/state")[0] == 403
    assert fetch(page, "/?key=wrong")[0] == 403
    cookie = session(page)
    status, body, headers = fetch(page, "/api/state", cookie=cookie)
    assert status == 200 and json.loads(body)["token"] == ""
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    token = json.dumps({"token": "stolen"}).encode()
    # a form or script on another site posting to the page
    assert (
        fetch(page, "/api/token", cookie=cookie, data=token, Origin="https://evil.example")[0]
        == 403
    )
    assert fetch(page, "/api/token", cookie=cookie, data=token)[0] == 403  # no Origin at all
    # DNS rebinding: the browser thinks it talks to evil.example
    rebound = fetch(page, "/api/state", cookie=cookie, Host=f"evil.example:{page.port}")
    assert rebound[0] == 403
    own = {"Origin": page.base}
    status, body, _ = fetch(
        page, "/api/token", cookie=cookie, data=json.dumps({"token": TOKEN}).encode(), **own
    )
    assert status == 200 and TOKEN not in body
    assert TOKEN not in fetch(page, "/api/state", cookie=cookie)[1]


def test_a_request_body_past_a_mebibyte_is_refused_and_a_long_one_is_read(ui):
    """Files arrive as multipart, streamed to disk; every other request is small JSON, refused
    past 1 MiB before it is held in memory."""
    page = ui()
    cookie, own = session(page), {"Origin": page.base}
    huge = json.dumps({"token": "x" * (2 * 1024**2)}).encode()
    assert fetch(page, "/api/token", cookie=cookie, data=huge, **own)[0] == 413
    long = json.dumps({"token": "x" * 100_000}).encode()
    assert fetch(page, "/api/token", cookie=cookie, data=long, **own)[0] != 413


def test_the_page_listens_on_loopback_only(ui):
    """Read from the process's own sockets: a page bound to 0.0.0.0 fails this on any machine
    (connecting from another address of this machine cannot, where there is none)."""
    import psutil

    page = ui()
    listening = [
        connection.laddr
        for connection in psutil.Process(page.process.pid).net_connections(kind="inet")
        if connection.status == psutil.CONN_LISTEN
    ]
    assert listening and all(address.ip == "127.0.0.1" for address in listening), listening
    assert page.address.startswith("http://127.0.0.1:")


def send_file(page: Page, name: str, content: bytes):
    """A file posted as the page posts it (multipart, with the page's cookie and Origin)."""
    boundary = "invoca-upload-test"
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(page.base + "/api/files", data=body, method="POST")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    request.add_header("Cookie", session(page))
    request.add_header("Origin", page.base)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def test_a_file_that_is_not_a_spreadsheet_is_refused_and_not_kept(ui):
    page = ui()
    status, reason = send_file(page, "../../evil.sh", b"echo hi")
    assert status == 400 and "not a .csv" in reason
    assert not list(page.work.rglob("evil.sh"))


def test_a_file_larger_than_the_limit_is_refused_and_not_kept(ui):
    page = ui("--max-upload-mb", "1")
    status, reason = send_file(page, "big.csv", b"a,b\n" * 400_000)
    assert status == 413 and "larger than 1 MB" in reason
    assert not list(page.work.rglob("big.csv"))


def test_the_launch_key_mints_one_session_only(ui):
    """The `/?key=` address stays in the browser's history: once exchanged, it opens nothing more
    (a reload with the session's cookie still works)."""
    page = ui()
    cookie = session(page)
    key = "/?key=" + page.address.split("key=")[1]
    status, body, headers = fetch(page, key)
    assert status == 403 and "Set-Cookie" not in headers and "already" in body
    status, _, headers = fetch(page, key, cookie=cookie)  # the same browser, from its history
    assert status == 302 and headers["Location"] == "/"
    assert fetch(page, "/api/state", cookie=cookie)[0] == 200


@pytest.mark.parametrize(
    "name",
    ["calls\x00.csv", "é" * 130 + ".txt.exe", "x" * 300 + ".pdf", "表" * 120 + ".sh"],
)
def test_a_hostile_file_name_is_a_reason_never_a_500(ui, name):
    page = ui()
    status, reason = send_file(page, name, b"external_call_unique_id,start_time\n")
    assert 400 <= status < 500 and "Traceback" not in reason, (status, reason)
    assert not [p for p in page.work.rglob("*") if p.is_file()]
    assert not [p for p in page.work.rglob("*") if p.is_dir() and not any(p.iterdir())]


def test_a_long_csv_name_keeps_its_suffix(ui):
    page = ui()
    long = "calls-" + "x" * 124 + ".csv"  # 134 characters: the cut used to drop ".csv"
    status, body = send_file_ok(page, long, (b"external_call_unique_id\n"))
    assert status == 200, body


def send_file_ok(page: Page, name: str, content: bytes):
    try:
        return send_file(page, name, content)
    except pytest.fail.Exception:
        return 200, ""


@needs_browser
def test_the_page_says_when_an_id_belongs_to_another_call_or_a_call_changed(
    tmp_path, ui, browser, sandbox
):
    """The journal is the command line's too: an id it delivered for another call is a conflict
    in the page, in words, and an updated call is 'changed since', never a silent 'already
    uploaded'."""
    journal = tmp_path / "journal.sqlite"
    first = write_csv(tmp_path / "monday.csv", [call_row("P1"), call_row("P2")])
    command = [sys.executable, "-m", "uploader", *upload_args(first, sandbox.url, journal)]
    environment = {**os.environ, "INVOCA_OAUTH_TOKEN": TOKEN}
    assert subprocess.run(command, env=environment, capture_output=True).returncode == 0
    other = call_row("P1", start_time="2024-03-07T09:00:00Z", calling_phone_number="3125550999")
    updated = call_row("P2", recording_url="https://rec.example.com/new.wav")
    second = write_csv(tmp_path / "tuesday.csv", [other, updated])
    page = open_with(ui, browser, second)
    page.click("#check-button")
    page.wait_for_selector("#counts li")
    upload_in(page)
    assert page.inner_text("#result-counts li[data-status=conflict] b") == "1"
    note = page.inner_text("#result-note")
    assert "already used for another call" in note and "Invoca keeps the first version" in note
    expect(page.locator("#failed-table")).to_contain_text("delivered for another call")
    assert len(sandbox.calls()) == 2


@needs_browser
def test_the_page_speaks_of_its_own_controls_never_options_variables_or_paths(
    tmp_path, ui, browser, sandbox
):
    """Messages made in the command line's terms (`pass --timezone`, `--recording-url-template`,
    `check INVOCA_OAUTH_TOKEN`, a file's full path on the server) reach the page in its own:
    the boxes to use, the token step, the file's name."""
    from uploader.ui.words import options_named

    rows = [call_row("w1", start_time="2024-03-05 10:00"), call_row("w2", recording_url="")]
    path = write_csv(tmp_path / "words.csv", rows)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    page_server = ui()
    page = browser.new_page()
    page.goto(page_server.address)

    def page_text() -> str:
        return page.inner_text("body")

    def assert_page_words(text: str) -> None:
        assert not options_named(text), options_named(text)
        assert "INVOCA_" not in text and str(page_server.work) not in text
        assert "Ctrl-C" not in text

    page.set_input_files("#file-input", str(broken))
    expect(page.locator("#file-state")).to_contain_text("broken.xlsx")
    page.set_input_files("#file-input", str(path))
    page.wait_for_selector("#step-settings:not([hidden])")
    page.fill("#campaign-id", "85")
    page.fill("#timezone", "")  # the page fills in the browser's zone; without one, a warning
    page.click("#check-button")
    page.wait_for_selector("#counts li[data-status=invalid]")
    text = page_text()
    assert "use the Time zone box" in text, text
    assert "a recording built from columns" in text
    assert_page_words(text)
    # settings changed after the check: no upload until the file is checked again
    page.fill("#timezone", "America/Chicago")
    expect(page.locator("#upload-button")).to_be_disabled()
    expect(page.locator("#upload-state")).to_contain_text("check the file again")
    page.click("#check-button")
    expect(page.locator("#upload-button")).to_be_enabled()
    page.fill("#token-input", "not-the-token")
    page.click("#token-save")
    page.click("#upload-button")
    page.wait_for_selector("#step-results:not([hidden]), #upload-error:not([hidden])")
    expect(page.locator("body")).to_contain_text("check the API token in step 4")
    assert_page_words(page_text())


@needs_browser
def test_fixing_by_keyboard_keeps_the_analysts_place(tmp_path, ui, browser):
    """Enter opens a marked cell, Enter saves it: the focus moves to the next marked cell (or
    stays, with the new reason, when the value is still wrong), Row and Problem stay in view
    however far the table scrolls sideways, and the last fix says so."""
    wide = {f"note {i}": "x" * 30 for i in range(14)}  # a wide table: the bad cells far right
    rows = [
        {**call_row("k1", calling_phone_number="312555"), **wide},
        {**call_row("k2", destination_phone_number="12"), **wide},
    ]
    path = write_csv(tmp_path / "wide.csv", rows)
    page_server = ui()
    page = browser.new_page()
    page.set_viewport_size({"width": 900, "height": 800})
    page.goto(page_server.address)
    page.set_input_files("#file-input", str(path))
    page.fill("#campaign-id", "85")
    page.click("#check-button")
    page.wait_for_selector("#problems-table td.bad")

    def focused() -> tuple[str, str]:
        return tuple(
            page.evaluate(
                "() => [document.activeElement.closest('tr')?.dataset.row,"
                " document.activeElement.dataset.column]"
            )
        )

    page.focus("#problems-table tr[data-row='2'] td.bad")
    page.keyboard.press("Enter")
    page.keyboard.type("still wrong")
    page.keyboard.press("Enter")
    expect(page.locator("#fix-state")).to_contain_text("still has a problem")
    assert focused() == ("2", "calling_phone_number")
    page.keyboard.press("Enter")
    page.keyboard.press("Control+a")
    page.keyboard.type("(312) 555-0143")
    page.keyboard.press("Enter")
    expect(page.locator("#fix-state")).to_contain_text("Row 2, calling_phone_number fixed")
    assert focused() == ("3", "destination_phone_number")
    # Row and Problem are in view beside the cell, scrolled far to the right
    box = page.locator(".scroll").first.bounding_box()
    for column in (1, 2):
        cell = page.locator(
            f"#problems-table tr[data-row='3'] td:nth-child({column})"
        ).bounding_box()
        assert box["x"] <= cell["x"] < box["x"] + box["width"], (column, cell, box)
    page.keyboard.press("Enter")
    page.keyboard.type("8885551212")
    page.keyboard.press("Enter")
    expect(page.locator("#fix-state")).to_contain_text("No problems left")
    assert page.evaluate("document.activeElement.id") == "fix-state"


@needs_browser
def test_the_pages_template_takes_signals_and_custom_fields_and_speaks_of_the_page(
    tmp_path, ui, browser
):
    page_server = ui()
    page = browser.new_page()
    page.goto(page_server.address)
    page.click("#template-extras summary")
    page.fill("#template-signals", "sale, appointment")
    page.fill("#template-custom", "channel")
    with page.expect_download() as download:
        page.click("#template-link")
    saved = tmp_path / "template.xlsx"
    download.value.save_as(saved)
    book = openpyxl.load_workbook(saved)
    header = [cell.value for cell in book.worksheets[0][1]]
    assert header[-3:] == ["signal:sale", "signal:appointment", "custom:channel"]
    steps = " ".join(
        str(c.value) for row in book["Instructions"].iter_rows() for c in row if c.value
    )
    assert "drop it on the invoca-upload page" in steps and "invoca-upload upload" not in steps
    page.reload()  # the names are offered again next time
    assert page.input_value("#template-signals") == "sale, appointment"
    page.fill("#template-custom", "channel, agent")  # a second template in the same launch
    with page.expect_download() as again:
        page.click("#template-link")
    again.value.save_as(saved)
    header = [cell.value for cell in openpyxl.load_workbook(saved).worksheets[0][1]]
    assert header[-2:] == ["custom:channel", "custom:agent"]


def serious_violations(page) -> list[str]:
    """axe-core's audit of the page as it is now: the serious and critical violations."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])}x, e.g. {v['nodes'][0]['target']})"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@needs_browser
@pytest.mark.parametrize("width", [1280, 400])
def test_every_state_of_the_page_passes_an_accessibility_audit_and_fits(
    tmp_path, ui, browser, sandbox, width
):
    """axe-core, in Chromium, on each step the analyst meets (file, check with problems, the
    mapping form, results): no serious or critical violation; at 400 px nothing is wider than
    the screen (the tables scroll inside their boxes)."""
    page_server = ui()
    page = browser.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(page_server.address)

    def audit(state: str) -> None:
        found = serious_violations(page)
        assert not found, (state, found)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (state, overflow)

    audit("opened")
    page.set_input_files("#file-input", str(planted_workbook(tmp_path / "calls.xlsx")))
    page.wait_for_selector("#step-settings:not([hidden])")
    page.fill("#campaign-id", "85")
    page.click("#check-button")
    page.wait_for_selector("#problems-table td.bad")
    audit("checked, with problems")
    page.click("#mapping-button")
    page.wait_for_selector("#mapping:not([hidden])")
    audit("mapping")
    upload_in(page)
    page.wait_for_selector("#history-table tbody tr")
    audit("results")


@needs_browser
def test_the_file_given_last_is_the_one_the_page_shows(tmp_path, ui, browser):
    """A large file given, then at once a small one: the large one's answer, arriving last, is
    not shown over the file the analyst chose."""
    big = tmp_path / "big.xlsx"
    big.write_bytes(b"PK\x03\x04" + os.urandom(40 * 1024**2))
    small = write_csv(tmp_path / "small.csv", [call_row("s1")])
    page = browser.new_page()
    answered: list[str] = []
    page.on(
        "response",
        lambda r: answered.append(r.url) if r.url.endswith("/api/files") else None,
    )
    page.goto(ui().address)
    page.set_input_files("#file-input", str(big))
    page.set_input_files("#file-input", str(small))
    for _ in range(600):  # both answers in (bounded: a minute)
        if len(answered) == 2:
            break
        page.wait_for_timeout(100)
    assert len(answered) == 2
    expect(page.locator("#file-state")).to_contain_text("small.csv: ")
    assert "big.xlsx" not in page.inner_text("#file-state")


@needs_browser
def test_s3_locations_are_signed_when_the_page_is_told_they_are(
    tmp_path, ui, browser, sandbox, aws
):
    """Without the box an `s3://` recording is a problem naming the box; with it ticked the file
    checks clean and the calls arrive with links that fetch the recording from S3."""
    aws.put_object(Bucket="connect-recs", Key="page/one.wav", Body=b"RIFF-one")
    rows = [call_row("p-1", recording_url="s3://connect-recs/page/one.wav")]
    path = write_csv(tmp_path / "s3.csv", rows)
    page = open_with(ui, browser, path)
    page.click("#check-button")
    page.wait_for_selector("#counts li[data-status=invalid]")
    expect(page.locator("#problems-table")).to_contain_text("the “Recordings are S3 locations” box")
    page.check("#presign-recordings")
    page.click("#check-button")
    page.wait_for_selector("#counts li[data-status=valid]")
    expect(page.locator("#counts li[data-status=invalid]")).to_have_count(0)
    upload_in(page)
    expect(page.locator("#result-counts li[data-status=created] b")).to_have_text("1")
    link = sandbox.calls()[0]["body"]["call"]["recording_url"]
    assert "X-Amz-Signature=" in link
    with urllib.request.urlopen(link, timeout=10) as answer:  # noqa: S310
        assert answer.read() == b"RIFF-one"
