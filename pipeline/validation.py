"""Settings that cannot work are refused before anything is fitted, each with a line that names
the field, its value and what it may be.

The rules read DipSettings' and NetworkShape's own fields: every number must be finite and not
negative unless a rule below says more, so a field added to settings.py later is checked too.
"""

from __future__ import annotations

import dataclasses
import math

from pipeline.errors import InputError
from pipeline.settings import FILLS, DipSettings, NetworkShape

PRECISIONS = ("fp32", "bf16")
UPSAMPLING = ("nearest", "bilinear")
MAX_LEVELS = 8  # 2**8 px of padding per side already dwarfs any crop
MAX_CHANNELS = 4096
MAX_SEED = 2**32 - 1
# (low, high, low included, high included) beyond the default "finite and >= 0".


class SettingError(InputError):
    """A setting that cannot work; `field` names it (`lr`, `network.channels_up`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"setting {field}: {message}")
        self.field = field


RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "steps": (0, 10_000_000, True, True),
    "lr": (0, math.inf, False, False),
    "lr_floor": (0, 1, True, True),
    "input_scale": (0, math.inf, False, False),
    "output_ema": (0, 1, True, False),
    "max_side": (1, 1_000_000, True, True),
    "check_every": (1, math.inf, True, False),
    "seed": (0, MAX_SEED, True, True),
    "input_depth": (1, MAX_CHANNELS, True, True),
}


def _describe(name: str, low: float, high: float, low_in: bool, high_in: bool) -> str:
    if high == math.inf:
        return f"{name} must be {'at least' if low_in else 'more than'} {low:g}"
    left, right = "[" if low_in else "(", "]" if high_in else ")"
    return f"{name} must lie in {left}{low:g}, {high:g}{right}"


def _check_number(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if not math.isfinite(value):
        raise SettingError(name, f"{value} is not a finite number")
    low, high, low_in, high_in = RANGES.get(name.rpartition(".")[2], (0, math.inf, True, False))
    inside = (value >= low if low_in else value > low) and (
        value <= high if high_in else value < high
    )
    if not inside:
        raise SettingError(name, f"{value!r} is out of range "
                           f"({_describe(name, low, high, low_in, high_in)})")


def _check_network(shape: NetworkShape) -> None:
    lists = {"channels_down": shape.channels_down, "channels_up": shape.channels_up,
             "channels_skip": shape.channels_skip}
    for name, values in lists.items():
        if not values:
            raise SettingError(f"network.{name}", "needs one entry per level (it is empty)")
        smallest = 0 if name == "channels_skip" else 1
        for value in values:
            if isinstance(value, bool) or not isinstance(value, int) or not (
                smallest <= value <= MAX_CHANNELS
            ):
                raise SettingError(f"network.{name}", f"{value!r} is not a channel count "
                                   f"({smallest} to {MAX_CHANNELS})")
    if len({len(values) for values in lists.values()}) != 1:
        raise SettingError("network", "channels_down, channels_up and channels_skip need one "
                           "entry per level each (the same length)")
    if shape.levels > MAX_LEVELS:
        raise SettingError("network", f"{shape.levels} levels; at most {MAX_LEVELS}")
    if shape.upsample not in UPSAMPLING:
        raise SettingError("network.upsample", f"'{shape.upsample}' is not one of "
                           f"{', '.join(UPSAMPLING)}")
    for field in dataclasses.fields(shape):
        _check_number(f"network.{field.name}", getattr(shape, field.name))


def check_settings(settings: DipSettings) -> None:
    """InputError naming the first setting that cannot work."""
    _check_network(settings.network)
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if value is not None:
            _check_number(field.name, value)
    if settings.fill not in FILLS:
        raise SettingError("fill", f"'{settings.fill}' is not one of {', '.join(FILLS)}")
    if settings.precision not in PRECISIONS:
        raise SettingError("precision", f"'{settings.precision}' is not one of "
                           f"{', '.join(PRECISIONS)}")
    smallest = least_side(settings)
    if settings.max_side is not None and settings.context is None and (
        settings.max_side < smallest
    ):
        raise SettingError("max_side", f"{settings.max_side} is below {smallest}, the least "
                           f"this network can fit")


def least_side(settings: DipSettings) -> int:
    """The shortest image side the network can fit: one halving per level, 2 px at the end."""
    return 2 * 2**settings.network.levels
