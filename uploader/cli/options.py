"""The options every command shares, made from `Options`' own fields (one place for each default and
help text), the configuration file, and the edge where library errors become one line and an
exit code."""

from __future__ import annotations

import dataclasses
import functools
import logging
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from uploader.errors import ConfigError, UploaderError
from uploader.sandbox.config import SandboxConfig
from uploader.settings import Options, Setting, read_toml

CONFIG_FILE = "invoca-upload.toml"
SANDBOX = SandboxConfig()  # the sandbox command's defaults
log = logging.getLogger("uploader")


class ConfiguredCommand(click.Command):
    """Reads --config (or ./invoca-upload.toml) into click's default_map before parsing.

    Click then applies the contract's precedence: command line, environment, config file, defaults.
    """

    def make_context(self, info_name, args, parent=None, **extra):  # type: ignore[no-untyped-def]
        try:
            extra.setdefault("default_map", self._config(list(args)))
        except ConfigError as error:
            raise click.UsageError(str(error)) from None
        return super().make_context(info_name, args, parent, **extra)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self._bare_values(args))

    def _bare_values(self, args: list[str]) -> list[str]:
        """An option whose value may be left out, followed by a file rather than a number
        (`--presign-recordings calls.csv`), is given its bare value, so the file stays a file."""
        bare = {
            opt: param.flag_value
            for param in self.params
            if isinstance(param, click.Option) and isinstance(param.type, _Bare)
            for opt in param.opts
        }
        out: list[str] = []
        for at, arg in enumerate(args):
            if arg == "--":
                return out + args[at:]
            following = args[at + 1] if at + 1 < len(args) else "-"
            if arg in bare and not following.startswith("-") and not _number(following):
                arg = f"{arg}={bare[arg]:g}"
            out.append(arg)
        return out

    def _config(self, args: list[str]) -> dict[str, Any]:
        path = None
        for index, arg in enumerate(args):
            if arg == "--config" and index + 1 < len(args):
                path = Path(args[index + 1])
            elif arg.startswith("--config="):
                path = Path(arg.split("=", 1)[1])
        if path is None:
            if not Path(CONFIG_FILE).is_file():
                return {}
            path = Path(CONFIG_FILE)
        data = read_toml(path, f"--config {path}")
        names = {param.name for param in self.params}
        config = {key.replace("-", "_"): value for key, value in data.items()}
        if "token" in config:
            raise ConfigError(
                f"--config {path}: the token is never read from a config file; "
                "use INVOCA_OAUTH_TOKEN or --token-file"
            )
        unknown = sorted(set(config) - names - {"config"})
        if unknown:
            raise ConfigError(f"--config {path}: unknown option(s) {', '.join(unknown)}")
        return config


def env(name: str) -> str:
    return "INVOCA_" + name.upper()


def option(*decls: str, **attrs: Any) -> Callable:
    name = decls[0].lstrip("-").split("/")[0].replace("-", "_")
    attrs.setdefault("envvar", env(name))
    attrs.setdefault("show_envvar", False)
    return click.option(*decls, **attrs)


def compose(*decorators: Callable) -> Callable:
    def apply(function: Callable) -> Callable:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


def options_of(group: str) -> Callable:
    """The click options of one group, made from `Options`: name, default, range, help and the
    INVOCA_<NAME> variable come from there, so that adding an option is one edit."""
    return compose(
        *(
            option_for(item.name)
            for item in dataclasses.fields(Options)
            if item.metadata["setting"].group == group
        )
    )


def option_for(name: str) -> Callable:
    """The click option of one field of `Options`."""
    item = next(item for item in dataclasses.fields(Options) if item.name == name)
    rule: Setting = item.metadata["setting"]
    kind = typing.get_type_hints(Options)[name]
    kind = next((arg for arg in typing.get_args(kind) if arg is not type(None)), kind)
    attrs: dict[str, Any] = {"help": rule.help}
    decls: tuple[str, ...] = ("--" + name.replace("_", "-"),)
    if kind is bool:
        attrs.update(is_flag=True, default=False)
        if rule.flag:  # a negative flag: --no-progress sets no_progress
            decls = (rule.flag, rule.flag.lstrip("-").replace("-", "_"))
        return option(*decls, **attrs)
    if rule.path:
        attrs["type"] = click.Path(dir_okay=False, exists=rule.must_exist)
    elif rule.minimum is not None or rule.maximum is not None:
        low, high = rule.minimum, rule.maximum
        attrs["type"] = (
            click.IntRange(None if low is None else int(low), None if high is None else int(high))
            if kind is int
            else click.FloatRange(low, high)
        )
    elif kind in (int, float):
        attrs["type"] = kind
    if item.default is not None:
        attrs.update(default=item.default, show_default=True)
    if rule.bare is not None:  # an optional value: given alone, the option means `bare`
        attrs.update(is_flag=False, flag_value=rule.bare, type=_Bare(attrs["type"]))
    if rule.metavar:
        attrs["metavar"] = rule.metavar
    return option(*decls, **attrs)


def _number(text: str) -> bool:
    return text.strip().lstrip("+-").replace(".", "", 1).isdigit()


class _Bare(click.ParamType):
    """The type of an option whose value may be left out (ConfiguredCommand gives it its bare
    value when a file follows it)."""

    def __init__(self, inner: click.ParamType) -> None:
        self.inner = inner
        self.name = inner.name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not _number(value):
            name = param.opts[0] if param else "the option"
            self.fail(f"{value!r} is not a number (write {name}=N)", param, ctx)
        return self.inner.convert(value, param, ctx)


input_options = options_of("input")


target_options = compose(
    options_of("target"),
    click.option(
        "--token",
        hidden=True,
        expose_value=False,
        callback=lambda ctx, param, value: _refuse_token(value),
    ),
)


pace_options = options_of("pace")


output_options = options_of("output")


run_options = options_of("run")


def port_option(default: int, what: str) -> Callable:
    return click.option(
        "--port",
        type=click.IntRange(0, 65535),
        default=default,
        show_default=True,
        help=f"{what} (0 picks a free one).",
    )


common_options = compose(
    click.option(
        "--config",
        type=click.Path(dir_okay=False),
        expose_value=False,
        help=f"TOML file of options (long names as keys). Default: ./{CONFIG_FILE} if present.",
    ),
    click.option(
        "-v",
        "--verbose",
        is_flag=True,
        default=False,
        expose_value=False,
        is_eager=True,
        callback=lambda ctx, param, value: _verbose(value),
        help="Show tracebacks.",
    ),
)


def _refuse_token(value: str | None) -> None:
    if value is not None:
        raise click.UsageError(
            "the token is never taken on the command line: "
            "set INVOCA_OAUTH_TOKEN or use --token-file"
        )


VERBOSE = {"on": False}


def _verbose(value: bool) -> None:
    if value:
        VERBOSE["on"] = True
        logging.getLogger("uploader").setLevel(logging.DEBUG)


def _options(kwargs: dict[str, Any]) -> Options:
    kwargs = dict(kwargs)
    kwargs["progress"] = not kwargs.pop("no_progress", False)
    return Options.build(**kwargs)


def library_errors(function: Callable) -> Callable:
    """Domain exceptions become one line on stderr and the contract's exit code."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except UploaderError as error:
            if VERBOSE["on"]:
                log.exception("traceback")
            click.echo(f"invoca-upload: error: {error}", err=True)
            sys.exit(error.exit_code)

    return wrapper
