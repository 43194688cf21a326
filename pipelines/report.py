"""``python -m mmfuse.pipelines.report OUT``: static HTML pages of a run in ``OUT/report/``
(``--to DIR`` for another folder, e.g. a local one for a ``gs://`` run copied down): the
run at a glance, and a page per chosen item with its video, subtitles as WebVTT tracks and a
timeline on the media clock. Open ``index.html`` in a browser; no server is needed."""

from __future__ import annotations

import argparse
import sys
from typing import Optional

__all__ = ["main"]


def main(argv: Optional[list] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mmfuse.pipelines.report", description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="an mmfuse output folder on this machine")
    p.add_argument("--to", help="where to write the pages (default: RUN/report)")
    p.add_argument(
        "--items", type=int, default=20, help="item pages: the worst items of each figure and a sample, this many in all"
    )
    p.add_argument("--all", action="store_true", help="a page for every item")
    args = p.parse_args(argv)
    from mmfuse.report import build_report

    try:
        made = build_report(args.run, args.to, args.items, args.all)
    except FileNotFoundError as err:
        print(f"mmfuse: error: {err}", file=sys.stderr)
        return 2
    print(
        f"report: {made['folder']}/index.html ({made['index_pages']} index page(s), {made['item_pages']} item pages, {made['seconds']:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
