"""Options: the one source of every setting, for the command line, the environment, the config
file and Python callers alike."""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from uploader.cli import cli
from uploader.errors import ConfigError
from uploader.settings import Options


def command_params(name: str) -> dict[str, object]:
    return {param.name: param for param in cli.commands[name].params}


def test_every_option_of_a_run_is_on_the_command_line_with_its_default():
    params = command_params("upload")
    for item in dataclasses.fields(Options):
        group = item.metadata["setting"].group
        if not group:
            # the token (refused on the command line), the chunk size: Python callers only
            assert item.name not in params or params[item.name].hidden
            continue
        name = "no_progress" if item.name == "progress" else item.name
        param = params[name]
        assert param.envvar == "INVOCA_" + name.upper()
        if item.name != "progress" and item.default is not None:
            assert param.default == item.default, item.name


@pytest.mark.parametrize(
    "override,message",
    [
        ({"concurrency": 0}, "--concurrency must be at least 1"),
        ({"concurrency": 257}, "--concurrency must be at most 256"),
        ({"rate": -1.0}, "--rate must be at least 0"),
        ({"rate": 0.001}, "--rate must be 0 (unlimited) or at least"),
        ({"timeout": float("inf")}, "--timeout must be a finite number"),
        ({"max_errors": 0}, "--max-errors must be at least 1"),
        ({"chunk_size": 0}, "--chunk-size must be at least 1"),
        ({"timezone": "Mars/Base"}, "not an IANA time zone"),
        ({"country": "XX"}, "not a region code"),
        ({"colour": "blue"}, "unknown option"),
    ],
)
def test_python_callers_get_the_same_checks(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Options.build(**override)


def test_the_command_line_refuses_the_same_ranges(tmp_path):
    result = CliRunner().invoke(cli, ["upload", str(tmp_path / "x.csv"), "--concurrency", "0"])
    assert result.exit_code == 2 and "--concurrency" in result.output


def test_environment_and_config_file_set_options_and_the_command_line_wins(tmp_path, monkeypatch):
    from uploader import pipeline

    seen = {}
    monkeypatch.setattr(
        pipeline,
        "validate_file",
        lambda file, options, report: (
            seen.setdefault("o", options) and (_ for _ in ()).throw(SystemExit(0))
        ),
    )
    (tmp_path / "invoca-upload.toml").write_text(
        'campaign_id = "from-file"\ntimezone = "Europe/London"\n'
    )
    monkeypatch.chdir(tmp_path)
    CliRunner().invoke(
        cli,
        ["validate", "x.csv", "--timezone", "America/Chicago"],
        env={"INVOCA_CAMPAIGN_ID": "from-env"},
    )
    options = seen["o"]
    assert options.campaign_id == "from-env" and options.timezone == "America/Chicago"
