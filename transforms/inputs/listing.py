"""Inputs: a JSONL manifest, or a glob of videos with transcripts found beside them (no Beam
transforms here; they are in :mod:`mmfuse.transforms.inputs.beam`).

Both are checked before a job starts (:func:`check_manifest`, :func:`check_glob`) so a typo
fails in a second with a message, and read again inside the pipeline so a million-line
manifest never travels in the job graph.
"""

from __future__ import annotations

import difflib
import json
import posixpath
import re
from collections import Counter
from typing import Iterator, Optional

from apache_beam.io.filesystems import FileSystems

from mmfuse.errors import InputError
from mmfuse.fs import exists, open_read, resolve
from mmfuse.schemas.records import MediaItem
from mmfuse.transforms.inputs.labels import item_tags
from mmfuse.transforms.text.transcripts import TRANSCRIPT_EXTENSIONS

__all__ = [
    "check_glob",
    "check_manifest",
    "dirname",
    "is_transcript",
    "media_id_for",
    "parse_manifest_line",
    "sidecar_transcript",
]

_KEYS = {"id", "video", "audio", "transcript"}
# Transcript files are looked for beside each video in this order.
_SIDECAR_ORDER = (".srt", ".vtt", ".json")


def dirname(uri: str) -> str:
    return posixpath.dirname(uri.rstrip("/")) if "://" in uri else posixpath.dirname(posixpath.abspath(uri))


def parse_manifest_line(line: str, base_dir: str, lineno: Optional[int] = None) -> Optional[MediaItem]:
    """One manifest line as a :class:`MediaItem`; None for blank and ``#`` lines."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    where = f"manifest line {lineno}: " if lineno else "manifest line: "
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(
            f"{where}not JSON ({err.msg}); each line must be an object like "
            '{"id": "a", "video": "a.mp4", "transcript": "a.srt"}'
        ) from None
    if not isinstance(obj, dict):
        raise InputError(f"{where}must be a JSON object")
    extra = {k: v for k, v in obj.items() if k not in _KEYS}
    for key in extra:  # any key is carried (label, split, …), but a misspelt path key is a mistake
        close = difflib.get_close_matches(key, _KEYS, n=1, cutoff=0.8)
        if close:
            raise InputError(f"{where}unknown key {key!r}: did you mean {close[0]!r}?")
    tags = item_tags(extra, where)
    media_id = obj.get("id")
    if not isinstance(media_id, str) or not media_id.strip():
        raise InputError(f"{where}'id' must be a non-empty string")
    paths = {}
    for key in ("video", "audio", "transcript"):
        value = obj.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise InputError(f"{where}'{key}' must be a path string")
        paths[key] = resolve(value, base_dir)
    if "video" not in paths and "audio" not in paths:
        raise InputError(f"{where}item {media_id!r} needs 'video' or 'audio'")
    return MediaItem(media_id, paths.get("video"), paths.get("audio"), paths.get("transcript"), **tags)


def _manifest_lines(path: str) -> Iterator[tuple[int, str]]:
    try:
        f = open_read(path)
    except Exception as err:
        raise InputError(f"cannot read manifest {path}: {err}") from None
    with f:
        for lineno, raw in enumerate(f, start=1):
            try:
                yield lineno, raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"manifest line {lineno}: not UTF-8") from None


def check_manifest(path: str) -> int:
    """Read the whole manifest once and return its number of items; raise :class:`InputError`
    naming the line for any malformed entry or repeated id."""
    base = dirname(path)
    seen: dict[str, int] = {}
    for lineno, line in _manifest_lines(path):
        item = parse_manifest_line(line, base, lineno)
        if item is None:
            continue
        if item.media_id in seen:
            raise InputError(f"manifest line {lineno}: id {item.media_id!r} already used on line {seen[item.media_id]}")
        seen[item.media_id] = lineno
    if not seen:
        raise InputError(f"manifest {path} lists no items")
    return len(seen)


def _glob_base(pattern: str) -> str:
    """The folder part of a glob before its first wildcard."""
    m = re.search(r"[*?\[]", pattern)
    head = pattern[: m.start()] if m else pattern
    return head[: head.rfind("/") + 1] if "/" in head else ""


def _absolute(uri: str) -> str:
    return uri if "://" in uri else posixpath.abspath(uri)


def media_id_for(path: str, pattern: str, collisions: frozenset = frozenset()) -> str:
    """Path relative to the glob's fixed folder, without extension; with the extension when
    another match has the same id without it (``collisions``, from :func:`list_glob`)."""
    base = _absolute(_glob_base(pattern) or ".")
    path = _absolute(path)
    base = base.rstrip("/") + "/"
    rel = path[len(base) :] if path.startswith(base) else posixpath.basename(path)
    stem = posixpath.splitext(rel)[0]
    return rel if stem in collisions else stem


def is_transcript(path: str) -> bool:
    return posixpath.splitext(path.lower())[1] in TRANSCRIPT_EXTENSIONS


def list_glob(pattern: str) -> tuple[int, frozenset]:
    """(number of media files ``pattern`` matches, ids that two of them would share without
    their extension: ``clip.mp4`` and ``clip.mkv``); :class:`InputError` when none match."""
    try:
        results = FileSystems.match([pattern])
    except Exception as err:
        raise InputError(f"cannot list {pattern}: {err}") from None
    ids = Counter(media_id_for(m.path, pattern) for r in results for m in r.metadata_list if not is_transcript(m.path))
    if not ids:
        raise InputError(f"no media file matches {pattern!r}")
    return sum(ids.values()), frozenset(i for i, n in ids.items() if n > 1)


def check_glob(pattern: str) -> int:
    """Number of media files ``pattern`` matches; :class:`InputError` when there are none."""
    return list_glob(pattern)[0]


# Subtitles named the way yt-dlp and players name them: talk.en.srt, talk.pt-BR.vtt
_LANGUAGE_TAG = re.compile(r"\.([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?)\.(srt|vtt)$")


def transcript_language(uri: Optional[str]) -> Optional[str]:
    """The language tag in a subtitle file's name (``talk.en.srt`` → ``en``), or None."""
    m = _LANGUAGE_TAG.search(uri or "")
    return m.group(1) if m else None


def sidecar_transcript(video_uri: str) -> Optional[str]:
    """The transcript beside a video: same stem with ``.srt``, ``.vtt`` or ``.json``; else
    ``stem.LANG.srt`` / ``stem.LANG.vtt`` (English first, then by name)."""
    stem = posixpath.splitext(video_uri)[0]
    for ext in _SIDECAR_ORDER:
        if exists(stem + ext):
            return stem + ext
    try:
        found = [m.path for r in FileSystems.match([stem + ".*.srt", stem + ".*.vtt"]) for m in r.metadata_list]
    except Exception:  # an unreachable store: the item goes on without a transcript
        return None
    tagged = [p for p in found if transcript_language(p) and posixpath.dirname(p) == posixpath.dirname(stem)]
    tagged = [p for p in tagged if _LANGUAGE_TAG.sub("", p) == stem]
    return min(tagged, key=lambda p: (not transcript_language(p).lower().startswith("en"), p)) if tagged else None
