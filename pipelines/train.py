"""``python -m mmfuse.pipelines.train OUT``: train and compare, on a split by item, each
modality alone and early, intermediate and late fusion on a run's windows; prints the table
and writes ``OUT/train/metrics.json`` (model → accuracy, precision, recall, F1, macro over
classes, on the held-out items), ``report.json`` and ``confusion.png``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Optional

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mmfuse.pipelines.train", description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="an mmfuse output folder (windows/, media/)")
    p.add_argument("--label", default="label", help="the windows/ column to predict (default: label)")
    p.add_argument("--to", help="where to write metrics.json, report.json, confusion.png (default: RUN/train)")
    p.add_argument(
        "--test_share", type=float, default=0.3, help="share of items held out when there is no split column naming test items"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--hidden", type=int, default=128, help="width of every hidden layer")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--device", default="cpu", help="cpu, or cuda on a GPU")
    p.add_argument("--sequence", action="store_true", help="also intermediate fusion over per-item sequences with a GRU")
    p.add_argument("--status", default="ok,partial", help="item statuses kept (comma-separated)")
    p.add_argument("--min_transcript_sync_confidence", type=float)
    p.add_argument("--min_av_sync_confidence", type=float)
    p.add_argument("--min_aligned_word_ratio", type=float)
    return p


def _confusion_png(path: str, comparison) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    names = list(comparison.confusion)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        ConfusionMatrixDisplay(comparison.confusion[name], display_labels=list(comparison.classes)).plot(
            ax=ax, colorbar=False, xticks_rotation="vertical"
        )
        ax.set_title(f"{name}: acc {comparison.metrics[name]['accuracy']:.2f}")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: Optional[list] = None) -> int:
    args = _parser().parse_args(argv)
    from mmfuse.data import Gates, load_windows, table_dataset
    from mmfuse.train.comparison import TrainSettings, best_single, compare

    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print("mmfuse: error: --device cuda, but torch sees no GPU", file=sys.stderr)
            return 2
    started = time.process_time()
    try:
        names = table_dataset(args.run, "windows").schema.names
        gates = Gates(
            status=tuple(args.status.split(",")),
            min_transcript_sync_confidence=args.min_transcript_sync_confidence,
            min_av_sync_confidence=args.min_av_sync_confidence,
            min_aligned_word_ratio=args.min_aligned_word_ratio,
        )
        if args.label not in names:
            raise ValueError(f"windows/ has no column {args.label!r}; label items with a manifest key or --labels_file")
        windows = load_windows(
            args.run,
            features=("visual", "audio", "text", "fused"),
            gates=gates,
            window_columns=[c for c in ("split",) if c in names and c != args.label],
            label=args.label,
        )
        read_s = time.process_time() - started
        settings = TrainSettings(
            args.test_share, args.seed, args.epochs, args.hidden, args.lr, device=args.device, sequence=args.sequence
        )
        result = compare(windows, settings)
    except (ValueError, FileNotFoundError) as err:
        print(f"mmfuse: error: {err}", file=sys.stderr)
        return 2
    folder = args.to or os.path.join(args.run, "train")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "metrics.json"), "w") as f:
        json.dump(result.metrics, f, indent=2)
    report = {
        "label": args.label,
        "classes": list(result.classes),
        "split": result.split,
        "test_items": len(result.test_items),
        "windows": len(windows),
        "early_input": result.early_input,
        "cpu_s": {"read": round(read_s, 3), **{k: round(v, 3) for k, v in result.cpu_s.items()}},
        "settings": vars(args),
    }
    with open(os.path.join(folder, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    _confusion_png(os.path.join(folder, "confusion.png"), result)
    print(f"{len(windows)} windows; held out: {result.split}; classes {list(result.classes)}")
    print(f"{'model':<17}{'accuracy':>9}{'precision':>10}{'recall':>8}{'f1':>7}{'CPU s':>8}")
    for name, m in result.metrics.items():
        cpu = result.cpu_s.get(name)
        print(
            f"{name:<17}{m['accuracy']:>9.3f}{m['precision']:>10.3f}{m['recall']:>8.3f}{m['f1']:>7.3f}{cpu if cpu is None else round(cpu, 1):>8}"
        )
    single = best_single(result)
    if single:
        base = result.metrics[single]["accuracy"]
        gaps = ", ".join(
            f"{n} {100 * (result.metrics[n]['accuracy'] - base):+.1f}"
            for n in result.metrics
            if n not in ("visual", "audio", "text")
        )
        print(f"fusion vs the best single modality ({single}), accuracy points: {gaps}")
    print(f"written: {folder}/metrics.json, report.json, confusion.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
