"""The hashed locks in requirements/ agree with pyproject.toml.

`make demo` and `make test` install only from the locks (with pip's hash checking, vidigest itself
with --no-deps), so a dependency added to or tightened in pyproject.toml without `make lock`
would silently not be installed, or be installed at a version pyproject rules out. These tests
read the files, no network: they fail until `make lock` has been run and its output committed.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from vidigest.embedding.encoder import MODEL_PACKAGE, MODEL_PACKAGE_VERSION
from vidigest.modules.speakers import campplus

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements"
# what the locks are resolved for (scripts/lock.sh); the extras' markers are evaluated for it
TARGET = {"python_version": "3.11", "sys_platform": "linux", "platform_machine": "x86_64"}


@dataclass(frozen=True)
class Pin:
    version: Version
    hashes: tuple[str, ...]


def read_lock(name: str) -> dict[NormalizedName, Pin]:
    """Pins of a lock file: `name==version \\` followed by `--hash=sha256:...` lines."""
    text = (REQUIREMENTS / name).read_text()
    pins: dict[NormalizedName, Pin] = {}
    for entry in text.replace("\\\n", " ").splitlines():
        words = entry.split("#", 1)[0].split()
        if not words:
            continue
        requirement = Requirement(words[0])
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{name}: {entry!r} is not pinned"
        hashes = tuple(w.removeprefix("--hash=") for w in words[1:] if w.startswith("--hash="))
        pins[canonicalize_name(requirement.name)] = Pin(Version(specifier.version), hashes)
    return pins


def pyproject() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)


def declared(*extras: str) -> list[Requirement]:
    """pyproject's dependencies plus the named extras, those that apply to the target."""
    project = pyproject()["project"]
    assert isinstance(project, dict)
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    requirements = [Requirement(line) for line in lines]
    return [r for r in requirements if r.marker is None or r.marker.evaluate(TARGET)]


def assert_locked(requirements: list[Requirement], lock: str) -> None:
    pins = read_lock(lock)
    missing = [str(r) for r in requirements if canonicalize_name(r.name) not in pins]
    assert not missing, f"not in requirements/{lock}: {missing}; run `make lock`"
    outside = [
        f"{r} (locked {pins[canonicalize_name(r.name)].version})"
        for r in requirements
        if not r.specifier.contains(pins[canonicalize_name(r.name)].version, prereleases=True)
    ]
    assert not outside, f"requirements/{lock} pins versions pyproject rules out: {outside}"


def test_runtime_lock_pins_every_runtime_dependency_within_its_bounds() -> None:
    assert_locked(declared("accurate"), "runtime.lock")


def test_dev_lock_pins_every_runtime_and_dev_dependency_within_its_bounds() -> None:
    assert_locked(declared("accurate", "dev"), "dev.lock")


def test_make_demo_runs_the_versions_make_test_tested() -> None:
    """runtime.lock is a subset of dev.lock at the same versions (scripts/lock.sh constrains it)."""
    runtime, dev = read_lock("runtime.lock"), read_lock("dev.lock")
    differ = {
        name: (pin.version, dev[name].version if name in dev else None)
        for name, pin in runtime.items()
        if name not in dev or dev[name].version != pin.version
    }
    assert not differ, f"runtime.lock vs dev.lock: {differ}; run `make lock`"


@pytest.mark.parametrize(
    "lock", ["runtime.lock", "dev.lock", "no-deps.lock", "dev-no-deps.lock", "tools.lock"]
)
def test_every_pin_carries_a_sha256(lock: str) -> None:
    """pip's hash checking needs a hash on every line; a file without any would disable it."""
    pins = read_lock(lock)
    assert pins
    unhashed = [name for name, pin in pins.items() if not pin.hashes]
    assert not unhashed, f"{lock}: no hash for {unhashed}"
    assert all(h.startswith("sha256:") and len(h) == 71 for p in pins.values() for h in p.hashes)


def test_the_no_deps_lock_holds_the_weights_the_code_expects() -> None:
    """Exactly the packages and versions encoder.py and speakers/campplus.py check at load, and
    nothing they would drag in."""
    pins = read_lock("no-deps.lock")
    expected = {
        canonicalize_name(MODEL_PACKAGE): MODEL_PACKAGE_VERSION,
        canonicalize_name(campplus.MODEL_PACKAGE): campplus.MODEL_PACKAGE_VERSION,
    }
    assert set(pins) == set(expected)
    for name, version in expected.items():
        assert pins[name].version == Version(version)
    # their declared dependencies must not sneak into what make demo installs
    assert "torch" not in read_lock("runtime.lock")
    assert "torch" not in read_lock("dev.lock")
    assert "sentence-transformers" not in read_lock("dev.lock")


def test_tools_lock_holds_the_build_backend_pyproject_names() -> None:
    """vidigest is installed with --no-build-isolation, so its build backend comes from here."""
    build_system = pyproject()["build-system"]
    assert isinstance(build_system, dict)
    assert_locked([Requirement(r) for r in build_system["requires"]], "tools.lock")
