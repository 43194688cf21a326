"""Where models run: PyTorch, and whether a CUDA GPU is really usable here."""

from __future__ import annotations

__all__ = ["GPU_UNAVAILABLE", "check_local_device", "cuda_usable", "torch_module"]

GPU_UNAVAILABLE = (
    "--device cuda was requested but no usable CUDA GPU is visible to PyTorch here "
    "(torch.cuda.is_available() is False). Run on a machine or worker with a GPU and a CUDA "
    "build of torch, or pass --device cpu."
)


def torch_module():
    try:
        import torch
    except ImportError as err:
        raise ImportError("CNN/RNN features need PyTorch: pip install 'mmfuse[cnn]'") from err
    return torch


def cuda_usable() -> bool:
    torch = torch_module()
    if not torch.cuda.is_available():
        return False
    try:
        torch.zeros(1, device="cuda")
        return True
    except RuntimeError:
        return False


def check_local_device(device: str) -> None:
    """Raise at job start when a local run asks for a GPU it does not have."""
    if device == "cuda" and not cuda_usable():
        raise RuntimeError(GPU_UNAVAILABLE)
