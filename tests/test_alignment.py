"""Subtitle offset, A/V offset and forced alignment on generated speech with exact timings.

Speech is made by espeak-ng (installed by .ci/run); without its library these tests skip.
"""

import json
import shutil
import subprocess

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import RUNNER

from mmfuse.pipelines import extract
from mmfuse.schemas.records import Cue, MediaItem
from mmfuse.testing import Event, SyntheticSpec, make_media, make_speech, write_srt
from mmfuse.transforms.align.avsync import estimate_av_offset
from mmfuse.transforms.align.speech import AudioCursor
from mmfuse.transforms.align.sync import estimate_offset, item_activity, shift_cues
from mmfuse.transforms.align.words import WordAligner, align_transcript, align_untimed, cue_words, split_sentences
from mmfuse.transforms.media.probe import probe_media
from mmfuse.transforms.text.transcripts import read_transcript

SENTENCES = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
]


def _espeak_or_skip():
    from mmfuse.transforms.align.tts import EspeakUnavailable, _library

    try:
        _library()
    except EspeakUnavailable as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    _espeak_or_skip()
    folder = tmp_path_factory.mktemp("speech")
    wav = folder / "speech.wav"
    truth = make_speech(str(wav), SENTENCES, gap_s=0.8)
    return {"wav": str(wav), "truth": truth, "folder": folder}


def _info(path):
    return probe_media(MediaItem("s", None, path))


@pytest.mark.parametrize("shift_us", [0, 1_300_000, -400_000])
def test_subtitle_offset_is_found(speech, shift_us):
    info = _info(speech["wav"])
    origin, activity = item_activity(AudioCursor(info))
    cues = [Cue(s + shift_us + 600_000, e + shift_us + 600_000, t) for s, e, t in speech["truth"]]
    cues = [c.with_offset(-600_000) for c in cues]
    estimate = estimate_offset(activity, origin, cues)
    assert abs(estimate.offset_us - shift_us) <= 50_000
    assert estimate.confidence > 0.5
    fixed = shift_cues(cues, estimate)
    assert all(abs(c.start_us - s) <= 50_000 for c, (s, _, _) in zip(fixed, speech["truth"]))


def test_subtitle_drift_is_found(speech):
    """A transcript timed 2% slow (a 25 fps → 24.5 fps conversion) has drift 20000 ppm."""
    wav = speech["folder"] / "long.wav"
    sentences = SENTENCES * 4
    gaps = np.random.default_rng(3).uniform(0.4, 2.0, len(sentences)).tolist()
    truth = make_speech(str(wav), sentences, gap_s=gaps)
    info = _info(str(wav))
    origin, activity = item_activity(AudioCursor(info))
    cues = [Cue(round(s * 1.02) + 250_000, round(e * 1.02) + 250_000, t) for s, e, t in truth]
    estimate = estimate_offset(activity, origin, cues, segment_us=20_000_000)
    assert abs(estimate.drift_ppm - 20_000) < 3_000
    assert abs(estimate.offset_us - 250_000) < 100_000


def test_words_align_to_sentence_bounds(speech):
    info = _info(speech["wav"])
    cues = [Cue(s, e, t) for s, e, t in speech["truth"]]
    for method in ("auto", "tts"):
        words = list(align_transcript(lambda: AudioCursor(info), cues, WordAligner(method)))
        assert len(words) == sum(len(cue_words(t)) for t in SENTENCES)
        assert all(w.start_us is not None for w in words)
        assert {w.method for w in words} == ({"sphinx"} if method == "auto" else {"tts_dtw"})
        errors = []
        for k, (s, e, _) in enumerate(speech["truth"]):
            mine = [w for w in words if w.cue_index == k]
            errors += [abs(mine[0].start_us - s), abs(mine[-1].end_us - e)]
            assert all(a.start_us <= b.start_us for a, b in zip(mine, mine[1:]))
        assert np.median(errors) <= 40_000, (method, errors)


def test_plain_text_becomes_timed_sentences(speech):
    info = _info(speech["wav"])
    text = " ".join(SENTENCES)
    assert split_sentences(text) == SENTENCES
    cues, words = align_untimed(lambda: AudioCursor(info), text, WordAligner())
    assert [c.text for c in cues] == SENTENCES
    starts = [c.start_us - s for c, (s, _, _) in zip(cues, speech["truth"])]
    assert max(abs(x) for x in starts) <= 80_000
    assert all(w.start_us is not None for w in words)


def test_other_languages_align_with_their_own_phonemes_or_by_espeak(speech):
    wav = speech["folder"] / "de.wav"
    truth = make_speech(str(wav), ["Der Hund spielt im Garten.", "Morgen regnet es vielleicht wieder."], voice="de")
    info = _info(str(wav))
    cues = [Cue(s, e, t) for s, e, t in truth]
    for method, label in (("auto", "sphinx_xlang"), ("tts", "tts_dtw")):
        words = list(align_transcript(lambda: AudioCursor(info), cues, WordAligner(method, language="de")))
        assert {w.method for w in words} == {label}
        assert abs(words[0].start_us - truth[0][0]) <= 60_000, method
        assert abs(words[-1].end_us - truth[1][1]) <= 80_000, method


