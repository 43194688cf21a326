"""python -m mmfuse.pipelines.report on a small generated run, opened in headless Chromium:
pages load without console errors, the index lists every item, an item page's <video> has a
<track> that parses, and a screenshot is not blank."""

import json
import shutil
import subprocess

import cv2
import pytest
from conftest import RUNNER

from mmfuse.pipelines import extract, report
from mmfuse.testing import Event, SyntheticSpec, make_media, write_srt

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    lines = []
    for k in range(3):
        make_media(
            str(folder / f"v{k}.mp4"), SyntheticSpec(duration_s=3, flashes=(Event(1.0, 0.2),), tones=(Event(2.0, 0.3),), seed=k)
        )
        write_srt(
            str(folder / f"v{k}.srt"), [(200_000, 1_400_000, f"item {k} says hello"), (1_600_000, 2_800_000, "and goodbye")]
        )
        lines.append(json.dumps({"id": f"v{k}", "video": f"v{k}.mp4", "transcript": f"v{k}.srt", "label": "x"}))
    lines.append(json.dumps({"id": "broken", "video": "missing.mp4"}))
    (folder / "m.jsonl").write_text("\n".join(lines) + "\n")
    out = folder / "out"
    argv = ["--manifest", str(folder / "m.jsonl"), "--output", str(out), "--runner", RUNNER, "--shots", "--sync_transcripts"]
    assert extract.main(argv) == 0
    assert report.main([str(out), "--all"]) == 0
    return out


def test_pages_and_tracks_on_disk(run):
    pages = run / "report"
    index = (pages / "index.html").read_text()
    assert all(f">{m}<" in index for m in ("v0", "v1", "v2", "broken")) and "not_found" in index
    item = (pages / "items" / "v1.html").read_text()
    assert "<video" in item and "<track" in item and "timeline.png" in item
    vtt = (pages / "items" / "v1.written.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "00:00:00.200 --> 00:00:01.400" in vtt and "item 1 says hello" in vtt
    assert len(list((pages / "items" / "thumbs").glob("v1-*.jpg"))) == 3  # one per window


def _chromium(*args, url):
    cmd = [
        CHROMIUM,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--virtual-time-budget=5000",
        "--enable-logging=stderr",
        "--v=0",
        *args,
        url,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_chromium_opens_the_pages(run, tmp_path):
    pages = run / "report"
    for page, check in (("index.html", "v2"), ("items/v0.html", 'data-cues="2"')):
        result = _chromium("--dump-dom", url=(pages / page).as_uri())
        assert result.returncode == 0, result.stderr[-2000:]
        assert check in result.stdout, (page, result.stdout[-2000:])
        console = [line for line in result.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
        assert not console, console
    shot = tmp_path / "item.png"
    result = _chromium(f"--screenshot={shot}", "--window-size=1100,900", url=(pages / "items" / "v0.html").as_uri())
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (900, 1100) and image.std() > 10
