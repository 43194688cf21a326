"""The output folder of a run: one job at a time, and a finished run replaced only by another.

A job writes into ``OUTPUT/.mmfuse-staging`` and never into the tables a reader may be using.
When it has finished, :func:`promote` swaps the new run in:

1. ``.mmfuse-staging/COMPLETE`` is written: from here on the new run is whole;
2. the earlier run's entries (tables, ``artifacts``, ``run.json``) are renamed into
   ``OUTPUT/.mmfuse-previous``, then ``.mmfuse-staging/MOVING`` is written;
3. the new run's entries are renamed out of the staging folder into ``OUTPUT``;
4. ``.mmfuse-previous`` and the staging folder are deleted.

Each step is a rename of a few folders (on object stores, of their files); none copies data.
A job killed at any point leaves: before 1, the earlier run as it was (the staging folder is
deleted by the next job); between 1 and 4, a complete new run in ``.mmfuse-staging`` that
:func:`recover` (called by every job before it starts, and harmless to call at any time)
finishes swapping in. So after recovery the folder holds one complete run, the old or the new.

``OUTPUT/.mmfuse-lock`` keeps a second job out while one runs. On a local disk it is created
exclusively (``O_EXCL``); a lock whose process no longer runs on this host is taken over. On an
object store a lock is only a file checked before it is written (no atomic create through
Beam's FileSystems), so two jobs started in the same second may both pass.
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import Optional

from apache_beam.io.filesystems import FileSystems

from mmfuse.errors import ConfigError
from mmfuse.faults import fault
from mmfuse.fs import exists, join, move_tree, read_bytes, write_bytes
from mmfuse.schemas.tables import TABLES

__all__ = ["LOCK", "PREVIOUS", "STAGING", "RunLock", "promote", "recover", "run_entries"]

STAGING = ".mmfuse-staging"
PREVIOUS = ".mmfuse-previous"
LOCK = ".mmfuse-lock"
_COMPLETE = "COMPLETE"  # in the staging folder: the new run is whole
_MOVING = "MOVING"  # in the staging folder: the earlier run is out of the way


def run_entries(folder: str) -> list[str]:
    """The entries of a run present in ``folder``."""
    return [join(folder, t) for t in (*TABLES, "artifacts", "run.json") if exists(join(folder, t))]


def _delete(path: str) -> None:
    if exists(path):
        FileSystems.delete([path])


def _move_entries(src: str, dst: str) -> None:
    for entry in run_entries(src):
        target = join(dst, entry.rstrip("/").rsplit("/", 1)[-1])
        if "://" in entry:  # an object store: folders are name prefixes, moved file by file
            if entry.endswith("run.json"):
                FileSystems.rename([entry], [target])
            else:
                move_tree(entry, target)
        else:
            os.makedirs(dst, exist_ok=True)
            os.replace(entry, target)  # one rename, of a file or of a whole folder


def promote(staging: str, output: str) -> None:
    """Swap the finished run in ``staging`` into ``output`` (steps 1–4 above)."""
    write_bytes(join(staging, _COMPLETE), b"")
    fault("promote:complete")
    _swap(staging, output)


def _swap(staging: str, output: str) -> None:
    previous = join(output, PREVIOUS)
    if not exists(join(staging, _MOVING)):
        _move_entries(output, previous)  # what is still there of the earlier run
        fault("promote:previous")
        write_bytes(join(staging, _MOVING), b"")
    _move_entries(staging, output)
    fault("promote:moved")
    _delete(previous)
    _delete(staging)


def recover(output: str) -> Optional[str]:
    """Finish a swap a killed job left half done, or drop what an unfinished job wrote;
    returns what was done, for a warning."""
    staging, previous = join(output, STAGING), join(output, PREVIOUS)
    if exists(join(staging, _COMPLETE)):
        _swap(staging, output)
        return "the previous job was stopped while swapping in its finished run; the swap is now complete"
    if exists(previous):  # left by hand or by an older version: the earlier run goes back
        if not run_entries(output):
            _move_entries(previous, output)
        _delete(previous)
    if exists(staging):
        _delete(staging)
        return "the previous job into this folder did not finish; what it had written is removed"
    return None


class RunLock:
    """``with RunLock(output):`` holds ``OUTPUT/.mmfuse-lock`` for the job's length."""

    def __init__(self, output: str):
        self.path = join(output, LOCK)
        self.held = False

    def _holder(self) -> Optional[dict]:
        try:
            return json.loads(read_bytes(self.path, 4096))
        except Exception:
            return None

    def _stale(self, holder: Optional[dict]) -> bool:
        """A lock whose process is gone from this host (killed jobs leave their lock)."""
        if not holder or holder.get("host") != socket.gethostname():
            return False
        try:
            os.kill(int(holder["pid"]), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, KeyError, ValueError, TypeError):
            return False
        return False

    def _refuse(self, holder: Optional[dict]) -> ConfigError:
        who = f"process {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}" if holder else "another job"
        return ConfigError(
            f"{self.path.rsplit('/', 2)[0]} is being written by {who}; wait for it to end or give another --output "
            f"(if that job is gone, delete {self.path})"
        )

    def __enter__(self):
        doc = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")})
        if "://" in self.path:
            holder = self._holder()
            if holder is not None:
                raise self._refuse(holder)
            write_bytes(self.path, doc.encode())
        else:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            for _ in range(2):
                try:
                    fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
                    holder = self._holder()
                    if not self._stale(holder):
                        raise self._refuse(holder) from None
                    os.unlink(self.path)
                    continue
                with os.fdopen(fd, "w") as f:
                    f.write(doc)
                break
        self.held = True
        return self

    def __exit__(self, *exc):
        if self.held:
            _delete(self.path)
            self.held = False
        return False