def test_av_offset_from_content(tmp_path):
    flashes = tuple(Event(t, 0.12) for t in (1.0, 2.6, 4.4, 5.8, 7.5))
    tones = tuple(Event(f.start_s + 0.16, 0.25, 800) for f in flashes)  # audio 160 ms late
    path = tmp_path / "av.mp4"
    make_media(str(path), SyntheticSpec(duration_s=9, flashes=flashes, tones=tones))
    est = estimate_av_offset(probe_media(MediaItem("av", str(path))))
    assert abs(est.offset_us - 160_000) <= 40_000
    early = tmp_path / "early.mp4"
    make_media(
        str(early), SyntheticSpec(duration_s=9, flashes=flashes, tones=tuple(Event(f.start_s - 0.2, 0.25, 800) for f in flashes))
    )
    est = estimate_av_offset(probe_media(MediaItem("av", str(early))))
    assert abs(est.offset_us + 200_000) <= 40_000


def test_dataset_av_figures_count_confident_estimates_only():
    from mmfuse.transforms.fuse.media_rows import quality_values

    chance = dict(quality_values({"status": "ok", "av_offset_us": -868_000, "av_sync_confidence": 0.02}))
    assert "abs_av_offset_ms" not in chance and "av_offset_over_40ms" not in chance
    assert chance["av_sync_confidence"] == 0.02
    trusted = dict(quality_values({"status": "ok", "av_offset_us": 200_000, "av_sync_confidence": 0.93}))
    assert trusted["abs_av_offset_ms"] == 200.0 and trusted["av_offset_over_40ms"] == 1.0


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg makes the files with subtitle streams")
@pytest.mark.parametrize("ext, codec", [("mp4", "mov_text"), ("mkv", "srt"), ("mkv", "webvtt")])
def test_embedded_subtitle_streams(tmp_path, ext, codec):
    video = tmp_path / "v.mp4"
    make_media(str(video), SyntheticSpec(duration_s=4))
    srt = tmp_path / "s.srt"
    write_srt(str(srt), [(500_000, 1_500_000, "First line"), (2_000_000, 3_250_000, "Second <i>line</i>")])
    out = tmp_path / f"with_subs.{ext}"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(video),
            "-i",
            str(srt),
            "-map",
            "0",
            "-map",
            "1",
            "-c",
            "copy",
            "-c:s",
            codec,
            str(out),
        ],
        check=True,
    )
    cues = read_transcript(str(out))
    # Remuxing may move the whole file by the audio's priming; the video's first frame is the
    # reference the subtitles were written against.
    start = probe_media(MediaItem("v", str(out))).video.start_us
    got = [(c.start_us - start, c.end_us - start, c.text) for c in cues]
    assert got == [(500_000, 1_500_000, "First line"), (2_000_000, 3_250_000, "Second line")]


def test_pipeline_syncs_aligns_and_reports(speech, tmp_path):
    shifted = tmp_path / "late.srt"
    write_srt(str(shifted), [(s + 2_000_000, e + 2_000_000, t) for s, e, t in speech["truth"]])
    plain = tmp_path / "plain.txt"
    plain.write_text(" ".join(SENTENCES))
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        "\n".join(
            json.dumps(d)
            for d in (
                {"id": "late", "audio": speech["wav"], "transcript": str(shifted)},
                {"id": "plain", "audio": speech["wav"], "transcript": str(plain)},
            )
        )
    )
    out = tmp_path / "out"
    assert (
        extract.main(
            ["--manifest", str(manifest), "--output", str(out), "--runner", RUNNER, "--apply_transcript_offset", "--align_words"]
        )
        == 0
    )
    media = {r["media_id"]: r for r in pq.read_table(out / "media").to_pylist()}
    late = media["late"]
    assert abs(late["transcript_offset_us"] - 2_000_000) <= 50_000 and late["transcript_offset_applied"]
    # confident placements only: synthetic speech scores a little lower than real speech
    assert late["aligned_word_ratio"] >= 0.75 and late["n_words"] == sum(len(cue_words(t)) for t in SENTENCES)
    assert media["plain"]["n_cues"] == len(SENTENCES) and media["plain"]["aligned_word_ratio"] >= 0.75
    words = pq.read_table(out / "words").to_pylist()
    first = [w for w in words if w["media_id"] == "late" and w["cue_index"] == 0]
    assert first[0]["word"] == "The" and abs(first[0]["start_us"] - speech["truth"][0][0]) <= 60_000
    windows = [w for w in pq.read_table(out / "windows").to_pylist() if w["media_id"] == "late"]
    # after the correction, the first sentence (0.5 s - 2.8 s) is in windows 0-2, not 2-4
    first_text = sorted(w["window_index"] for w in windows if w["cue_indices"] and 0 in w["cue_indices"])
    assert first_text == [0, 1, 2]
