"""Device and precision chosen from what a machine offers, on any machine (capabilities given)."""

from __future__ import annotations

import pytest

from vecstore import ConfigError
from vecstore.hardware import Hardware, cpu_flags, resolve_device, resolve_precision

PLAIN_CPU = Hardware()
BF16_CPU = Hardware(cpu_bf16=True)
TWO_GPUS = Hardware(cuda_devices=2, cuda_bf16=True, cpu_bf16=True)
OLD_GPU = Hardware(cuda_devices=1)
MAC = Hardware(mps=True)


@pytest.mark.parametrize(
    ("setting", "hardware", "device"),
    [
        ("auto", PLAIN_CPU, "cpu"),
        ("auto", TWO_GPUS, "cuda"),
        ("auto", MAC, "mps"),
        ("cpu", TWO_GPUS, "cpu"),
        ("CUDA:1", TWO_GPUS, "cuda:1"),
        ("cuda", OLD_GPU, "cuda"),
        (" mps ", MAC, "mps"),
    ],
)
def test_devices(setting: str, hardware: Hardware, device: str) -> None:
    assert resolve_device(setting, hardware) == device


@pytest.mark.parametrize(
    ("setting", "hardware", "message"),
    [
        ("cuda", PLAIN_CPU, "'cuda' is not available here; available: cpu"),
        ("cuda:2", TWO_GPUS, "available: cpu, cuda:0, cuda:1"),
        ("mps", TWO_GPUS, "'mps' is not available"),
        ("gpu", TWO_GPUS, "use auto, cpu, cuda, cuda:N or mps"),
        ("cuda:x", TWO_GPUS, "use auto, cpu, cuda, cuda:N or mps"),
    ],
)
def test_devices_that_are_not_there(setting: str, hardware: Hardware, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        resolve_device(setting, hardware)


@pytest.mark.parametrize(
    ("setting", "device", "hardware", "precision"),
    [
        ("auto", "cpu", PLAIN_CPU, "fp32"),
        ("auto", "cpu", BF16_CPU, "bf16"),
        ("auto", "cuda", OLD_GPU, "fp16"),
        ("auto", "cuda:1", TWO_GPUS, "fp16"),
        ("auto", "mps", MAC, "fp32"),
        ("fp32", "cuda", TWO_GPUS, "fp32"),
        ("bf16", "cpu", BF16_CPU, "bf16"),
        ("bf16", "cuda", TWO_GPUS, "bf16"),
        ("fp16", "cuda", OLD_GPU, "fp16"),
        ("fp16", "mps", MAC, "fp16"),
    ],
)
def test_precision_follows_the_hardware(
    setting: str, device: str, hardware: Hardware, precision: str
) -> None:
    assert resolve_precision(setting, device, hardware) == precision


@pytest.mark.parametrize(
    ("setting", "device", "hardware", "message"),
    [
        ("bf16", "cpu", PLAIN_CPU, "no native bf16"),
        ("bf16", "cuda", OLD_GPU, "cuda has no native bf16"),
        ("fp16", "cpu", BF16_CPU, "needs a GPU"),
        ("int8", "cpu", BF16_CPU, "use auto, fp32, bf16 or fp16"),
    ],
)
def test_precision_the_hardware_lacks(
    setting: str, device: str, hardware: Hardware, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_precision(setting, device, hardware)


def test_cpu_flags_are_read_not_guessed() -> None:
    info = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_tile\n"
    assert {"avx512_bf16", "avx2"} <= cpu_flags(info)
    assert cpu_flags("processor: 0\n") == frozenset()


def test_settings_carry_encoder_options(monkeypatch: pytest.MonkeyPatch) -> None:
    from vecstore import load_settings

    monkeypatch.setenv("VECSTORE_DEVICE", "cuda:1")
    monkeypatch.setenv("VECSTORE_PRECISION", "bf16")
    monkeypatch.setenv("VECSTORE_THREADS", "1")
    monkeypatch.setenv("VECSTORE_QUERY_PROMPT", "query: ")
    s = load_settings()
    assert (s.device, s.precision, s.threads, s.query_prompt, s.document_prompt) == (
        "cuda:1",
        "bf16",
        1,
        "query: ",
        None,
    )
    monkeypatch.setenv("VECSTORE_PRECISION", "int4")
    with pytest.raises(ConfigError, match="precision"):
        load_settings()
