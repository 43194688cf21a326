"""File access: local paths through the operating system, and gs://, s3://, … through Beam's
``FileSystems``, imported only when such a path is used. Importing a decode, transcript or
feature core therefore does not import Beam (about 2 s of CPU): a script, a notebook or a
test that decodes one local file pays only for what it uses."""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
import uuid
from typing import BinaryIO, Iterator, Optional

from mmfuse.errors import InputTooLarge, MediaNotFound, NotAFile

__all__ = ["exists", "join", "move_tree", "open_read", "open_write", "read_bytes", "resolve", "write_bytes"]


def _beam():
    """(FileSystems, CompressionTypes), imported on first use."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    return FileSystems, CompressionTypes


def _local_path(uri: str) -> Optional[str]:
    if uri.startswith("file://"):
        return uri[len("file://") :]
    return None if "://" in uri else uri


def _check_regular(uri: str) -> None:
    """Only regular files are opened: a FIFO would block the open forever, a device (or a link
    to ``/dev/zero``) could be read forever, a directory is no media."""
    path = _local_path(uri)
    if path is None:
        return
    try:
        mode = os.stat(path).st_mode  # follows links: a link to a device is a device
    except FileNotFoundError:
        raise MediaNotFound(f"no such file: {uri}") from None
    except OSError:
        return  # unreadable: opening says why
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"
        raise NotAFile(f"{uri} is {kind}, not a file")


def open_read(uri: str) -> BinaryIO:
    """Open ``uri`` for binary reading, without guessing a compression from its name; local
    paths must be regular files (:class:`~mmfuse.errors.NotAFile` otherwise)."""
    _check_regular(uri)
    path = _local_path(uri)
    if path is not None:
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise MediaNotFound(f"no such file: {uri}") from None
    FileSystems, CompressionTypes = _beam()
    try:
        return FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED)
    except Exception as err:  # each filesystem raises its own type for a missing object
        if not exists(uri):
            raise MediaNotFound(f"no such file: {uri}") from err
        raise


def read_bytes(uri: str, limit: Optional[int] = None) -> bytes:
    """The whole file; with ``limit``, :class:`~mmfuse.errors.InputTooLarge` beyond that many
    bytes (read no further than one byte past it)."""
    with open_read(uri) as f:
        data = f.read() if limit is None else f.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise InputTooLarge(f"{uri} is larger than {limit} bytes")
    return data


@contextlib.contextmanager
def open_write(uri: str, mime_type: str = "application/octet-stream") -> Iterator[BinaryIO]:
    """A file to stream into that appears under ``uri`` whole or not at all: the bytes go to a
    temporary name beside it, renamed to ``uri`` once the block ends without error (as Beam's
    ``FileBasedSink`` does with its temporary folder), so a killed or retried writer never
    leaves a half file under the final name."""
    tmp = f"{uri}.tmp-{uuid.uuid4().hex[:12]}"
    path = _local_path(tmp)
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        try:
            with open(path, "wb") as f:
                yield f
            os.replace(path, _local_path(uri))
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(path)
            raise
        return
    FileSystems, CompressionTypes = _beam()
    try:
        with FileSystems.create(tmp, mime_type=mime_type, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            yield f
        FileSystems.rename([tmp], [uri])
    except BaseException:
        try:
            if FileSystems.exists(tmp):
                FileSystems.delete([tmp])
        except Exception:
            pass
        raise


def write_bytes(uri: str, data: bytes, mime_type: str = "application/octet-stream") -> None:
    """Write ``uri`` whole or not at all (:func:`open_write`)."""
    with open_write(uri, mime_type) as f:
        f.write(data)


def exists(uri: str) -> bool:
    path = _local_path(uri)
    if path is not None:
        return os.path.exists(path)
    try:
        return _beam()[0].exists(uri)
    except Exception:  # an unreachable bucket or a malformed URI is as good as missing
        return False


def join(base: str, *parts: str) -> str:
    if _local_path(base) is not None:
        return os.path.join(base, *parts)
    return _beam()[0].join(base, *parts)


def resolve(path: str, base_dir: str) -> str:
    """``path`` made absolute against ``base_dir`` unless it is already absolute or a URI."""
    if "://" in path or posixpath.isabs(path):
        return path
    return join(base_dir, path)


def move_tree(src_dir: str, dst_dir: str) -> list[str]:
    """Move every file under ``src_dir`` to the same place under ``dst_dir`` (works on object
    stores, where folders are only name prefixes); returns the new paths."""
    FileSystems = _beam()[0]
    src_dir, dst_dir = src_dir.rstrip("/"), dst_dir.rstrip("/")
    sources = [m.path for r in FileSystems.match([src_dir + "/**"]) for m in r.metadata_list]
    targets = [dst_dir + p[len(src_dir) :] for p in sources]
    if "://" not in dst_dir:
        for folder in {posixpath.dirname(t) for t in targets}:
            if not FileSystems.exists(folder):
                FileSystems.mkdirs(folder)
    if sources:
        FileSystems.rename(sources, targets)
    return targets
