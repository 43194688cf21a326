"""Beam's PyTorch model handler for mmfuse's models: batches padded to one shape, pixels scaled
and normalised on the device, and one change to Beam's behaviour: a GPU that was asked for and
is missing is an error. (Beam logs a warning and quietly runs on the CPU, which turns a GPU job
into a slow CPU job nobody notices.) Importing this module imports torch.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

from apache_beam.ml.inference.base import PredictionResult
from apache_beam.ml.inference.pytorch_inference import PytorchModelHandlerTensor

from mmfuse.transforms.features.device import GPU_UNAVAILABLE, cuda_usable, torch_module
from mmfuse.transforms.features.models import architecture, file_sha256
from mmfuse.transforms.features.pretrained import pretrained

__all__ = ["PretrainedHandler", "StrictDeviceHandler", "image_inference_fn", "make_handler", "sequence_inference_fn"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class StrictDeviceHandler(PytorchModelHandlerTensor):
    def load_model(self):
        if self._device.type == "cuda" and not cuda_usable():
            raise RuntimeError(GPU_UNAVAILABLE)
        model = super().load_model()
        model.eval()
        return model


class PretrainedHandler(StrictDeviceHandler):
    """A model of :data:`~mmfuse.transforms.features.pretrained.PRETRAINED`: its weights file is
    looked up in the worker's installed package when the model loads (the path on the machine
    that submitted the job means nothing on a worker) and must hash to what the job recorded."""

    def __init__(self, name: str, expected_sha256: Optional[str], **common):
        model = pretrained(name)
        super().__init__(
            state_dict_path=f"pretrained:{name}",
            model_class=model.build,
            model_params={},
            load_model_args={"weights_only": True},
            **common,
        )
        self._pretrained_name, self._expected_sha256 = name, expected_sha256

    def load_model(self):
        model = pretrained(self._pretrained_name)
        model.check_installed()
        path = model.weights_path()
        if self._expected_sha256 and file_sha256(path) != self._expected_sha256:
            raise RuntimeError(
                f"the {self._pretrained_name} weights on this worker ({path}, packages {model.versions()}) differ "
                "from those of the machine that submitted the job: install the same mmfuse[pretrained] versions on both"
            )
        self._state_dict_path = path
        return super().load_model()


# ---- inference functions -------------------------------------------------------------------


def _flatten(out):
    """(B, D) from whatever a model returns: a tensor, a (B, T, D) sequence (last step), a tuple."""
    if isinstance(out, (tuple, list)):
        out = out[0]
    if out.dim() == 3:
        out = out[:, -1]
    return out.reshape(out.shape[0], -1)


def _padded(batch: Sequence[Any], pad_to: int):
    """The batch stacked and padded with zeros to ``pad_to`` rows: every call then has one
    shape, so a row's result never depends on which other rows shared its batch (BLAS picks
    kernels by shape), and features are reproducible bit for bit."""
    torch = torch_module()
    x = torch.stack(list(batch))
    if len(batch) < pad_to:
        x = torch.cat([x, x.new_zeros((pad_to - len(batch),) + tuple(x.shape[1:]))])
    return x


def image_inference_fn(normalize: Optional[tuple], pad_to: int):
    """uint8 (3, H, W) tensors in, features out: scaling to [0, 1] and ``(x - mean) / std``
    (``normalize`` = (mean, std) per RGB channel, or None) run on the device.

    The batch is laid out channels-last (NHWC in memory, still indexed NCHW): oneDNN's CPU
    convolutions and cuDNN both run faster on it, and the scaling keeps the layout
    (EfficientNet-Lite0 on 2 CPU threads: 38 frames/s instead of 23 in batches of 32; features
    differ from the NCHW ones by float rounding, about 1e-5). A model that fails on it (one
    that reshapes a feature map with ``.view``, which needs NCHW memory) is given the batch in
    NCHW instead, and from then on every batch."""
    channels_last = True  # per handler, so per worker process: cleared once a model refuses the layout

    def fn(
        batch: Sequence[Any], model, device, inference_args: Optional[dict] = None, model_id: Optional[str] = None
    ) -> Iterable[PredictionResult]:
        nonlocal channels_last
        torch = torch_module()
        with torch.no_grad():
            x = _padded(batch, pad_to)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            x = x.to(device, non_blocking=True).float().div_(255.0)
            if normalize:
                mean = torch.tensor(normalize[0], device=x.device).view(1, 3, 1, 1)
                std = torch.tensor(normalize[1], device=x.device).view(1, 3, 1, 1)
                x = (x - mean) / std
            try:
                y = model(x, **(inference_args or {}))
            except RuntimeError:
                if not channels_last:
                    raise
                y = model(x.contiguous(), **(inference_args or {}))  # raises the model's own error if NCHW fails too
                channels_last = False
            out = _flatten(y)[: len(batch)].float().cpu().numpy()
        return [PredictionResult(example, row, model_id) for example, row in zip(batch, out)]

    return fn


def sequence_inference_fn(pad_to: int):
    """float (T, n_mels) tensors in, one vector per sequence out."""

    def fn(
        batch: Sequence[Any], model, device, inference_args: Optional[dict] = None, model_id: Optional[str] = None
    ) -> Iterable[PredictionResult]:
        torch = torch_module()
        with torch.no_grad():
            x = _padded(batch, pad_to).to(device, non_blocking=True).float()
            out = _flatten(model(x, **(inference_args or {})))[: len(batch)].float().cpu().numpy()
        return [PredictionResult(example, row, model_id) for example, row in zip(batch, out)]

    return fn


# ---- the model handler -----------------------------------------------------------------------


def make_handler(
    model_path: str,
    arch: Optional[str],
    device: str,
    batch_size: int,
    kind: str,
    normalize: Optional[tuple] = (IMAGENET_MEAN, IMAGENET_STD),
    arch_params: Optional[dict] = None,
    model_copies: Optional[int] = None,
    pretrained_name: Optional[str] = None,
    expected_sha256: Optional[str] = None,
):
    """A PyTorch model handler for ``kind`` ``"image"`` (uint8 (3, H, W) tensors) or
    ``"sequence"`` (float (T, F) tensors); wrap it in ``KeyedModelHandler`` for keyed input.
    ``pretrained_name`` picks a model of mmfuse[pretrained] instead of ``model_path``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size} (FeatureSettings.model_batch resolves 0)")
    common = dict(
        device="GPU" if device == "cuda" else "CPU",
        inference_fn=image_inference_fn(normalize, batch_size) if kind == "image" else sequence_inference_fn(batch_size),
        # full batches (bundle ends excepted): a GPU is fed as much as it is asked to take
        min_batch_size=batch_size,
        max_batch_size=batch_size,
        model_copies=model_copies,
    )
    if pretrained_name:
        return PretrainedHandler(pretrained_name, expected_sha256, **common)
    if arch:
        return StrictDeviceHandler(
            state_dict_path=model_path,
            model_class=architecture(arch),
            model_params=arch_params or {},
            load_model_args={"weights_only": True},
            **common,
        )
    return StrictDeviceHandler(torch_script_model_path=model_path, **common)
