"""File access through Beam's ``FileSystems``: local paths, gs://, s3://, … alike."""

from __future__ import annotations

import posixpath
from typing import BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from mmfuse.errors import MediaNotFound

__all__ = ["exists", "join", "move_tree", "open_read", "read_bytes", "resolve", "write_bytes"]


def open_read(uri: str) -> BinaryIO:
    """Open ``uri`` for binary reading, without guessing a compression from its name."""
    try:
        return FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED)
    except Exception as err:  # each filesystem raises its own type for a missing object
        if not exists(uri):
            raise MediaNotFound(f"no such file: {uri}") from err
        raise


def read_bytes(uri: str) -> bytes:
    with open_read(uri) as f:
        return f.read()


def write_bytes(uri: str, data: bytes, mime_type: str = "application/octet-stream") -> None:
    with FileSystems.create(uri, mime_type=mime_type, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)


def exists(uri: str) -> bool:
    try:
        return FileSystems.exists(uri)
    except Exception:  # an unreachable bucket or a malformed URI is as good as missing
        return False


def join(base: str, *parts: str) -> str:
    return FileSystems.join(base, *parts)


def resolve(path: str, base_dir: str) -> str:
    """``path`` made absolute against ``base_dir`` unless it is already absolute or a URI."""
    if "://" in path or posixpath.isabs(path):
        return path
    return FileSystems.join(base_dir, path)


def move_tree(src_dir: str, dst_dir: str) -> list[str]:
    """Move every file under ``src_dir`` to the same place under ``dst_dir`` (works on object
    stores, where folders are only name prefixes); returns the new paths."""
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
