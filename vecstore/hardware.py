"""Where and how the encoder runs: the device and the precision, chosen from what the machine has.

Decided from :class:`Hardware`, which :func:`detect_hardware` reads off the machine (torch is
imported then, on first use, never by ``import vecstore``) and tests give by hand:

* device ``auto``: CUDA when torch sees a GPU, else Apple ``mps``, else ``cpu``. Explicit
  ``cpu``, ``cuda``, ``cuda:N``, ``mps``: one that is not there is a ``ConfigError`` naming it and
  what is available.
* precision ``auto``: fp16 on CUDA; bf16 on a CPU with native bf16 instructions (AMX or
  AVX512-BF16, read from the CPU's flags, not guessed); fp32 otherwise.
* runtime ``auto``: ONNX Runtime (fp32) on a CPU without native bf16, where it measured faster
  than torch at the same vectors (``benchmarks/bench_encode.py``); torch everywhere else (bf16
  on a native-bf16 CPU, as no such CPU was at hand to measure ONNX against it; fp16 on CUDA).
  An explicit ``onnx`` that the machine cannot run (a GPU device, a lower precision, no
  onnxruntime) is a ``ConfigError`` naming what is missing. An explicit precision
  the device cannot run natively (bf16 on a CPU without those instructions or a GPU before
  Ampere, fp16 on a CPU) is a ``ConfigError``. fp32 gives sentence-transformers' own vectors;
  bf16 and fp16 run the model under ``torch.autocast`` (weights stay fp32, the matrix products
  run in the lower precision).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vecstore.errors import ConfigError

Precision = Literal["fp32", "bf16", "fp16"]
PrecisionSetting = Literal["auto", "fp32", "bf16", "fp16"]
Runtime = Literal["torch", "onnx"]
RuntimeSetting = Literal["auto", "torch", "onnx"]
CPU_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
CPUINFO = Path("/proc/cpuinfo")
_CUDA = re.compile(r"cuda(?::(\d+))?")


@dataclass(frozen=True, slots=True)
class Hardware:
    """What the machine offers: CUDA devices, Apple's mps, native bf16 on CPU and GPU."""

    cuda_devices: int = 0
    cuda_bf16: bool = False
    mps: bool = False
    cpu_bf16: bool = False

    def devices(self) -> list[str]:
        """The device names available here."""
        return ["cpu", *(f"cuda:{i}" for i in range(self.cuda_devices)), *(["mps"] * self.mps)]


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``; empty where it cannot be read)."""
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text()
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


ACCELERATOR_DEVICES = ("nvidia[0-9]*", "kfd", "dxg")
"""Device files of the accelerators torch drives (NVIDIA, ROCm, WSL's GPU): without one of them
(and off macOS, where MPS needs no device file) torch sees no accelerator."""


def accelerator_visible(dev: Path = Path("/dev")) -> bool:
    """Whether torch could find an accelerator here, told without importing torch."""
    if sys.platform == "darwin":
        return True
    return any(any(dev.glob(pattern)) for pattern in ACCELERATOR_DEVICES)


def detect_hardware() -> Hardware:
    """Read the machine: what torch sees, and the CPU's bf16 instructions."""
    import torch

    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return Hardware(
        cuda_devices=cuda,
        cuda_bf16=bool(cuda) and bool(torch.cuda.is_bf16_supported()),
        mps=bool(torch.backends.mps.is_available()),
        cpu_bf16=bool(cpu_flags() & CPU_BF16_FLAGS),
    )


def resolve_device(setting: str, hardware: Hardware) -> str:
    """The torch device for a ``device`` setting, or ConfigError."""
    name = setting.strip().lower()
    if name == "auto":
        return "cuda" if hardware.cuda_devices else "mps" if hardware.mps else "cpu"
    cuda = _CUDA.fullmatch(name)
    known = name in ("cpu", "mps") or cuda is not None
    if not known:
        raise ConfigError(f"device {setting!r}: use auto, cpu, cuda, cuda:N or mps")
    there = (
        name == "cpu"
        or (name == "mps" and hardware.mps)
        or (cuda is not None and int(cuda.group(1) or 0) < hardware.cuda_devices)
    )
    if not there:
        raise ConfigError(
            f"device {setting!r} is not available here; available: {', '.join(hardware.devices())}"
        )
    return name


def resolve_precision(setting: str, device: str, hardware: Hardware) -> Precision:
    """The precision for a ``precision`` setting on ``device``, or ConfigError."""
    gpu = device.startswith("cuda")
    if setting == "auto":
        if gpu:
            return "fp16"
        return "bf16" if device == "cpu" and hardware.cpu_bf16 else "fp32"
    if setting == "fp32":
        return "fp32"
    if setting == "bf16":
        if (device == "cpu" and hardware.cpu_bf16) or (gpu and hardware.cuda_bf16):
            return "bf16"
        why = (
            "this CPU has no native bf16 (AMX or AVX512-BF16)"
            if device == "cpu"
            else f"{device} has no native bf16"
        )
        raise ConfigError(f"precision 'bf16' on {device}: {why}; use fp32 or auto")
    if setting == "fp16":
        if gpu or device == "mps":
            return "fp16"
        raise ConfigError("precision 'fp16' needs a GPU (cuda or mps); on the CPU use bf16 or fp32")
    raise ConfigError(f"precision {setting!r}: use auto, fp32, bf16 or fp16")


def resolve_runtime(setting: str, device: str, precision: Precision, onnx: bool) -> Runtime:
    """The runtime for a ``runtime`` setting, given the resolved device and precision.

    ``onnx``: whether onnxruntime can be imported.
    """
    if setting == "torch":
        return "torch"
    if setting == "onnx":
        if not device.startswith("cpu"):
            raise ConfigError(
                f"runtime 'onnx' runs on the CPU (onnxruntime's CPU build); device {device!r} "
                "needs runtime 'torch' (or 'auto')"
            )
        if precision != "fp32":
            raise ConfigError(
                f"runtime 'onnx' runs in fp32; precision {precision!r} needs runtime 'torch'"
            )
        if not onnx:
            raise ConfigError("runtime 'onnx' needs onnxruntime: pip install onnxruntime")
        return "onnx"
    if setting != "auto":
        raise ConfigError(f"runtime {setting!r}: use auto, torch or onnx")
    return "onnx" if device == "cpu" and precision == "fp32" and onnx else "torch"
