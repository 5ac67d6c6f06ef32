"""Where each job's checkpoints live, and which folders nothing will resume; light to load (no
torch), so planning a batch and `status` need none of the fitting machinery."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterable
from pathlib import Path


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def folder_for(root: Path, key: str, input_hash: str, settings_hash: str, device: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(key).stem)[:40]
    # Optimiser and RNG state do not move between CPU and GPU, so the device kind is part of it.
    kind = device.split(":")[0]
    return root / f"{slug}-{_digest(key)}-{_digest(input_hash + settings_hash + kind)}"


def prune(root: Path, keys: Iterable[str], keep: Iterable[Path]) -> None:
    """Drop the checkpoints of these jobs that nothing will resume: those of jobs already done
    (a kill can land between `done` and the clean-up) and those from earlier inputs or settings.
    One listing of the folder, however many jobs."""
    if not root.is_dir():
        return
    owned, keep = {_digest(key) for key in keys}, set(keep)
    for folder in root.iterdir():
        parts = folder.name.rsplit("-", 2)  # slug-key-state; the digests hold no "-"
        if len(parts) == 3 and parts[1] in owned and folder not in keep:
            shutil.rmtree(folder, ignore_errors=True)
