"""Content hashes of a job's inputs, remembered in the ledgers by size and mtime."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from pipeline.batch.ledger import Ledger
from pipeline.batch.manifest import AUTO_TEMPLATE, BatchJob
from pipeline.errors import InputError

HASH_CHUNK = 1 << 20


class Hasher:
    """Content hashes of input files. A file whose size and mtime are unchanged since it was
    last hashed is not read again (like git's index), so a rerun over a big folder is quick."""

    def __init__(self, ledgers: Iterable[Ledger]) -> None:
        self.ledgers = list(ledgers)
        self.seen: dict[str, str] = {}

    def file(self, path: Path) -> str:
        name = str(path)
        if name in self.seen:
            return self.seen[name]
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except OSError as problem:
            raise InputError(f"{path}: cannot read ({problem.strerror})") from None
        digest = next(
            (h for ledger in self.ledgers if (h := ledger.known_hash(name, stat.st_size,
                                                                    stat.st_mtime_ns))),
            None,
        )
        if digest is None:
            sha = hashlib.sha256()
            try:
                with open(path, "rb") as stream:
                    while chunk := stream.read(HASH_CHUNK):
                        sha.update(chunk)
            except OSError as problem:
                raise InputError(f"{path}: cannot read ({problem.strerror})") from None
            digest = sha.hexdigest()
            for ledger in self.ledgers:
                ledger.remember_hash(name, stat.st_size, stat.st_mtime_ns, digest)
        self.seen[name] = digest
        return digest

    def job(self, item: BatchJob) -> str:
        """One hash over everything the job reads: the photo, its mask or template, and how the
        mask is read."""
        job = item.job
        parts = {
            "image": self.file(job.image),
            "mask": self.file(job.mask) if job.mask else None,
            "template": (
                str(job.template) if job.template == AUTO_TEMPLATE
                else self.file(job.template) if job.template else None
            ),
            "invert_mask": job.invert_mask,
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]
