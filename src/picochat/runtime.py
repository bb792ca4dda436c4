"""Devices, precision and seeding: the one place that decides where tensors live.

`--device auto` picks CUDA, then MPS, then CPU. `--precision auto` means bf16
autocast where the hardware runs it natively (CUDA with bf16 support; CPUs with
AVX512-BF16 or AMX, where it is about 2x fp32) and fp32 elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch

from picochat.errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """`auto|cpu|cuda|mps|cuda:N` -> a device that exists here, or a clear error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "--device cuda was asked for but no CUDA GPU is visible.",
            fix="Use --device cpu or auto.",
        )
    if device.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ConfigError(
            "--device mps was asked for but MPS is not available.", fix="Use --device cpu or auto."
        )
    return device


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 matmuls run natively (fast) on `device`."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto|fp32|bf16` -> `fp32` or `bf16` for this device."""
    if precision == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    if precision == "bf16" and device.type == "mps":
        raise ConfigError("bf16 autocast is not supported on MPS.", fix="Use --precision fp32.")
    return precision


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast context for the forward pass (a no-op in fp32)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (None leaves it alone)."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
