"""One settings object for a DIP run, and the named presets that fill it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from pipeline.errors import InputError


@dataclass(frozen=True)
class NetworkShape:
    """The skip encoder-decoder's architecture (see generator.build_skip)."""

    channels_down: tuple[int, ...] = (128,) * 5
    channels_up: tuple[int, ...] = (128,) * 5
    channels_skip: tuple[int, ...] = (128,) * 5
    input_depth: int = 32
    separable: bool = True
    upsample: str = "nearest"

    @property
    def levels(self) -> int:
        return len(self.channels_down)


@dataclass(frozen=True)
class DipSettings:
    """Everything that decides what one DIP fit computes.

    Every field changes the result, so all are hashed (`fingerprint`): the batch ledger can tell
    when a finished job must be redone. Where and how a fit runs lives apart, in RunOptions.
    """

    preset: str = "default"
    network: NetworkShape = field(default_factory=NetworkShape)
    steps: int = 3000
    lr: float = 0.01
    lr_floor: float = 1.0  # final lr as a fraction of lr (cosine decay); 1.0 = constant
    reg_noise: float = 0.03
    input_scale: float = 0.1
    output_ema: float = 0.0  # 0 = use the last output; else exponential average of outputs
    # Where to work: None = the whole image shrunk to `max_side` (the reference's behaviour);
    # otherwise crops around the mask with this many pixels of context on each side.
    context: int | None = None
    max_side: int | None = 512
    merge_gap: int = 32
    # Hold out known pixels shaped like the hole (the hole, shifted): the fit is scored on them,
    # which picks the best output, stops early (`patience` checks without gain) and sets the mix.
    holdout: bool = False
    # Mix the network's fill with a biharmonic fill, the weight chosen on the held-out pixels.
    classic_mix: bool = False
    # Pull the hole towards the biharmonic fill while fitting (0 = off).
    prior_weight: float = 0.0
    patience: int = 0
    check_every: int = 25
    min_steps: int = 0
    seed: int = 0
    precision: str = "fp32"  # fp32 | bf16 (autocast): it changes the pixels, so it is hashed
    # Mask mode's texture stage (core/fill/texture.py): the fill's detail above this blur radius
    # (px) comes from an exemplar fill, its broad shapes from the network. 0 = off.
    texture_sigma: float = 0.0
    # Mask mode: estimate a translucent mark's colour and opacity inside the mask and give back
    # the photo that shows through (core/separate/separate.py); opaque marks are still inpainted.
    separate: bool = False
    # Fit small crops of one size together as one stacked network (core/dip/batch_fit.py): 1.1-1.3x
    # faster for 8 regions of 64x64 on 2 CPU cores; the pixels equal one-by-one fits' only to
    # float32 rounding, so it is a setting (hashed), off by default, and not used while fits
    # are watched (snapshots, checkpoints).
    batch_fits: bool = False
    # Mask mode's fill (core/classic_fill.py): "network" fits the generator and mixes it with a
    # biharmonic fill; "classic" mixes FSR and biharmonic fills on held-out pixels and fits no
    # network; "network+classic" adds the fitted network as a third candidate to that mix.
    fill: str = "network"

    def with_overrides(self, **overrides: object) -> DipSettings:
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise InputError(f"unknown setting(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def fingerprint(self) -> str:
        """Hash of the fields that change the output pixels. Ledgers store it: the JSON must stay
        what it has always been (sorted asdict) for their records to stay current."""
        data = dataclasses.asdict(self)
        for added_later, off in ADDED_WHEN_OFF.items():  # absent from hashes made before them
            if data[added_later] == off:
                del data[added_later]
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class RunOptions:
    """Where and how one fit runs; none of it changes the pixels, so none of it is hashed."""

    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    snapshot_every: int = 0  # steps between intermediate results (0: none)
    checkpoint_every: int = 0  # steps between checkpoints (0: none)


# Fields added after ledgers existed, with the value that means "not used": left out of the
# hash at that value, so presets that do not use them keep the fingerprints they had.
ADDED_WHEN_OFF: dict[str, object] = {"texture_sigma": 0.0, "separate": False,
                                     "batch_fits": False, "fill": "network"}
FILLS = ("network", "classic", "network+classic")

REFERENCE = DipSettings(preset="reference")


def _our_net(width: int, levels: int, skip: int, input_depth: int) -> NetworkShape:
    """Standard 3x3 convs and bilinear upsampling (the reference's convs are separable)."""
    return NetworkShape(
        channels_down=(width,) * levels,
        channels_up=(width,) * levels,
        channels_skip=(skip,) * levels,
        input_depth=input_depth,
        separable=False,
        upsample="bilinear",
    )


# Realistic fills on a CPU in seconds (bench/results.md). Mask mode: FSR and biharmonic fills mixed
# on held-out pixels shaped like the hole give the broad shapes, an exemplar fill tops up the fine
# detail, and no network is fitted (it bought nothing there on 2 CPU cores). Template mode: a
# narrow 4-level net on crops with 24 px of context fits the pixels the blend model cannot invert.
DEFAULT = DipSettings(
    preset="default",
    network=_our_net(width=32, levels=4, skip=4, input_depth=8),
    steps=25, lr=0.01, lr_floor=0.1, output_ema=0.9,
    context=24, max_side=None,
    # held-out pixels: the best step, an early stop, the mix with a biharmonic fill
    holdout=True, classic_mix=True, prior_weight=0.1, patience=4, check_every=25, min_steps=25,
    texture_sigma=1.5, fill="classic",
)

# Previews: the default with fewer steps.
FAST = dataclasses.replace(DEFAULT, preset="fast", steps=10, min_steps=10)

# When time is cheap (a GPU): a wider, deeper net, more context and more steps.
QUALITY = dataclasses.replace(
    DEFAULT, preset="quality", network=_our_net(width=64, levels=5, skip=8, input_depth=16),
    steps=600, min_steps=200, patience=6, context=32, fill="network+classic",
)

PRESETS: dict[str, DipSettings] = {s.preset: s for s in (DEFAULT, QUALITY, FAST, REFERENCE)}


def preset(name: str) -> DipSettings:
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(
            f"unknown preset '{name}' (choose from: {', '.join(PRESETS)})"
        ) from None
