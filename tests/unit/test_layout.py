"""The layers of `src/vidigest`, checked on the import statements themselves: shared code knows
no feature, the videos feature (the base every stage uses) knows no stage, and the stages are
named in one registry that the CLI and the stored consumer names agree with."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import pytest

import vidigest
from vidigest.cli import WorkerName
from vidigest.common.stages import INDEXING, STAGES, SUMMARY, TRANSCRIPTION
from vidigest.workers import PROCESSES

SRC = Path(vidigest.__file__).parent


def imported(folder: str) -> dict[str, set[str]]:
    """File (relative to src/vidigest) -> every `vidigest...` module it imports, lazily too."""
    found: dict[str, set[str]] = {}
    for path in sorted((SRC / folder).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[str(path.relative_to(SRC))] = {n for n in names if n.startswith("vidigest")}
    return found


def test_common_imports_only_common() -> None:
    for path, names in imported("common").items():
        outside = {n for n in names if not n.startswith("vidigest.common")}
        assert not outside, f"{path} imports {outside}"


@pytest.mark.parametrize("folder", ["media", "messaging", "storage", "embedding"])
def test_shared_libraries_know_no_feature(folder: str) -> None:
    for path, names in imported(folder).items():
        features = {n for n in names if n.startswith("vidigest.modules")}
        assert not features, f"{path} imports {features}"


def test_videos_imports_no_stage() -> None:
    for path, names in imported("modules/videos").items():
        stages = {
            n
            for n in names
            if n.startswith(("vidigest.modules.transcription", "vidigest.modules.summary"))
        }
        assert not stages, f"{path} imports {stages}"


def test_one_registry_of_stages() -> None:
    """The consumer names are stored (`processed_messages`): they must not change. The CLI's
    `worker NAME` choices are the stages and the relay."""
    assert list(STAGES) == ["transcription", "indexing", "summary"]
    assert (INDEXING.consumer, INDEXING.topic) == ("indexing-worker", "transcription.completed")
    assert (TRANSCRIPTION.consumer, TRANSCRIPTION.topic) == (
        "transcription-worker",
        "video.registered",
    )
    assert (SUMMARY.consumer, SUMMARY.topic) == ("summary-worker", "transcription.completed")
    assert typing.get_args(WorkerName) == PROCESSES


def test_tests_share_helpers_through_tests_support_only() -> None:
    """A test file imports no other test file or conftest: what tests share lives in
    tests/support/, so moving or deleting one test never breaks another."""
    tests_dir = Path(__file__).resolve().parents[1]
    offenders = []
    for path in sorted(tests_dir.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
                if node.module == "tests":
                    modules = [f"tests.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                if module.startswith("tests.") and not module.startswith("tests.support"):
                    offenders.append(f"{path.relative_to(tests_dir)} imports {module}")
    assert not offenders, offenders
