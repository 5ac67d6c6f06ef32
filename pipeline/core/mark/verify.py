"""Is the mark really where the search put it? Edge correlation alone finds something in any busy
photo; the blend model decides. Inverted at the found spot, a real mark's outline disappears
(the edges along it fall, to the level of the photo around it) and its colour and opacity
explain the pixels (the inverse stays in [0, 1]). A wrong spot, or a photo without the mark,
gains a negative copy of the outline instead, or leaves the inverse out of range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.core.mark.blend import (
    TOLERANCE_LOSSLESS,
    TOLERANCE_LOSSY,
    VISIBLE,
    Mark,
    raw_inverse,
    unexplained,
)
from pipeline.core.mark.chroma import FULL, ChromaGrid
from pipeline.core.mark.edges import edges, mark_signature, near_edges

# Measured on the gt cases (png and JPEG q90), the shipped samples and a 2816x1536 photo, with
# marks in place and marks searched on unmarked photos: see tests/core/mark/test_placement_speed.py.
MAX_AFTER_VS_BEFORE = 0.5  # the outline's visibility must at least halve
MAX_VISIBLE_AFTER = 0.2  # and end near chance
# A lossy file's ringing along the outline, amplified by the inverse, can keep the outline
# "visible" over a flat photo; it is gone all the same where its energy fell this far.
MAX_ENERGY_AFTER = 0.25
MAX_AFTER_VS_AROUND = 3.0  # the edges along it end near the level of the photo's own
BLENDED_AFTER = 0.1  # such a mark's outline, once un-blended, at chance (-0.04 to 0.02 seen)
MAX_UNEXPLAINED = 0.05  # share of the footprint the model may leave unexplained
# A tiled mark's copy placed by the grid of confirmed copies may show a few dozen pixels at the
# photo's border, or sit on a busy part of it: the photo's own edges then correlate with its
# outline by chance (0.22-0.37 on correct copies of the tiled samples) and may stay stronger
# than a fade would allow. Its edges must fall all the same. Measured over grids of copies on
# the four samples, png and JPEG q90: marked 0.50-0.85 (0.86-1.0 at a third of the opacity),
# the same grid on the unmarked photos >= 1.0 (1.05 but on astronaut).
MAX_ENERGY_AFTER_ON_GRID = 0.95


def outline_visibility(signature: np.ndarray, outline: np.ndarray, image: np.ndarray) -> float:
    """How visible the mark's outline is in `image`: the correlation of its edge map with the
    mark's own over the outline (about 0 where the photo's edges owe nothing to the mark)."""
    image_edges = edges(image.mean(axis=0))[outline]
    if outline.sum() < 16 or image_edges.std() == 0:
        return 0.0
    return float(np.corrcoef(signature[outline], image_edges)[0, 1])


@dataclass(frozen=True)
class PlacementCheck:
    """The blend model's evidence for a placed mark."""

    before: float  # outline visibility as observed (the placement's confidence)
    after: float  # outline visibility once the blend is inverted
    energy_before: float  # mean edge strength along the outline, as observed
    energy: float  # the same once inverted
    around: float  # mean edge strength of the photo away from the mark
    unexplained: float  # share of the footprint the inverse leaves out of range

    @property
    def blends_in(self) -> bool:
        """A mark hardly brighter or darker than the photo under it (a red mark on an orange
        cat): un-blending can raise the edges along it by the file's noise, amplified, but
        they end at the photo's own level and follow the outline no more."""
        return self.around > 0 and self.energy <= self.around and self.after <= BLENDED_AFTER

    @property
    def problem(self) -> str | None:
        """Why the mark is not confirmed here, or None."""
        if self.unexplained > MAX_UNEXPLAINED:
            return (f"its colour and opacity do not explain {self.unexplained:.0%} of the "
                    "pixels under it")
        if self.energy >= self.energy_before and not self.blends_in:
            return (f"removing it would add edges, not remove them (edge strength along its "
                    f"outline {self.energy_before:.3f} -> {self.energy:.3f})")
        faded = self.energy <= MAX_ENERGY_AFTER * self.energy_before
        visible = self.after > min(MAX_AFTER_VS_BEFORE * self.before, MAX_VISIBLE_AFTER)
        if visible and not faded:
            return (f"removing it would not remove its outline (visible {self.before:.2f} "
                    f"-> {self.after:.2f})")
        if self.around > 0 and self.energy > MAX_AFTER_VS_AROUND * self.around and not faded:
            return (f"its outline would stay stronger than the photo around it ({self.energy:.3f}"
                    f" vs {self.around:.3f})")
        return None

    @property
    def problem_on_grid(self) -> str | None:
        """Why a copy that the grid of a tiled mark placed is not confirmed, or None: the
        same model, judged by the outline's edge strength alone."""
        if self.unexplained > MAX_UNEXPLAINED or self.energy >= self.energy_before:
            return self.problem
        if self.energy > MAX_ENERGY_AFTER_ON_GRID * self.energy_before:
            return (f"removing it would hardly weaken its outline (edge strength "
                    f"{self.energy_before:.3f} -> {self.energy:.3f})")
        if self.around > 0 and self.energy > MAX_AFTER_VS_AROUND * self.around:
            return (f"its outline would stay stronger than the photo around it ({self.energy:.3f}"
                    f" vs {self.around:.3f})")
        return None


def verify(mark: Mark, image: np.ndarray, lossy: bool,
           chroma: ChromaGrid = FULL) -> PlacementCheck:
    """Check a mark placed on `image` (same size; a window around the mark will do, with
    the file's `chroma` grid seen from it)."""
    footprint = mark.alpha > VISIBLE
    signature = mark_signature(mark)
    outline = near_edges(signature)
    if not footprint.any() or not outline.any():
        return PlacementCheck(0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    raw = raw_inverse(image, mark, chroma)
    inverse = np.clip(raw, 0, 1)
    observed = edges(image.mean(axis=0))
    away = ~ndimage.binary_dilation(footprint | outline, iterations=3)
    tolerance = TOLERANCE_LOSSY if lossy else TOLERANCE_LOSSLESS
    return PlacementCheck(
        before=outline_visibility(signature, outline, image),
        after=outline_visibility(signature, outline, inverse),
        energy_before=float(observed[outline].mean()),
        energy=float(edges(inverse.mean(axis=0))[outline].mean()),
        around=float(observed[away].mean()) if away.sum() >= 64 else 0.0,
        unexplained=float(unexplained(image, mark, tolerance, raw).sum() / footprint.sum()),
    )
