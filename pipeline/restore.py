"""One picture in, the same picture with its hole filled out: regions -> fit -> composite."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image
from skimage.restoration import inpaint_biharmonic

from pipeline import dip, regions
from pipeline.errors import InputError
from pipeline.generator import size_multiple
from pipeline.imaging import Picture, warn
from pipeline.settings import DipSettings

# Called with (steps done, steps in all, latest loss) as the fit goes.
ProgressCallback = Callable[[int, int, float], None]
SnapshotWriter = Callable[[int, Picture], None]
CheckpointFactory = Callable[[int], dip.Checkpointer]

FULL_COVER = 0.98  # above this share of the image masked, nothing is left to learn from
LOOKS_INVERTED = 0.5


@dataclass(frozen=True)
class Observers:
    """Optional hooks a caller can attach; restore() runs the same without them."""

    progress: ProgressCallback | None = None
    snapshot: SnapshotWriter | None = None
    checkpoints: CheckpointFactory | None = None


@dataclass(frozen=True)
class Evidence:
    """What the pixels say, over the whole picture. Mask mode: weight = not hole, no blend."""

    weight: np.ndarray  # (H, W) float32, how much each pixel's value is trusted
    blend: dip.Blend | None = None  # full-size forward model (template mode)


def check_hole(hole: np.ndarray, source: str) -> None:
    share = float(hole.mean())
    if share >= FULL_COVER:
        raise InputError(
            f"{source}: the mask covers {share:.0%} of the image; nothing is left to fill from "
            "(is it inverted? try --invert-mask)"
        )
    if share > LOOKS_INVERTED:
        warn(
            f"{source}: the mask covers {share:.0%} of the image; if black should mean keep, "
            "pass --invert-mask"
        )


def quantize(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """(C, H, W) floats in [0, 1] -> (H, W, C) integers of `dtype`."""
    top = np.iinfo(dtype).max
    return (np.clip(values, 0, 1).transpose(1, 2, 0) * top).round().astype(dtype)


def composite(picture: Picture, hole: np.ndarray, values: np.ndarray) -> Picture:
    """The picture with its hole pixels replaced by `values` (C, H, W floats); no other pixel
    is touched, so lossless outputs keep them bit for bit."""
    pixels = picture.pixels.copy()
    pixels[hole] = quantize(values, pixels.dtype)[hole]
    return picture.with_pixels(pixels)


def restore(
    picture: Picture,
    hole: np.ndarray,
    settings: DipSettings,
    observers: Observers = Observers(),
) -> Picture:
    """Fill `hole` (bool H x W) from the rest of the picture; every other pixel is kept as is."""
    if not hole.any():
        warn(f"{picture.source}: the mask is empty; the image is copied unchanged")
        return picture
    check_hole(hole, picture.source)
    evidence = Evidence(weight=(~hole).astype(np.float32))
    return composite(picture, hole, fill(picture, hole, settings, evidence, observers))


def fill(
    picture: Picture,
    hole: np.ndarray,
    settings: DipSettings,
    evidence: Evidence,
    observers: Observers = Observers(),
) -> np.ndarray:
    """The picture as floats (C, H, W) with the generator's output in the hole."""
    if settings.context is None:
        return _fill_whole(picture, hole, settings, evidence, observers)
    image = picture.as_float()
    filled = image.copy()
    found = regions.find_regions(
        hole, settings.context, settings.merge_gap, size_multiple(settings.network)
    )
    for index, region in enumerate(found):
        job = RegionFit(image, evidence, region.crop, region.pad, settings, index, len(found))
        output = job.run(observers, _snapshot_hook(picture, filled, region, job, observers))
        rows, cols = region.crop.slices
        filled[:, rows, cols][:, region.owned] = output[:, region.owned]
    return filled


def _snapshot_hook(
    picture: Picture,
    filled: np.ndarray,
    region: regions.Region,
    job: RegionFit,
    observers: Observers,
) -> dip.SnapshotCallback | None:
    if observers.snapshot is None:
        return None

    def write(step: int, output: np.ndarray) -> None:
        preview = filled.copy()
        rows, cols = region.crop.slices
        crop = output[:, : region.crop.height, : region.crop.width]
        preview[:, rows, cols][:, region.owned] = crop[:, region.owned]
        changed = np.zeros(picture.size, dtype=bool)
        changed[rows, cols] = region.owned
        observers.snapshot(job.steps_before + step, composite(picture, changed, preview))

    return write


