"""A static HTML report of a run, to check alignment by eye (``python -m mmfuse.pipelines.report``);
the plots are matplotlib figures a notebook can show (:mod:`mmfuse.report.figures`)."""

from mmfuse.report.build import build_report
from mmfuse.report.figures import item_timeline, quality_histogram

__all__ = ["build_report", "item_timeline", "quality_histogram"]
