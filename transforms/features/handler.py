"""Beam's PyTorch model handler with one change: a GPU that was asked for and is missing is an
error. (Beam logs a warning and quietly runs on the CPU, which turns a GPU job into a slow
CPU job nobody notices.) Importing this module imports torch."""

from __future__ import annotations

from apache_beam.ml.inference.pytorch_inference import PytorchModelHandlerTensor

from mmfuse.transforms.features.models import GPU_UNAVAILABLE, cuda_usable

__all__ = ["StrictDeviceHandler"]


class StrictDeviceHandler(PytorchModelHandlerTensor):
    def load_model(self):
        if self._device.type == "cuda" and not cuda_usable():
            raise RuntimeError(GPU_UNAVAILABLE)
        model = super().load_model()
        model.eval()
        return model
