"""One picture in, the same picture with its hole filled out: regions -> fit -> composite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image

from pipeline.core.dip.inputs import (
    Blend,
    Checkpointer,
    FitHooks,
    FitInputs,
    SnapshotCallback,
    size_multiple,
)
from pipeline.core.dip.inputs import group as batches
from pipeline.core.fill import coarse, regions, side_by_side
from pipeline.core.fill.classic_fill import CLASSIC_CONTEXT, ClassicFill
from pipeline.core.fill.composite import check_hole, composite, quantize  # noqa: F401 (theirs)
from pipeline.core.fill.mask_fill import CropFill, Direct, MaskFill
from pipeline.errors import InputError, warn
from pipeline.picture import Picture
from pipeline.settings import DipSettings, RunOptions

# Called with (steps done, steps in all, latest loss) as the fit goes.
ProgressCallback = Callable[[int, int, float], None]
SnapshotWriter = Callable[[int, Picture], None]


class RegionStore(Checkpointer, Protocol):
    """One region's checkpoint: the optimiser state while it fits, its output once done."""

    def result(self) -> np.ndarray | None: ...

    def save_result(self, output: np.ndarray) -> None: ...


CheckpointFactory = Callable[[int], RegionStore]


@dataclass(frozen=True)
class Observers:
    """Optional hooks a caller can attach; restore() runs the same without them."""

    progress: ProgressCallback | None = None
    snapshot: SnapshotWriter | None = None
    checkpoints: CheckpointFactory | None = None
    fitted: Callable[[int], None] | None = None  # told each fit's optimiser steps as it ends


@dataclass(frozen=True)
class Evidence:
    """What the pixels say, over the whole picture. Mask mode: weight = not hole, no blend."""

    weight: np.ndarray  # (H, W) float32, how much each pixel's value is trusted
    blend: Blend | None = None  # full-size forward model (template mode)
    lossy: bool = False  # the pixels came from a lossy file (they ring around sharp edges)

    def cut(self, rows: slice, cols: slice) -> Evidence:
        blend = self.blend
        if blend is not None:
            blend = Blend(alpha=blend.alpha[:, rows, cols], colour=blend.colour[:, rows, cols])
        return Evidence(weight=self.weight[rows, cols], blend=blend, lossy=self.lossy)


def restore(
    picture: Picture,
    hole: np.ndarray,
    settings: DipSettings,
    runtime: RunOptions = RunOptions(),
    observers: Observers = Observers(),
) -> Picture:
    """Fill `hole` (bool H x W) from the rest of the picture; every other pixel is kept as is."""
    if not hole.any():
        warn(f"{picture.source}: the mask is empty; the image is copied unchanged")
        return picture
    check_hole(hole, picture.source)
    if settings.context is not None:
        deep = coarse.deep_inside(hole, _context(settings, template_mode=False))
        if deep is not None:  # a hole too large for its crops: its inside first, on a small copy
            def small(shrunk: Picture, shrunk_hole: np.ndarray) -> Picture:
                return restore(shrunk, shrunk_hole, settings, runtime)

            picture, hole = coarse.prefill(picture, hole, deep, small), hole & ~deep
        return _restore_crops(picture, hole, settings, runtime, observers)
    evidence = Evidence(weight=(~hole).astype(np.float32), lossy=picture.lossy)
    filled = fill(picture, hole, settings, evidence, runtime, observers)
    return composite(picture, hole, filled)


def _restore_crops(
    picture: Picture,
    hole: np.ndarray,
    settings: DipSettings,
    runtime: RunOptions,
    observers: Observers,
) -> Picture:
    """`fill` + `composite`, crop by crop: only crops become floats, so memory follows the
    marked area, not the photo (a 64 MP photo would cost 768 MB per float copy)."""
    pixels = picture.pixels.copy()
    evidence = Evidence(weight=(~hole).astype(np.float32), lossy=picture.lossy)
    for region, output in _fit_regions(picture, hole, settings, evidence, runtime, observers,
                                       shown=pixels):
        _paste(pixels, region, output)
    return picture.with_pixels(pixels)


