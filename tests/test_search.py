"""python -m mmfuse.pipelines.search on a run without pretrained features: a CCA fitted on its
windows (hashed cue words against the picture) finds the shots a colour word names."""

import json

import pytest
from conftest import RUNNER

from mmfuse.pipelines import extract, search
from mmfuse.testing.stories import make_story_set


@pytest.fixture(scope="module")
def story_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("search")
    truth = make_story_set(str(folder), items=16, held_out=0, seed=7, n_concepts=5)
    out = folder / "out"
    assert extract.main(["--manifest", str(folder / "items.jsonl"), "--output", str(out), "--runner", RUNNER]) == 0
    return out, truth


def _concept(truth, hit):
    middle = (hit["start_us"] + hit["end_us"]) // 2
    return next(c for s, e, c in truth[hit["media_id"]]["shots"] if s <= middle < e)


def test_text_and_like_queries(story_run, capsys):
    out, truth = story_run
    for colour in ("red", "blue", "yellow"):
        assert search.main([str(out), "--text", f"a {colour} scene", "--top", "5", "--json"]) == 0
        hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert len(hits) == 5 and hits[0]["score"] >= hits[-1]["score"]
        assert sum(_concept(truth, h) == colour for h in hits) >= 4, (colour, hits)
    item = "item000"
    start, end, colour = truth[item]["shots"][0]
    assert search.main([str(out), "--like", f"{item}@{(start + end) / 2e6}", "--top", "5", "--json"]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all(h["media_id"] != item for h in hits) and sum(_concept(truth, h) == colour for h in hits) >= 4
    assert search.main([str(out), "--text", "a red scene"]) == 0
    assert "space: a CCA fitted on the run's windows" in capsys.readouterr().out
    assert search.main([str(out), "--like", "nope"]) == 2