def classic_fill(image: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """Biharmonic inpainting of (C, H, W) floats: smooth, fast, a good start for the network."""
    filled = inpaint_biharmonic(image.transpose(1, 2, 0), unknown, channel_axis=-1)
    return np.clip(filled, 0, 1).transpose(2, 0, 1).astype(np.float32)


HOLDOUT_SHIFTS = (6, 12, 24, 48)


def held_out(unknown: np.ndarray, inside: np.ndarray) -> np.ndarray | None:
    """Known pixels shaped like the hole: the hole shifted to where the pixels are known, clear of
    the hole's edge. Of the shifts tried, the one that holds out the most pixels wins."""
    from scipy import ndimage

    near_hole = ndimage.binary_dilation(unknown, iterations=2)
    allowed = inside & ~near_hole
    best, best_count = None, 0
    for distance in HOLDOUT_SHIFTS:
        for dy, dx in ((distance, 0), (-distance, 0), (0, distance), (0, -distance)):
            shifted = np.roll(unknown & inside, (dy, dx), axis=(0, 1)) & allowed
            count = int(shifted.sum())
            if count > best_count:
                best, best_count = shifted, count
    if best is None or best_count < 16:
        return None
    return best


def best_share(
    network: np.ndarray, classic: np.ndarray, target: np.ndarray, holdout: np.ndarray
) -> float:
    """The mix weight of the classic fill that best predicts the held-out pixels (least squares,
    clipped to [0, 1])."""
    difference = (classic - network)[:, holdout]
    residual = (target - network)[:, holdout]
    denominator = float((difference**2).sum())
    if denominator <= 0:
        return 0.5
    return float(np.clip((difference * residual).sum() / denominator, 0.0, 1.0))


@dataclass(frozen=True)
class RegionFit:
    """One crop's fit: the inputs cut to the crop and padded for the network."""

    image: np.ndarray
    evidence: Evidence
    crop: regions.Box
    pad: tuple[int, int]
    settings: DipSettings
    index: int
    count: int

    @property
    def steps_before(self) -> int:
        return self.index * self.settings.steps

    def _cut(self, array: np.ndarray) -> np.ndarray:
        rows, cols = self.crop.slices
        return np.ascontiguousarray(regions.pad_for_network(array[:, rows, cols], self.pad))

    def run(self, observers: Observers, on_snapshot: dip.SnapshotCallback | None) -> np.ndarray:
        """The network output over the crop (C, h, w), padding removed."""
        settings = self.settings
        checkpointer = observers.checkpoints(self.index) if observers.checkpoints else None
        saved = checkpointer.load() if checkpointer else None
        if saved is not None and "result" in saved:
            return saved["result"]
        weight = self._cut(self.evidence.weight[None].astype(np.float32))
        weight[:, self.crop.height :, :] = 0  # padding is invented: never fit it
        weight[:, :, self.crop.width :] = 0
        blend = None
        if self.evidence.blend is not None:
            blend = dip.Blend(
                alpha=self._cut(self.evidence.blend.alpha),
                colour=self._cut(self.evidence.blend.colour),
            )
        target = self._cut(self.image)
        unknown = weight[0] <= 0
        inside = np.zeros_like(unknown)
        inside[: self.crop.height, : self.crop.width] = True
        holdout = held_out(unknown, inside) if settings.holdout else None
        if holdout is not None:
            weight = weight * ~holdout[None]
        classic = None
        if settings.classic_mix or settings.prior_weight > 0:
            classic = classic_fill(target, unknown)

        def on_step(step: int, loss: float) -> None:
            if observers.progress:
                observers.progress(self.steps_before + step, settings.steps * self.count, loss)

        result = dip.fit(
            target,
            weight,
            settings,
            blend=blend,
            seed=settings.seed * 1000 + self.index,
            on_step=on_step,
            on_snapshot=on_snapshot,
            checkpointer=checkpointer,
            prior=classic if settings.prior_weight > 0 else None,
            holdout=holdout[None] if holdout is not None else None,
        )
        output = result.output
        if settings.classic_mix and classic is not None:
            share = 0.5
            if holdout is not None:
                classic_on_holdout = classic_fill(target, unknown | holdout)
                share = best_share(output, classic_on_holdout, target, holdout)
            output = (1 - share) * output + share * classic
        output = np.ascontiguousarray(output[:, : self.crop.height, : self.crop.width])
        if checkpointer is not None:
            checkpointer.save({"result": output})
        return output


def _resize(array: np.ndarray, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    """Resize (C, H, W) float channels to (height, width)."""
    height, width = size
    return np.stack(
        [np.asarray(Image.fromarray(c).resize((width, height), resample)) for c in array]
    ).astype(np.float32)


def _fill_whole(
    picture: Picture,
    hole: np.ndarray,
    settings: DipSettings,
    evidence: Evidence,
    observers: Observers,
) -> np.ndarray:
    """The reference's way: fit the whole picture shrunk to `max_side`. Unlike the reference we
    scale the fill back up and paste only hole pixels, so the output keeps its full size."""
    if evidence.blend is not None:
        raise InputError("template mode works on crops; the reference preset does not support it")
    height, width = picture.size
    scale = min(1.0, (settings.max_side or max(height, width)) / max(height, width))
    small = (max(1, round(height * scale)), max(1, round(width * scale)))
    image = picture.as_float()
    weight = evidence.weight[None]
    if scale < 1:
        image = _resize(image, small, Image.Resampling.LANCZOS)
        weight = _resize(weight, small, Image.Resampling.NEAREST)
    multiple = size_multiple(settings.network)
    pad = (-small[0] % multiple, -small[1] % multiple)
    box = regions.Box(0, small[0], 0, small[1])
    job = RegionFit(image, Evidence(weight=weight[0]), box, pad, settings, 0, 1)
    output = job.run(observers, None)
    if scale < 1:
        output = _resize(output, (height, width), Image.Resampling.BICUBIC)
    filled = picture.as_float()
    filled[:, hole] = output[:, hole]
    return filled
