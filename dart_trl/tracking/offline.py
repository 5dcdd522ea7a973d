"""Read back what a W&B run logged, from its local run directory (offline or synced).

The run's ``.wandb`` file is a LevelDB-style log of ``Record`` protobufs. wandb no longer ships a
Python reader for it, so this module decodes the log framing and leaves the records to wandb's own
protobuf classes. Tests use it to check what a job logged; ``dart-trl compare`` to read local runs.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_HEADER_LENGTH = 7  # b":W&B" + magic (2 bytes) + version (1 byte)
_BLOCK_SIZE = 32 * 1024
_RECORD_HEADER = struct.Struct("<IHB")  # crc32, length, type
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    """What a run logged: identity, config, history rows (one dict per ``log`` step) and summary."""

    run_id: str = ""
    name: str = ""
    group: str = ""
    job_type: str = ""
    project: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def series(self, key: str) -> list[Any]:
        """Values of ``key`` over the history rows that have it, in logging order."""
        return [row[key] for row in self.history if key in row]


def _payloads(data: bytes):
    """Yield the reassembled record payloads of a LevelDB-style log body."""
    pending = b""
    offset = _HEADER_LENGTH
    while offset + _RECORD_HEADER.size <= len(data):
        block_left = _BLOCK_SIZE - offset % _BLOCK_SIZE
        _, length, kind = _RECORD_HEADER.unpack_from(data, offset)
        if block_left < _RECORD_HEADER.size or (kind == 0 and length == 0):  # zero padding to the block's end
            offset += block_left
            continue
        if kind not in (_FULL, _FIRST, _MIDDLE, _LAST):
            break
        offset += _RECORD_HEADER.size + length
        pending = (b"" if kind in (_FULL, _FIRST) else pending) + data[offset - length : offset]
        if kind in (_FULL, _LAST):
            yield pending


def read_run(run_dir: str | Path) -> OfflineRun:
    """Decode a W&B run directory (``offline-run-*`` or ``run-*``, holding a ``.wandb`` file) into an
    :class:`OfflineRun`."""
    from wandb.proto import wandb_internal_pb2 as pb

    def values(items) -> dict[str, Any]:
        return {"/".join(i.nested_key) if i.nested_key else i.key: json.loads(i.value_json) for i in items}

    files = sorted(Path(run_dir).glob("*.wandb"))
    if not files:
        raise FileNotFoundError(f"no .wandb file in {run_dir}")
    run = OfflineRun()
    for payload in _payloads(files[0].read_bytes()):
        record = pb.Record()
        try:
            record.ParseFromString(payload)
        except Exception:  # a torn final record of a killed run
            continue
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run.run_id, run.name, run.group = r.run_id, r.display_name, r.run_group
            run.job_type, run.project, run.tags = r.job_type, r.project, list(r.tags)
            run.config.update(values(r.config.update))
        elif kind == "config":
            run.config.update(values(record.config.update))
        elif kind == "history":
            run.history.append(values(record.history.item))
        elif kind == "summary":
            run.summary.update(values(record.summary.update))
    return run


def find_runs(wandb_dir: str | Path) -> list[Path]:
    """Run directories under a W&B directory (``.../wandb/offline-run-*`` or ``run-*``), oldest first."""
    root = Path(wandb_dir)
    if (root / "wandb").is_dir():
        root = root / "wandb"
    return sorted(p for p in root.glob("*run-*") if p.is_dir() and any(p.glob("*.wandb")))
