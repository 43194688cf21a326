"""``python -m mmfuse.pipelines.search OUT --text "a red car"`` (or ``--like MEDIA_ID@SECONDS``):
the windows whose picture best matches, with scores, through a shared text-picture space
learned from the run (its semantic CCA, or one fitted on its windows)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional

__all__ = ["main"]


def main(argv: Optional[list] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mmfuse.pipelines.search", description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="an mmfuse output folder")
    query = p.add_mutually_exclusive_group(required=True)
    query.add_argument("--text", help="a sentence saying what the picture shows")
    query.add_argument("--like", metavar="MEDIA_ID@SECONDS", help="windows of other items that look like this one")
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="one JSON object per hit instead of a table")
    args = p.parse_args(argv)
    from mmfuse.search import load_for_search, load_space, search_like, search_text

    try:
        windows = load_for_search(args.run)
        space = load_space(args.run, windows, args.device)
        if args.text:
            hits = search_text(space, windows, args.text, args.top)
        else:
            media_id, _, seconds = args.like.rpartition("@")
            if not media_id:
                raise ValueError("--like takes MEDIA_ID@SECONDS, e.g. talk-001@12.5")
            hits = search_like(space, windows, media_id, float(seconds), args.top)
    except (ValueError, FileNotFoundError) as err:
        print(f"mmfuse: error: {err}", file=sys.stderr)
        return 2
    if args.json:
        for h in hits:
            print(json.dumps(h.__dict__))
        return 0
    print(f"space: {space.name}; {len(windows)} windows")
    for rank, h in enumerate(hits, start=1):
        text = (h.transcript or "")[:60]
        print(f"{rank:>3} {h.score:+.3f} {h.media_id} [{h.start_us / 1e6:.1f}, {h.end_us / 1e6:.1f}) s  {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
