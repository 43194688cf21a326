"""Labels, splits and any other facts a user attaches to an item, carried to ``media/`` and
``windows/`` (no Beam transforms here).

A manifest line may hold keys besides ``id``, ``video``, ``audio`` and ``transcript``; with
``--videos``, a labels file (``--labels_file``: CSV with an ``id`` column, or JSON lines with an
``id`` key) gives them by media id. Each item then gets three columns:

- ``label``: the ``label`` key as text (a string as it is; a number, boolean or list as its
  JSON text, so ``3`` is ``"3"`` and ``[1, 2]`` is ``"[1, 2]"``); null when absent;
- ``split``: the ``split`` key (a string, e.g. ``train``/``val``/``test``); null when absent;
- ``meta``: every extra key of the item as one JSON object (label and split included), so
  nothing the user wrote is lost; null when the item has none.

Values are JSON scalars or lists of scalars; objects are refused so that ``meta`` stays one
flat level a reader can expand into columns.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from typing import Iterator, Mapping

from mmfuse.errors import InputError
from mmfuse.fs import read_bytes
from mmfuse.schemas.records import TAG_COLUMNS

__all__ = ["check_labels", "item_tags", "read_labels"]


def _scalar(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def item_tags(extra: Mapping[str, object], where: str = "") -> dict:
    """``{"label", "split", "meta"}`` (see above) of an item's extra keys, each None when
    absent; :class:`InputError` for values that are not JSON scalars or lists of them, or a
    ``split`` that is not a string."""
    if not extra:
        return dict.fromkeys(TAG_COLUMNS)
    for key, value in extra.items():
        if not (_scalar(value) or (isinstance(value, list) and all(_scalar(v) for v in value))):
            raise InputError(f"{where}'{key}' must be a JSON scalar or a list of scalars, not {type(value).__name__}")
    split = extra.get("split")
    if split is not None and not isinstance(split, str):
        raise InputError(f"{where}'split' must be a string such as \"train\", got {split!r}")
    label = extra.get("label")
    if label is not None and not isinstance(label, str):
        label = json.dumps(label)
    return {"label": label, "split": split, "meta": json.dumps(dict(extra), sort_keys=True, ensure_ascii=False)}


def _rows(path: str) -> Iterator[tuple[int, dict]]:
    """(line number, record) of a CSV or JSON-lines labels file."""
    ext = posixpath.splitext(path.lower())[1]
    if ext not in (".csv", ".jsonl", ".json", ".ndjson"):
        raise InputError(f"labels file {path}: give a .csv or a .jsonl file")
    try:
        data = read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"labels file {path} is not UTF-8") from None
    except Exception as err:
        raise InputError(f"cannot read labels file {path}: {err}") from None
    if ext == ".csv":
        reader = csv.DictReader(io.StringIO(data))
        if not reader.fieldnames or "id" not in reader.fieldnames:
            raise InputError(f"labels file {path}: the first row must name the columns, one of them 'id'")
        for row in reader:
            # a CSV cell is text; an empty cell is no value
            yield reader.line_num, {k: (v if v != "" else None) for k, v in row.items() if k is not None}
        return
    for lineno, line in enumerate(data.splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(f"labels file {path} line {lineno}: not JSON ({err.msg})") from None
        if not isinstance(obj, dict):
            raise InputError(f"labels file {path} line {lineno}: must be a JSON object with an 'id'")
        yield lineno, obj


def read_labels(path: str) -> Iterator[tuple[str, dict]]:
    """``(media_id, item_tags(...))`` for every record of a labels file."""
    for lineno, record in _rows(path):
        where = f"labels file {path} line {lineno}: "
        media_id = record.get("id")
        if not isinstance(media_id, str) or not media_id:
            raise InputError(f"{where}'id' must be a non-empty string")
        yield media_id, item_tags({k: v for k, v in record.items() if k != "id" and v is not None}, where)


def check_labels(path: str) -> int:
    """Read a labels file once before the job starts: the number of ids it labels;
    :class:`InputError` naming the line for a malformed record or a repeated id."""
    seen: set = set()
    for media_id, _ in read_labels(path):
        if media_id in seen:
            raise InputError(f"labels file {path}: id {media_id!r} is given twice")
        seen.add(media_id)
    if not seen:
        raise InputError(f"labels file {path} labels no items")
    return len(seen)
