"""Word alignment on real human speech, judged against the corpus's reference word timings
(other aligners' fixtures and hand labels; never against what mmfuse itself computes)."""

import statistics

import pyarrow.parquet as pq
import pytest
from conftest import RUNNER

from mmfuse.pipelines import extract
from mmfuse.testing.corpus import INDEPENDENT_EN as INDEPENDENT
from mmfuse.testing.corpus import onset_errors, percentile, speech_items, write_case

pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def items(corpus):
    found = speech_items(str(corpus / "speech"), "en", INDEPENDENT)
    assert len(found) == len(INDEPENDENT)
    return found


def _run(folder, manifest, *flags):
    out = folder / "out"
    assert extract.main(["--manifest", manifest, "--output", str(out), "--runner", RUNNER, "--align_words", *flags]) == 0
    media = {r["media_id"]: r for r in pq.read_table(out / "media").to_pylist()}
    return pq.read_table(out / "words").to_pylist(), media


def _errors(rows, items, plain):
    return [e for item in items for e in onset_errors(rows, item, plain)]


def test_plain_text_is_found_along_real_speech(items, tmp_path):
    rows, media = _run(tmp_path, write_case(str(tmp_path / "in"), items, "text"))
    errors = _errors(rows, items, plain=True)
    assert statistics.median(errors) <= 0.04 and percentile(errors, 0.9) <= 0.12, sorted(errors)[-10:]
    assert all(m["aligned_word_ratio"] >= 0.8 for m in media.values()), {k: m["aligned_word_ratio"] for k, m in media.items()}
    # sentence cues of the 10 Harvard sentences, read in order
    assert media["gentle_harvard_list30"]["n_cues"] == 10


def test_cues_two_seconds_late_are_found_where_the_speech_is(items, tmp_path):
    long_items = [i for i in items if i.duration_s > 10]  # a shift of 2 s needs room around the speech
    rows, _ = _run(tmp_path, write_case(str(tmp_path / "in"), long_items, "cues", shift_us=2_000_000))
    errors = _errors(rows, long_items, plain=False)
    assert statistics.median(errors) <= 0.05 and percentile(errors, 0.9) <= 0.15, sorted(errors)[-10:]


def test_words_come_in_reading_order_with_times_that_never_go_back(items, tmp_path):
    rows, _ = _run(tmp_path, write_case(str(tmp_path / "in"), items, "cues"))
    for item in items:
        mine = sorted((r for r in rows if r["media_id"] == item.id), key=lambda r: (r["cue_index"], r["word_index"]))
        assert [r["word"].lower() for r in mine] == [w["word"].lower().strip(".,") for w in item.words]
        timed = [r for r in mine if r["start_us"] is not None]
        assert all(a["end_us"] <= b["start_us"] and a["start_us"] <= a["end_us"] for a, b in zip(timed, timed[1:]))


def test_a_transcript_of_other_speech_is_not_confidently_aligned(corpus, tmp_path):
    every = speech_items(str(corpus / "speech"), "en")  # each audio gets the transcript closest in length
    _, media = _run(tmp_path, write_case(str(tmp_path / "in"), every, "mismatch"))
    ratios = {k: m["aligned_word_ratio"] for k, m in media.items()}
    assert all(r <= 0.3 for r in ratios.values()), ratios
