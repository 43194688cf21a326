"""The fusion models ``python -m mmfuse.pipelines.train`` compares (PyTorch).

- :class:`Classifier`: an MLP on one input (one modality, or the early-fusion vector);
- :class:`IntermediateFusion`: one encoder per modality into a shared hidden layer; an absent
  modality contributes nothing (its embedding is masked out and the shared layer averages the
  present ones), so a window missing a modality is still classified;
- :class:`SequenceFusion`: the same encoders per window, then a GRU over an item's windows
  (packed, so padding is never read) and a classifier on its last state.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

__all__ = ["Classifier", "IntermediateFusion", "SequenceFusion"]


def _mlp(width: int, hidden: int, out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, out))


class Classifier(nn.Module):
    def __init__(self, width: int, classes: int, hidden: int = 128, dropout: float = 0.2):
        super().__init__()
        self.net = _mlp(width, hidden, classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _Encoders(nn.Module):
    """Per-modality encoders and the masked mean of their embeddings."""

    def __init__(self, widths: Mapping[str, int], hidden: int, dropout: float):
        super().__init__()
        self.names = list(widths)
        self.encoders = nn.ModuleDict(
            {n: nn.Sequential(nn.Linear(w, hidden), nn.ReLU(), nn.Dropout(dropout)) for n, w in widths.items()}
        )

    def forward(self, features: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor]) -> torch.Tensor:
        total, count = 0.0, 0.0
        for n in self.names:
            m = masks[n].unsqueeze(-1).to(features[n].dtype)
            total = total + self.encoders[n](features[n]) * m
            count = count + m
        return total / count.clamp(min=1.0)


class IntermediateFusion(nn.Module):
    def __init__(self, widths: Mapping[str, int], classes: int, hidden: int = 128, dropout: float = 0.2):
        super().__init__()
        self.encode = _Encoders(widths, hidden, dropout)
        self.shared = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.head = nn.Linear(hidden, classes)

    def forward(self, features, masks) -> torch.Tensor:
        return self.head(self.shared(self.encode(features, masks)))


class SequenceFusion(nn.Module):
    def __init__(self, widths: Mapping[str, int], classes: int, hidden: int = 128, dropout: float = 0.2):
        super().__init__()
        self.encode = _Encoders(widths, hidden, dropout)
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, features, masks, lengths: Sequence[int]) -> torch.Tensor:
        steps = self.encode(features, masks)  # (B, T, hidden)
        packed = pack_padded_sequence(steps, torch.as_tensor(lengths).cpu(), batch_first=True, enforce_sorted=False)
        _, last = self.gru(packed)
        return self.head(last[-1])
