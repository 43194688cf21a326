import codecs
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmfuse.transforms.text.transcripts import Cue, TranscriptError, detect_format, load_transcript, parse_transcript

SRT = "1\n00:00:01,000 --> 00:00:02,500\nHello <i>there</i>.\n\n2\n00:00:03,000 --> 00:00:04,000\nSecond line\nwraps.\n"


def test_srt_basic():
    cues = parse_transcript(SRT.encode(), "a.srt")
    assert cues == [Cue(1_000_000, 2_500_000, "Hello there."), Cue(3_000_000, 4_000_000, "Second line\nwraps.")]


@pytest.mark.parametrize(
    "bom, encoding",
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
    ],
)
def test_srt_with_any_bom(bom, encoding):
    data = bom + SRT.replace("\n", "\r\n").encode(encoding)
    t = load_transcript(data, "a.srt")
    assert t.encoding == encoding
    assert [c.start_us for c in t.cues] == [1_000_000, 3_000_000]
    assert t.cues[0].text == "Hello there."


def test_srt_legacy_encoding_is_detected():
    text = "1\n00:00:01,000 --> 00:00:02,000\nCaf\u00e9 cr\u00e8me br\u00fbl\u00e9e, s'il vous pla\u00eet, d\u00e9j\u00e0 vu \u00e0 la fa\u00e7ade.\n"
    t = load_transcript(text.encode("cp1252"), "a.srt")
    assert t.cues[0].text.startswith("Caf\u00e9 cr\u00e8me")


def test_srt_tolerates_what_real_files_do():
    data = (
        "00:00:1,5 --> 0:0:2.25\nno index, unpadded, dotted\n"  # no index line, no blank line after
        "7\n00:00:03,000 --> 00:00:03,000\nzero length\n\n"
        "8\n00:00:02,000 --> 00:00:05,000\noverlaps the previous\n\n"
        "9\n00:00:06,000 --> 00:00:05,000\nends before it starts\n"
    ).encode()
    t = load_transcript(data, "x.srt")
    assert [(c.start_us, c.end_us) for c in t.cues] == [(1_500_000, 2_250_000), (3_000_000, 3_000_000), (2_000_000, 5_000_000)]
    assert t.cues[0].text == "no index, unpadded, dotted"
    assert any("ends before it starts" in w for w in t.warnings)


def test_srt_without_any_cue_raises_with_line():
    with pytest.raises(TranscriptError, match="line 2") as info:
        parse_transcript(b"\nthis is not a subtitle file\n", "x.srt")
    assert info.value.line == 2


def test_vtt_strips_markup_and_reads_youtube_word_times():
    data = (
        "WEBVTT\nKind: captions\n\n"
        "00:00:01.000 --> 00:00:03.000 align:start\n"
        "this<00:00:01.500><c> will</c><00:00:02.000><c> happen</c>\n\n"
        "00:00:03.000 --> 00:00:04.000\n<v Jane>Fish &amp; chips</v>\n"
    ).encode()
    cues = parse_transcript(data, "y.vtt")
    assert cues[0].text == "this will happen"
    assert [(w.text, w.start_us, w.end_us) for w in cues[0].words] == [
        ("this", 1_000_000, 1_500_000),
        ("will", 1_500_000, 2_000_000),
        ("happen", 2_000_000, 3_000_000),
    ]
    assert cues[1].text == "Fish & chips"


def test_vtt_without_signature_yields_no_cues():
    t = load_transcript(b"00:00:01.000 --> 00:00:02.000\nhi\n", "z.vtt")
    assert t.cues == ()


@pytest.mark.parametrize("word_key, score_key", [("word", "probability"), ("text", "confidence")])
def test_whisper_both_dialects(word_key, score_key):
    doc = {
        "segments": [
            {
                "start": 0.5,
                "end": 2.0,
                "text": " Hello world",
                "words": [
                    {word_key: " Hello", "start": 0.5, "end": 1.0, score_key: 0.9},
                    {word_key: " world", "start": 1.1, "end": 2.0, score_key: 0.8},
                ],
            }
        ]
    }
    cues = parse_transcript(json.dumps(doc).encode(), "w.json")
    assert cues[0] == Cue(500_000, 2_000_000, "Hello world", cues[0].words)
    assert [(w.text, w.start_us, w.end_us, w.score) for w in cues[0].words] == [
        ("Hello", 500_000, 1_000_000, 0.9),
        ("world", 1_100_000, 2_000_000, 0.8),
    ]


def test_whisper_malformed_json_names_the_line():
    with pytest.raises(TranscriptError, match="line 3"):
        parse_transcript(b'{\n "segments": [\n  {"start": 1,, }\n]}', "w.json")


def test_whisper_segment_without_times():
    with pytest.raises(TranscriptError, match="segment 0"):
        parse_transcript(b'{"segments": [{"text": "x"}]}', "w.json")


def test_plain_text_is_one_untimed_cue():
    t = load_transcript(b"one two\nthree", "t.txt")
    assert not t.timed and t.cues == (Cue(0, 0, "one two three"),)


@pytest.mark.parametrize(
    "text, name, fmt",
    [
        ("WEBVTT\n", "noext", "vtt"),
        ('{"segments": []}', "noext", "whisper_json"),
        ("1\n00:00:01,000 --> 00:00:02,000\nx\n", "noext", "srt"),
        ("just words", "noext", "text"),
        ("anything", "a.SRT", "srt"),
    ],
)
def test_detect_format(text, name, fmt):
    assert detect_format(text, name) == fmt


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400), ext=st.sampled_from([".srt", ".vtt", ".json", ".txt", ""]))
def test_random_bytes_only_ever_raise_transcript_error(data, ext):
    try:
        cues = parse_transcript(data, "f" + ext)
    except TranscriptError:
        return
    assert all(c.end_us >= c.start_us for c in cues)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789:,.-> \n\r\tWEBVT<>c", max_size=300), st.sampled_from([".srt", ".vtt"]))
def test_subtitle_like_text_only_ever_raises_transcript_error(text, ext):
    try:
        parse_transcript(text.encode(), "f" + ext)
    except TranscriptError:
        pass


def test_long_texts_tokenize_in_pieces_as_nltk_does_whole():
    from nltk.tokenize import NLTKWordTokenizer

    from mmfuse.transforms.text.tokens import tokenize

    words = ['"Quoted"', "don't", "(x),", "U.S.", "end.", "a--b", "3.5", "e-mail", "plain"]
    text = " ".join(words[(i * 7) % len(words)] for i in range(6000))  # ~35 000 characters
    assert len(text) > 8 * 4096
    assert tokenize(text) == NLTKWordTokenizer().tokenize(text)
    # NLTK's 5 s regular-expression guard trips on one multi-megabyte string
    assert len(tokenize("word " * 2_000_000)) == 2_000_000


def test_a_cue_of_megabytes_is_cut_with_a_warning():
    from mmfuse.transforms.text.transcripts import MAX_CUE_CHARS, load_transcript

    data = b"WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n" + b"word " * 1_000_000 + b"\n"
    t = load_transcript(data, "bomb.vtt")
    assert len(t.cues) == 1 and len(t.cues[0].text) <= MAX_CUE_CHARS
    assert t.cues[0].text.startswith("word word") and t.warnings
