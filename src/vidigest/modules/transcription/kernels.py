"""The CPU kernels CTranslate2 runs on, pinned so that a transcript is the same on every x86-64.

CTranslate2 (and the Intel MKL it embeds for its matrix products) picks kernels by CPU features at
run time; different kernels round differently, and on Whisper that is enough to change a word, a
segment boundary, a detected language and so the chapters built on them. Measured on an AVX-512
machine (ctranslate2 4.8.5): CTranslate2 chose AVX2 for its own kernels by itself, but MKL ran
its AVX-512 GEMMs; only with `MKL_ENABLE_INSTRUCTIONS=AVX2` did it print the chapters an
AVX2-only machine prints (01:46 for the demo's third chapter, not 01:57). Both variables are read
when the first model is loaded (not at import), so `pin_cpu_kernels` must run before that, once
per process: the first load fixes the kernels for every later model in the process.

AVX2 is the default family: every x86-64 server of the last decade has it. The cost of not using
AVX-512, measured on the demo talk (`vidigest transcribe`, fast model, 2 shared cores, 2 runs
each): 12.7 / 12.4 s of CPU pinned to AVX2 against 11.0 / 11.4 s with MKL's AVX-512 (~+12%).
"auto" leaves the choice to the libraries (and any CT2_FORCE_CPU_ISA / MKL_ENABLE_INSTRUCTIONS
the operator set); results then differ between CPU generations.
"""

from __future__ import annotations

import logging
import os
import platform

from vidigest.common.exceptions import ConfigurationError

log = logging.getLogger(__name__)

AUTO = "auto"
# CTranslate2's ISA name -> the MKL instruction family of the same width
_MKL_INSTRUCTIONS = {"GENERIC": "SSE4_2", "AVX": "AVX", "AVX2": "AVX2", "AVX512": "AVX512"}
CPU_ISAS = (AUTO, *_MKL_INSTRUCTIONS)


def pin_cpu_kernels(isa: str) -> dict[str, str]:
    """Pin CTranslate2's and MKL's kernel family to `isa` (no-op for "auto" or off x86-64).

    Returns the environment variables set. Raises ConfigurationError for an unknown family.
    """
    name = isa if isa == AUTO else isa.upper()
    if name not in CPU_ISAS:
        raise ConfigurationError(f"unknown CPU kernel family {isa!r}: one of {', '.join(CPU_ISAS)}")
    if name == AUTO or platform.machine().lower() not in ("x86_64", "amd64"):
        return {}
    pinned = {"CT2_FORCE_CPU_ISA": name, "MKL_ENABLE_INSTRUCTIONS": _MKL_INSTRUCTIONS[name]}
    for key, value in pinned.items():
        if os.environ.get(key, value) != value:
            log.warning("%s=%s overridden by the vidigest setting: %s", key, os.environ[key], value)
        os.environ[key] = value
    return pinned