def fill(
    picture: Picture,
    hole: np.ndarray,
    settings: DipSettings,
    evidence: Evidence,
    runtime: RunOptions = RunOptions(),
    observers: Observers = Observers(),
) -> np.ndarray:
    """The picture as floats (C, H, W) with the generator's output in the hole."""
    if settings.context is None:
        return _fill_whole(picture, hole, settings, evidence, runtime, observers)
    filled = picture.as_float()
    shown = picture.pixels.copy() if observers.snapshot else picture.pixels  # for snapshots
    for region, output in _fit_regions(picture, hole, settings, evidence, runtime, observers,
                                       shown):
        rows, cols = region.crop.slices
        filled[:, rows, cols][:, region.owned] = output[:, region.owned]
        if observers.snapshot:
            _paste(shown, region, output)
    return filled


def _fit_regions(
    picture: Picture, hole: np.ndarray, settings: DipSettings, evidence: Evidence,
    runtime: RunOptions, observers: Observers, shown: np.ndarray,
) -> Iterator[tuple[regions.Region, np.ndarray]]:
    """Each region of the hole and its fill (C, h, w), fitted on its own crop: only the crop
    becomes floats. `shown` (the picture's pixels as filled so far) is what snapshots show.
    With settings.batch_fits, small crops of one size are fitted together (batch_fit) unless
    the fits are watched step by step (snapshots, optimiser checkpoints); their outputs equal
    one-by-one fits' only to float32 rounding, which is why it is a (hashed) setting."""
    context = _context(settings, template_mode=evidence.blend is not None)
    found = regions.find_regions(hole, context, settings.merge_gap, size_multiple(settings.network))

    def job(index: int, steps_before: int) -> RegionFit:
        rows, cols = found[index].crop.slices
        crop = picture.with_pixels(picture.pixels[rows, cols])  # the original, not the filled
        local = regions.Box(0, found[index].crop.height, 0, found[index].crop.width)
        return RegionFit(crop.as_float(), evidence.cut(rows, cols), local, found[index].pad,
                         settings, runtime, index, len(found), steps_before)

    watched = observers.snapshot is not None or runtime.checkpoint_every > 0
    if settings.fill == "classic" and not watched and observers.checkpoints is None:
        fills = side_by_side.ordered_map(lambda index: job(index, 0).run(observers, None),
                                         range(len(found)), side_by_side.process_threads())
        yield from zip(found, fills, strict=True)  # no network: no steps, nothing to watch
        return
    together = settings.batch_fits and not watched and settings.fill == "network"
    sizes = [region.padded_size for region in found]
    members = [1] * len(found)
    if together:  # the network's stack loads only where a network runs
        from pipeline import devices
        from pipeline.core.dip import batch_fit

        limits = batch_fit.BatchLimits.of(devices.pick(runtime.device))
        members = [limits.members(height * width) for height, width in sizes]
    groups = batches(sizes, members)
    done = 0
    for group in groups:
        jobs = [job(index, done + rank * settings.steps) for rank, index in enumerate(group)]
        done += len(group) * settings.steps
        if len(jobs) > 1:
            outputs = _run_together(jobs, observers)
        else:
            snapshot = _crop_snapshot(picture, shown, found[group[0]], jobs[0], observers)
            outputs = [jobs[0].run(observers, snapshot)]
        yield from zip([found[index] for index in group], outputs, strict=True)


def _context(settings: DipSettings, template_mode: bool) -> int:
    """Pixels of context around each crop: the classic fills get more (FSR continues what it
    sees); the network's fits keep the settings'."""
    if template_mode or settings.fill == "network":
        return settings.context
    return max(settings.context, CLASSIC_CONTEXT)


def _run_together(jobs: list[RegionFit], observers: Observers) -> list[np.ndarray]:
    """RegionFit.run of each job, the fits of those that share a batch_key run as one."""
    from pipeline.core.dip import batch_fit

    stores = [observers.checkpoints(job.index) if observers.checkpoints else None for job in jobs]
    outputs = [store.result() if store else None for store in stores]
    todo = [rank for rank, output in enumerate(outputs) if output is None]
    plans = {rank: jobs[rank].plan() for rank in todo}
    keys = [batch_fit.batch_key(plans[rank].inputs) for rank in todo]
    first, count = jobs[0], len(todo)
    for part in batches(keys, [count] * count):
        members = [todo[i] for i in part]

        def on_step(step: int, loss: float, members: list[int] = members) -> None:
            if observers.progress:
                done = jobs[members[0]].steps_before + step * len(members)
                observers.progress(done, first.settings.steps * first.count, loss)

        results = batch_fit.fit_batch([plans[rank].inputs for rank in members], first.settings,
                                      [jobs[rank].seed for rank in members], first.runtime,
                                      on_step)
        for rank, result in zip(members, results, strict=True):
            if observers.fitted:
                observers.fitted(result.steps)
            outputs[rank] = jobs[rank].finish(plans[rank], result.output, stores[rank])
    return outputs


