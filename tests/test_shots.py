"""Shot boundaries at known frames: hard cuts exact to the frame, flashes not cuts, a fade
through black and a dissolve found once each; on generated pictures and on real corpus footage
edited at known frames (mmfuse.testing.shotclips)."""

import pytest
from conftest import shot_boundaries

from mmfuse.schemas.records import Chunk
from mmfuse.testing import CONCEPTS, SyntheticSpec, make_media
from mmfuse.testing.shotclips import Join, Piece, build_clip, plan_clip

WHOLE = Chunk("c", 0, 0, None)


def _boundaries(path, chunks=(WHOLE,)):
    return shot_boundaries(path, chunks)


def _check(found, truth):
    """Every hard cut at its first frame's PTS, one boundary in each transition, nothing else."""
    frame = {t: i for i, t in enumerate(truth.pts_us)}
    cuts = [truth.us(c) for c in truth.cuts]
    assert [t for t in found if t in cuts] == cuts
    rest = [frame[t] for t in found if t not in cuts]
    for kind, a, b in truth.transitions:
        inside = [f for f in rest if a - 1 <= f <= b + 1]
        assert len(inside) == 1, (kind, a, b, rest)
    assert all(any(a - 1 <= f <= b + 1 for _, a, b in truth.transitions) for f in rest), (rest, truth.flashes)


@pytest.fixture(scope="module")
def edited_generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shotclips")
    for name in ("red", "green", "blue", "yellow", "purple"):
        scene = ((0.0, CONCEPTS[name]),)
        make_media(
            str(folder / f"{name}.mp4"), SyntheticSpec(duration_s=3, width=128, height=72, noise=6, scenes=scene, audio=False)
        )
    pieces = [
        Piece("red.mp4", 0.2, 40),
        Piece("green.mp4", 0.2, 50, flashes=((20, 2, 1.0),)),
        Piece("blue.mp4", 0.2, 50, flashes=((30, 1, 0.8),)),
        Piece("yellow.mp4", 0.2, 45),
        Piece("purple.mp4", 0.2, 40),
    ]
    joins = [Join("cut"), Join("fade"), Join("dissolve"), Join("cut")]
    path = str(folder / "edited.mp4")
    return path, build_clip(str(folder), path, pieces, joins, size=(128, 72))


def test_cuts_flashes_fade_and_dissolve(edited_generated):
    path, truth = edited_generated
    assert len(truth.cuts) == 2 and [k for k, _, _ in truth.transitions] == ["fade", "dissolve"]
    _check(_boundaries(path), truth)


def test_the_same_boundaries_in_chunks(edited_generated):
    path, truth = edited_generated
    whole = _boundaries(path)
    edges = [truth.us(truth.cuts[0]) + 40_000, truth.us(truth.transitions[1][1]) - 200_000]
    chunks = [Chunk("c", 0, 0, edges[0]), Chunk("c", 1, edges[0], edges[1]), Chunk("c", 2, edges[1], None)]
    assert _boundaries(path, chunks) == whole


def test_real_footage_edited_at_known_frames(corpus, tmp_path):
    """Pieces of the corpus's real videos: 12 hard cuts, a fade and a dissolve, 3 flashes."""
    joins = ["cut"] * 6 + ["fade"] + ["cut"] * 3 + ["dissolve"] + ["cut"] * 3
    pieces, joins = plan_clip(7, joins, flashes=3)
    path = str(tmp_path / "edited.mp4")
    truth = build_clip(str(corpus), path, pieces, joins, size=(320, 180))
    assert len(truth.flashes) == 3
    _check(_boundaries(path), truth)
