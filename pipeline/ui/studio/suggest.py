"""Suggested masks: the footprint of a mark found in the photo, to accept or correct. The mark
is the template given to the studio, else the one the folder's photos share (learnt once, as
`unmark estimate` learns it); each photo gets it where the template route would find it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import NoMarkFound
from pipeline.ui.studio.files import StudioImage, Workspace

MARGIN = 2  # px grown around the footprint: the mark's soft rim and the codec's halo


@dataclass(frozen=True)
class Suggested:
    hole: np.ndarray  # (H, W) bool: where to remove
    source: str  # for people: where the suggestion comes from and how sure it is


class Suggester:
    def __init__(self, workspace: Workspace, template: Path | None, scratch: Path) -> None:
        self.workspace = workspace
        self.template = template
        self.learnt = scratch / "folder-mark.png"
        self.source = f"the template {template.name}" if template else "the folder's mark"

    def _template(self) -> Path:
        """The template file, learning the folder's shared mark the first time."""
        if self.template is not None:
            return self.template
        if not self.learnt.is_file():
            from pipeline.learn_folder import estimate_folder

            estimate_folder(self.workspace.root, self.learnt)
        return self.learnt

    def suggest(self, image: StudioImage) -> Suggested:
        from pipeline.core.mark.leftover import FOOTPRINT_ALPHA, dilate
        from pipeline.core.mark.placement import locate, place, threshold
        from pipeline.io.imaging import load_picture
        from pipeline.io.marks import load_mark

        template = self._template()
        picture = load_picture(image.path)
        mark = load_mark(template, channels=picture.pixels.shape[2])
        placement = locate(mark, picture.as_float(), picture.lossy)
        if placement.confidence < threshold(mark, picture.size):
            raise NoMarkFound(f"{image.name}: {self.source} is not found there (best match "
                              f"{placement.confidence:.2f})")
        footprint = place(mark, placement, picture.size).alpha > FOOTPRINT_ALPHA
        # A mask only needs the footprint: where the blend model doubts the mark, say so.
        doubt = f"; unconfirmed: {placement.problem}" if placement.problem else ""
        return Suggested(dilate(footprint, MARGIN),
                         f"{self.source} at x={placement.left}, y={placement.top} "
                         f"(match {placement.confidence:.2f}{doubt})")