def _paste(pixels: np.ndarray, region: regions.Region, output: np.ndarray) -> None:
    """The region's own hole pixels of `output` (C, h, w floats) into `pixels` (H, W, C)."""
    crop = output[:, : region.crop.height, : region.crop.width]
    regions.paste(pixels, region, quantize(crop, pixels.dtype))


def _crop_snapshot(
    picture: Picture, pixels: np.ndarray, region: regions.Region, job: RegionFit,
    observers: Observers,
) -> SnapshotCallback | None:
    if observers.snapshot is None:
        return None

    def write(step: int, output: np.ndarray) -> None:
        preview = pixels.copy()
        _paste(preview, region, output)
        observers.snapshot(job.steps_before + step, picture.with_pixels(preview))

    return write


@dataclass(frozen=True)
class RegionFit:
    """One crop's fit: the inputs cut to the crop and padded for the network."""

    image: np.ndarray
    evidence: Evidence
    crop: regions.Box
    pad: tuple[int, int]
    settings: DipSettings
    runtime: RunOptions
    index: int
    count: int
    steps_before: int  # optimiser steps of the regions fitted before this one (for progress)

    @property
    def seed(self) -> int:
        return self.settings.seed * 1000 + self.index

    def _cut(self, array: np.ndarray) -> np.ndarray:
        rows, cols = self.crop.slices
        return np.ascontiguousarray(regions.pad_for_network(array[:, rows, cols], self.pad))

    def plan(self) -> CropFill:
        """Mask mode's aids, or (template mode) the blend model alone."""
        weight = self._cut(self.evidence.weight[None].astype(np.float32))
        weight[:, self.crop.height :, :] = 0  # padding is invented: never fit it
        weight[:, :, self.crop.width :] = 0
        target = self._cut(self.image)
        if self.evidence.blend is not None:
            blend = self.evidence.blend
            return Direct(FitInputs(
                target, weight, Blend(alpha=self._cut(blend.alpha), colour=self._cut(blend.colour))
            ))
        inside = np.zeros(weight.shape[1:], dtype=bool)
        inside[: self.crop.height, : self.crop.width] = True
        if self.settings.fill == "network":
            return MaskFill.plan(target, weight, inside, self.settings, self.seed)
        return ClassicFill.plan(target, weight, inside, self.settings, self.seed,
                                self.evidence.lossy)

    def run(self, observers: Observers, on_snapshot: SnapshotCallback | None) -> np.ndarray:
        """The network output over the crop (C, h, w), padding removed."""
        store = observers.checkpoints(self.index) if observers.checkpoints else None
        done = store.result() if store else None
        if done is not None:
            return done
        total = self.settings.steps * self.count

        def on_step(step: int, loss: float) -> None:
            if observers.progress:
                observers.progress(self.steps_before + step, total, loss)

        crop_fill = self.plan()
        if not crop_fill.fits:
            return self.finish(crop_fill, None, store)
        from pipeline.core.dip.fit import fit

        hooks = FitHooks(on_step=on_step, on_snapshot=on_snapshot, checkpointer=store)
        result = fit(crop_fill.inputs, self.settings, self.runtime, self.seed, hooks)
        if observers.fitted:
            observers.fitted(result.steps)
        return self.finish(crop_fill, result.output, store)

    def finish(self, crop_fill: CropFill, fitted: np.ndarray | None, store: RegionStore | None
               ) -> np.ndarray:
        """The crop's fill from the network's output (C, h, w), padding removed, kept in
        `store` so that a resumed job does not fit this region again."""
        output = crop_fill.finish(fitted)
        output = np.ascontiguousarray(output[:, : self.crop.height, : self.crop.width])
        if store is not None:
            store.save_result(output)
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
    runtime: RunOptions,
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
    pad = tuple(max(2 * multiple, -(-side // multiple) * multiple) - side for side in small)
    box = regions.Box(0, small[0], 0, small[1])
    job = RegionFit(image, Evidence(weight=weight[0]), box, pad, settings, runtime, 0, 1, 0)
    output = job.run(observers, None)
    if scale < 1:
        output = _resize(output, (height, width), Image.Resampling.BICUBIC)
    filled = picture.as_float()
    filled[:, hole] = output[:, hole]
    return filled
