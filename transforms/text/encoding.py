"""Bytes of a subtitle file to text: BOMs, UTF-16 without BOM, and legacy code pages."""

from __future__ import annotations

import codecs

from mmfuse.errors import TranscriptError

__all__ = ["decode_text"]

_BOMS = (
    # UTF-32 first: its little-endian BOM starts with UTF-16's.
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


_PRIOR_MARGIN = 0.1


def _guess_utf16(data: bytes) -> str | None:
    """UTF-16 without a BOM shows as NUL bytes in every other position of ASCII text."""
    sample = data[:4000]
    if len(sample) < 4:
        return None
    even_nul = sample[0::2].count(0) / len(sample[0::2])
    odd_nul = sample[1::2].count(0) / max(1, len(sample[1::2]))
    if odd_nul > 0.3 and even_nul < 0.05:
        return "utf-16-le"
    if even_nul > 0.3 and odd_nul < 0.05:
        return "utf-16-be"
    return None


def decode_text(data: bytes, name: str | None = None) -> tuple[str, str]:
    """Decode ``data`` and return ``(text, encoding)``; line endings become ``\\n``.

    A BOM decides; otherwise UTF-8 if it decodes, else the encoding charset-normalizer finds
    most likely (cp1252, GB2312, Shift-JIS, …).
    """
    encoding = None
    for bom, enc in _BOMS:
        if data.startswith(bom):
            data, encoding = data[len(bom) :], enc
            break
    encoding = encoding or _guess_utf16(data)
    if encoding is None:
        try:
            text = data.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            text = None
        if text is None:
            from charset_normalizer import from_bytes

            results = from_bytes(data)
            best = results.best()
            # Short Western texts look alike in several code pages; the most common one for
            # subtitles, cp1252, wins unless another is clearly less garbled.
            western = next((m for m in results if m.encoding == "cp1252"), None)
            if best is not None and western is not None and western.chaos <= best.chaos + _PRIOR_MARGIN:
                best = western
            if best is None:
                raise TranscriptError("not text in any known encoding", line=1, name=name)
            text, encoding = str(best), best.encoding
    else:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as err:
            line = data[: err.start].count(b"\n") + 1
            raise TranscriptError(f"invalid {encoding}: {err.reason}", line=line, name=name)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, encoding
