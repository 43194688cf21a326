"""Train and compare each modality alone and the three fusion kinds on a run's windows, split
by item (never by window: windows of one item are near copies, and a split by window would
let a model recognise the item instead of its class).

Every model classifies windows; an item's prediction is the mean of its windows' class
probabilities. Metrics are over the held-out items (accuracy and macro precision, recall, F1,
from scikit-learn). Models:

- ``visual``, ``audio``, ``text``: an MLP on that modality, trained and applied on the windows
  that have it (an item without it gets the most frequent training class);
- ``early``: an MLP on the ``fused`` column (``--fusion early``; standardised modalities and
  presence indicators); on a run without one the same vector is built here from the
  training windows' statistics;
- ``intermediate``: one encoder per modality into a shared hidden layer (absent modalities
  masked out); ``intermediate_gru`` (with ``sequence=True``) runs a GRU over each item's
  windows instead of averaging per-window predictions;
- ``late``: the single-modality models' item probabilities combined by the product rule over
  the modalities the item has (each posterior multiplied, the class prior divided out once per
  extra modality: the Bayes combination when modalities are independent given the class).
  Averaging them instead (the sum rule) cannot express a class that needs two modalities at
  once: each alone spreads its belief over the classes it cannot tell apart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.preprocessing import StandardScaler
from torch import nn

from mmfuse.data.windows import Windows
from mmfuse.train.models import Classifier, IntermediateFusion, SequenceFusion

__all__ = ["MODALITIES", "Comparison", "TrainSettings", "best_single", "compare", "split_by_item"]

MODALITIES = ("visual", "audio", "text")


@dataclass(frozen=True)
class TrainSettings:
    test_share: float = 0.3
    seed: int = 0
    epochs: int = 60
    hidden: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    device: str = "cpu"
    sequence: bool = False


@dataclass
class Comparison:
    """Per model: item-level metrics, predictions and confusion matrix; CPU seconds per model."""

    classes: tuple
    test_items: list
    truth: np.ndarray
    metrics: dict = field(default_factory=dict)
    confusion: dict = field(default_factory=dict)
    cpu_s: dict = field(default_factory=dict)
    split: str = ""
    early_input: str = ""


def split_by_item(w: Windows, share: float, seed: int) -> tuple[np.ndarray, str]:
    """A boolean per window, True for held-out (test) items: the ``split`` column's ``test``
    items when it names any, else a stratified split of the labelled items by group."""
    split = w.columns.get("split")
    if split is not None and any(s == "test" for s in split):
        return np.array([s == "test" for s in split]), "the split column (test items held out)"
    items, first = np.unique(w.media_id, return_index=True)
    folds = max(2, round(1 / share))
    labels = w.labels[first]
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    _, test = next(splitter.split(items, labels, groups=items))
    held = set(items[test])
    return np.array([m in held for m in w.media_id]), f"{len(held)} of {len(items)} items by label, seed {seed}"


def _train(model: nn.Module, inputs, y: torch.Tensor, s: TrainSettings, forward) -> nn.Module:
    """Minibatch Adam on cross-entropy; ``forward(model, inputs, index)`` gives logits."""
    device = torch.device(s.device)
    model.to(device)
    generator = torch.Generator().manual_seed(s.seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    n = len(y)
    model.train()
    for _ in range(s.epochs):
        for batch in torch.randperm(n, generator=generator).split(s.batch_size):
            optimiser.zero_grad()
            loss = loss_fn(forward(model, inputs, batch), y[batch].to(device))
            loss.backward()
            optimiser.step()
    model.eval()
    return model


def _probabilities(model, inputs, n: int, forward) -> np.ndarray:
    with torch.no_grad():
        parts = [torch.softmax(forward(model, inputs, idx), -1).cpu() for idx in torch.arange(n).split(4096)]
    return torch.cat(parts).numpy() if parts else np.zeros((0, 0))


def _per_item(ids: np.ndarray, probs: np.ndarray, items: list) -> dict:
    """Mean window probabilities of each item in ``items`` that has windows here."""
    out = {}
    for m in items:
        at = ids == m
        if at.any():
            out[m] = probs[at].mean(axis=0)
    return out


def _to(x: np.ndarray, s: TrainSettings) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32, device=s.device)


def _mlp_item_probs(x_train, y_train, x_test, ids_test, items, k, s: TrainSettings) -> dict:
    scaler = StandardScaler().fit(x_train)
    xt, xe = _to(scaler.transform(x_train), s), _to(scaler.transform(x_test), s)
    torch.manual_seed(s.seed)
    model = _train(Classifier(xt.shape[1], k, s.hidden), xt, torch.as_tensor(y_train), s, lambda m, x, i: m(x[i]))
    return _per_item(ids_test, _probabilities(model, xe, len(xe), lambda m, x, i: m(x[i])), items)


def compare(w: Windows, s: TrainSettings = TrainSettings()) -> Comparison:
    """Train every model on the training items of ``w`` (labelled windows only) and score it on
    the held-out items."""
    keep = w.labels >= 0
    if not keep.any():
        raise ValueError("no window has a label: give items a 'label' (manifest key or --labels_file)")
    w = _subset(w, keep)
    k = len(w.classes)
    test, how = split_by_item(w, s.test_share, s.seed)
    train = ~test
    if not train.any() or not test.any():
        raise ValueError("the split leaves no training or no test items; label more items")
    test_items = sorted(set(w.media_id[test]))
    item_label = {m: int(w.labels[w.media_id == m][0]) for m in test_items}
    truth = np.array([item_label[m] for m in test_items])
    majority = int(np.bincount(w.labels[train], minlength=k).argmax())
    result = Comparison(tuple(w.classes), test_items, truth, split=how)
    modalities = [c for c in MODALITIES if c in w.features and w.masks[c][train].any()]
    single: dict = {}
    for c in modalities:
        started = time.process_time()
        tr, te = train & w.masks[c], test & w.masks[c]
        single[c] = _mlp_item_probs(w.features[c][tr], w.labels[tr], w.features[c][te], w.media_id[te], test_items, k, s)
        result.cpu_s[c] = time.process_time() - started
        _score(result, c, single[c], majority, k)
    started = time.process_time()
    fused = w.features.get("fused")
    if fused is None:  # built here the way --fusion early builds it, from the training windows
        fused = _early_vectors(w, modalities, train)
    result.early_input = "the fused column" if "fused" in w.features else "built from training windows"
    early = _mlp_item_probs(fused[train], w.labels[train], fused[test], w.media_id[test], test_items, k, s)
    result.cpu_s["early"] = time.process_time() - started
    _score(result, "early", early, majority, k)
    started = time.process_time()
    _score(result, "intermediate", _intermediate(w, modalities, train, test, test_items, k, s), majority, k)
    result.cpu_s["intermediate"] = time.process_time() - started
    if s.sequence:
        started = time.process_time()
        _score(result, "intermediate_gru", _sequence(w, modalities, train, test_items, k, s), majority, k)
        result.cpu_s["intermediate_gru"] = time.process_time() - started
    prior = np.bincount(w.labels[train], minlength=k) / train.sum()
    late = {}
    for m in test_items:
        present = [single[c][m] for c in modalities if m in single[c]]
        if present:  # p(c | all) ∝ Π p(c | modality) / p(c)^(M-1): modalities independent given c
            logp = np.sum(np.log(np.asarray(present) + 1e-6), axis=0) - (len(present) - 1) * np.log(prior + 1e-6)
            late[m] = np.exp(logp - logp.max()) / np.exp(logp - logp.max()).sum()
    _score(result, "late", late, majority, k)
    result.cpu_s["late"] = sum(result.cpu_s[c] for c in modalities)
    return result


def _subset(w: Windows, keep: np.ndarray) -> Windows:
    return Windows(
        w.media_id[keep],
        w.window_index[keep],
        w.start_us[keep],
        w.end_us[keep],
        {c: x[keep] for c, x in w.features.items()},
        {c: x[keep] for c, x in w.masks.items()},
        w.labels[keep],
        w.classes,
        {c: x[keep] for c, x in w.columns.items()},
    )


def _score(result: Comparison, name: str, item_probs: dict, majority: int, k: int) -> None:
    predicted = np.array([int(np.argmax(item_probs[m])) if m in item_probs else majority for m in result.test_items])
    p, r, f1, _ = precision_recall_fscore_support(result.truth, predicted, average="macro", labels=range(k), zero_division=0)
    result.metrics[name] = {
        "accuracy": round(float(accuracy_score(result.truth, predicted)), 4),
        "precision": round(float(p), 4),
        "recall": round(float(r), 4),
        "f1": round(float(f1), 4),
    }
    result.confusion[name] = confusion_matrix(result.truth, predicted, labels=range(k))


def _standardised(w: Windows, modalities, train) -> dict:
    out = {}
    for c in modalities:
        scaler = StandardScaler().fit(w.features[c][train & w.masks[c]])
        out[c] = np.where(w.masks[c][:, None], scaler.transform(w.features[c]), 0.0).astype(np.float32)
    return out


def _early_vectors(w: Windows, modalities, train) -> np.ndarray:
    parts = _standardised(w, modalities, train)
    return np.concatenate([*parts.values(), *[w.masks[c][:, None].astype(np.float32) for c in modalities]], axis=1)


def _intermediate(w: Windows, modalities, train, test, items, k, s: TrainSettings) -> dict:
    x = {c: _to(v, s) for c, v in _standardised(w, modalities, train).items()}
    masks = {c: torch.as_tensor(w.masks[c], device=s.device) for c in modalities}
    train_idx, test_idx = np.flatnonzero(train), np.flatnonzero(test)

    def forward(model, _, index, rows):
        at = torch.as_tensor(rows[index.cpu().numpy()], device=s.device)
        return model({c: x[c][at] for c in modalities}, {c: masks[c][at] for c in modalities})

    torch.manual_seed(s.seed)
    model = IntermediateFusion({c: x[c].shape[1] for c in modalities}, k, s.hidden)
    y = torch.as_tensor(w.labels[train_idx])
    model = _train(model, None, y, s, lambda m, _, i: forward(m, None, i, train_idx))
    probs = _probabilities(model, None, len(test_idx), lambda m, _, i: forward(m, None, i, test_idx))
    return _per_item(w.media_id[test_idx], probs, items)


def _sequence(w: Windows, modalities, train, items, k, s: TrainSettings) -> dict:
    x = _standardised(w, modalities, train)
    groups = w.items()
    names = sorted(groups)
    t_max = max(len(groups[m]) for m in names)

    def padded(ids):
        feats = {c: np.zeros((len(ids), t_max, x[c].shape[1]), np.float32) for c in modalities}
        masks = {c: np.zeros((len(ids), t_max), bool) for c in modalities}
        for b, m in enumerate(ids):
            rows = groups[m]
            for c in modalities:
                feats[c][b, : len(rows)], masks[c][b, : len(rows)] = x[c][rows], w.masks[c][rows]
        lengths = [len(groups[m]) for m in ids]
        return (
            {c: _to(v, s) for c, v in feats.items()},
            {c: torch.as_tensor(v, device=s.device) for c, v in masks.items()},
            lengths,
        )

    held = set(items)
    train_ids = [m for m in names if m not in held]
    f_tr, m_tr, l_tr = padded(train_ids)
    y = torch.as_tensor([int(w.labels[groups[m][0]]) for m in train_ids])

    def forward(model, data, index):
        f, m, lengths = data
        i = index.cpu().numpy()
        return model({c: v[i] for c, v in f.items()}, {c: v[i] for c, v in m.items()}, [lengths[j] for j in i])

    torch.manual_seed(s.seed)
    model = _train(SequenceFusion({c: x[c].shape[1] for c in modalities}, k, s.hidden), (f_tr, m_tr, l_tr), y, s, forward)
    test_data = padded(items)
    probs = _probabilities(model, test_data, len(items), forward)
    return {m: probs[j] for j, m in enumerate(items)}


def best_single(result: Comparison) -> Optional[str]:
    singles = [c for c in MODALITIES if c in result.metrics]
    return max(singles, key=lambda c: result.metrics[c]["accuracy"]) if singles else None
