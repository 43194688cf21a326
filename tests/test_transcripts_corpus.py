"""Transcript parsers against third-party files (skipped without $MMFUSE_CORPUS)."""

import html
import json
import re

import pytest
from conftest import corpus_path

from mmfuse.transforms.text.transcripts import TranscriptError, load_transcript, parse_transcript

pytestmark = pytest.mark.corpus


def _vttjs_pairs():
    root = corpus_path()
    manifest = root / "subs" / "vtt.js" / "pairs.json" if root else None
    if manifest is None or not manifest.exists():
        return [pytest.param(None, id="no-corpus")]
    pairs = json.loads(manifest.read_text())["pairs"]
    return [pytest.param(p, id=p["vtt"].removeprefix("tests/")) for p in pairs]


def _strip(text: str) -> str:
    """Independent of the parser's own stripping: drop tags, decode entities."""
    text = html.unescape(re.sub(r"<[^>]*>", "", text)).replace("\u00a0", " ")
    return "\n".join(line.strip() for line in text.split("\n")).strip("\n")


@pytest.mark.parametrize("pair", _vttjs_pairs())
def test_vttjs_conformance(corpus, pair):
    root = corpus / "subs" / "vtt.js"
    cues = parse_transcript((root / pair["vtt"]).read_bytes(), pair["vtt"])
    expected = json.loads((root / pair["expected_parse_json"]).read_text())["cues"]
    assert len(cues) == len(expected)
    for cue, exp in zip(cues, expected):
        assert cue.start_us // 1000 == round(exp["startTime"] * 1000)
        assert cue.end_us // 1000 == max(round(exp["endTime"] * 1000), cue.start_us // 1000)
        assert cue.text == _strip(exp["text"])


def test_gb2312_srt_matches_its_ascii_twin(corpus):
    folder = corpus / "subs" / "srt" / "srt_tools" / "tests" / "files"
    gb = parse_transcript((folder / "gb2312.srt").read_bytes(), "gb2312.srt")
    ascii_ = parse_transcript((folder / "ascii.srt").read_bytes(), "ascii.srt")
    assert [(c.start_us, c.end_us) for c in gb] == [(c.start_us, c.end_us) for c in ascii_]
    assert gb[0].text.startswith("\u5b87\u5b99")  # 宇宙


def test_netflix_vtt_all_cues(corpus):
    path = corpus / "subs" / "webvtt-py" / "tests" / "samples" / "netflix_chicas_del_cable.vtt"
    cues = parse_transcript(path.read_bytes(), path.name)
    assert len(cues) == 865
    assert all(c.end_us >= c.start_us for c in cues)


def test_youtube_auto_captions_have_word_times(corpus):
    path = corpus / "subs" / "webvtt-py" / "tests" / "samples" / "youtube_dl.vtt"
    cues = parse_transcript(path.read_bytes(), path.name)
    timed = [c for c in cues if c.words]
    assert timed, "inline <00:05:04.199> timestamps should give word timings"
    words = timed[0].words
    assert [w.text for w in words][:3] == ["this", "will", "happen"]
    assert words[1].start_us == 304_199_000
    assert all(w.start_us <= w.end_us for w in words)


@pytest.mark.parametrize("name", ["invalid_format1.srt", "invalid_format2.srt", "invalid_format3.srt"])
def test_invalid_srt_samples_raise(corpus, name):
    path = corpus / "subs" / "webvtt-py" / "tests" / "samples" / name
    with pytest.raises(TranscriptError):
        parse_transcript(path.read_bytes(), name)


def test_whisper_result_with_segment_past_the_audio(corpus):
    path = corpus / "whisper" / "pysubs2_TRANSCRIBE_RESULT.extracted.json"
    t = load_transcript(path.read_bytes(), path.name)
    assert t.format == "whisper_json" and len(t.cues) == 2
    assert t.cues[1].end_us > t.cues[1].start_us
