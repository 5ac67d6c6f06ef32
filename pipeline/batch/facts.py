"""What one job did, as one typed record: made once by the worker, kept by the ledger as JSON
(the only place that knows its keys), read back into the same type by `status` and the reports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from pipeline.batch.look import Look

if TYPE_CHECKING:
    from pipeline.core.mark.placement import Placement

VERSION = 1  # bump when a field changes meaning; other versions read as "no facts"


@dataclass(frozen=True)
class JobFacts:
    route: str  # "mask" or "template", and for a separated mask how: "mask (separated)"
    steps: int = 0  # optimiser steps its fits ran (0: the template's inverse did everything)
    seconds: float = 0.0  # wall time, summed over every attempt (the ledger adds earlier ones)
    device: str = ""
    placement: Placement | None = None  # template jobs: where the mark was found
    fitted: int | None = None  # template jobs: pixels the network filled
    opacity: float | None = None  # mask jobs with separation on: the mark's estimated opacity
    resumed_from: int = 0  # optimiser steps restored from checkpoints, not run again
    started: float | None = None  # this attempt's start and end (epoch seconds)
    finished: float | None = None
    warnings: tuple[str, ...] = ()
    look: Look | None = None  # thumbnails and the residual check (batch/look.py)
    look_error: str | None = None  # why the look could not be taken (the output is fine)

    @property
    def confidence(self) -> float | None:
        return self.placement.confidence if self.placement is not None else None

    def with_look(self, look: Look | None) -> JobFacts:
        return replace(self, look=look)

    def as_dict(self) -> dict:
        """As the ledger keeps it and `status --json` prints it."""
        return {
            "version": VERSION, "route": self.route, "steps": self.steps,
            "seconds": round(self.seconds, 3), "device": self.device,
            "placement": self.placement.as_dict() if self.placement else None,
            "fitted": self.fitted,
            "opacity": round(self.opacity, 3) if self.opacity is not None else None,
            "resumed_from": self.resumed_from, "started": self.started,
            "finished": self.finished, "warnings": list(self.warnings),
            "look": self.look.as_dict() if self.look else None, "look_error": self.look_error,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict())

    @classmethod
    def from_json(cls, text: str | None) -> JobFacts | None:
        """The record as the ledger kept it; None for none, or one from another version.
        Raises ValueError (or TypeError) when the text was edited into something else."""
        data = json.loads(text or "{}")
        if not isinstance(data, dict):
            raise ValueError(f"a job's facts are {type(data).__name__}, not an object")
        if data.get("version") != VERSION:
            return None
        placement = None
        if data.get("placement"):
            from pipeline.core.mark.placement import Placement

            placement = Placement.from_dict(data["placement"])
        return cls(
            route=str(data["route"]), steps=int(data["steps"]), seconds=float(data["seconds"]),
            device=str(data["device"]), placement=placement, fitted=_int(data.get("fitted")),
            opacity=_float(data.get("opacity")), resumed_from=int(data["resumed_from"]),
            started=_float(data.get("started")), finished=_float(data.get("finished")),
            warnings=tuple(str(note) for note in data.get("warnings") or ()),
            look=Look.from_dict(data["look"]) if data.get("look") else None,
            look_error=data.get("look_error"),
        )


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[arg-type]


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
