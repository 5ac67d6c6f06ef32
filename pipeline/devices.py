"""Device names: the one place that parses them and checks this machine has them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pipeline.errors import InputError

if TYPE_CHECKING:  # torch loads only where a device is looked at: parse() never needs it
    import torch

DEVICE_NAME = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
KNOWN = "auto, cpu, cuda, cuda:N or mps"


def parse(name: str) -> str:
    """A device name, spelled out (`cuda` -> `cuda:0`); InputError if it names no device."""
    name = name.strip()
    if not DEVICE_NAME.match(name):
        raise InputError(f"unknown device '{name}': not a device (use {KNOWN})")
    return "cuda:0" if name == "cuda" else name


def check_available(name: str) -> None:
    """InputError unless this machine has the (parsed, not auto) device."""
    import torch

    kind = name.split(":")[0]
    if kind == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device '{name}': CUDA is not available on this machine "
                         f"(there is no {name})")
    if kind == "cuda" and int(name.split(":")[1]) >= torch.cuda.device_count():
        raise InputError(f"device '{name}': there is no {name} "
                         f"(this machine has {torch.cuda.device_count()} GPU(s))")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"device '{name}': MPS is not available on this machine")


def local_gpus() -> tuple[str, ...]:
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return tuple(f"cuda:{i}" for i in range(count))


def pick(name: str) -> torch.device:
    """The torch device to fit on: `auto` is the first GPU, else MPS, else the CPU."""
    import torch

    name = parse(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    check_available(name)
    return torch.device(name)
