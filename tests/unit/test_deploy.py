"""deploy/compose.yaml cannot rot: every VIDIGEST_* variable it sets is a setting, every value
is one the settings accept, and every vidigest command it runs parses as a real command of
the CLI (options included)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from vidigest.cli import app
from vidigest.config import Settings

COMPOSE = Path(__file__).resolve().parents[2] / "deploy" / "compose.yaml"


def services() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    found: dict[str, dict[str, Any]] = document["services"]
    return {name: spec for name, spec in found.items() if spec.get("image") == "vidigest"}


def vidigest_commands(spec: dict[str, Any]) -> list[list[str]]:
    """The vidigest command lines a service runs (its entrypoint is `vidigest`, or a shell
    running `vidigest ...` lines)."""
    command = spec["command"]
    if spec.get("entrypoint") == ["/bin/sh", "-c"]:
        script = command[0] if isinstance(command, list) else command
        lines = [shlex.split(part) for part in script.replace("&&", ";").split(";")]
        return [line[1:] for line in lines if line and line[0] == "vidigest"]
    return [list(command)]


def parse(args: list[str]) -> str:
    """Resolve `args` against the CLI down to one command and parse its options (nothing
    runs); its full name."""
    command: Any = typer.main.get_command(app)
    names = []
    while hasattr(command, "get_command"):  # a group (typer's own click classes)
        assert args, f"{' '.join(names)} needs a sub-command"
        ctx = command.make_context("vidigest", [], resilient_parsing=True)
        found = command.get_command(ctx, args[0])
        assert found is not None, f"no command {args[0]!r} in vidigest {' '.join(names)}"
        names.append(args.pop(0))
        command = found
    command.make_context(" ".join(names), list(args))  # unknown options or values raise
    return " ".join(names)


def test_the_compose_file_runs_every_process() -> None:
    found = services()
    assert {"api", "transcription", "summary", "relay", "migrate"} <= set(found)
    ran = {parse(line) for spec in found.values() for line in vidigest_commands(spec)}
    assert {
        "serve",
        "worker",
        "db upgrade",
        "topics create",
    } <= ran


@pytest.mark.parametrize("name", sorted(services()))
def test_every_variable_is_a_setting_and_every_command_real(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = services()[name]
    environment = spec.get("environment", {})
    assert environment, f"{name} sets no environment"
    fields = {f"VIDIGEST_{field.upper()}" for field in Settings.model_fields}
    for variable, value in environment.items():
        assert variable.startswith("VIDIGEST_"), variable
        assert variable in fields, f"{name}: {variable} is not a setting"
        monkeypatch.setenv(variable, str(value))
    Settings()  # every value is one the settings accept
    for line in vidigest_commands(spec):
        parse(line)


def test_an_unknown_command_or_option_is_caught() -> None:
    """The checks above can fail."""
    with pytest.raises(AssertionError):
        parse(["worker-pool"])
    with pytest.raises(Exception, match="No such option"):
        parse(["worker", "transcription", "--metric-port", "9100"])
