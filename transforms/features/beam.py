"""Stage features as Beam steps. Learned features: frames through a CNN and windows' log-mel frames through an RNN (Beam's
RunInference, batched, one model per worker process), transcripts through MiniLM."""

from __future__ import annotations

from typing import Iterator, Optional

import apache_beam as beam
import numpy as np

from mmfuse.schemas.records import AudioWindow, FrameRecord
from mmfuse.settings import FeatureSettings
from mmfuse.transforms.counters import JobCounter
from mmfuse.transforms.deadletter import ERRORS, error_record
from mmfuse.transforms.features.minilm import MINILM_DIM

__all__ = ["EmbedAudioWindows", "EmbedFrames", "EmbedTranscripts", "MINILM_DIM"]


def _to_tensor(element):
    import torch

    key, array = element
    return key, torch.from_numpy(np.ascontiguousarray(array))


class _RunModel(beam.PTransform):
    def __init__(
        self,
        features: FeatureSettings,
        path: Optional[str],
        arch: Optional[str],
        kind: str,
        arch_params: Optional[dict] = None,
        normalize: Optional[tuple] = None,
        pretrained_name: Optional[str] = None,
        expected_sha256: Optional[str] = None,
    ):
        super().__init__()
        self.features, self.path, self.arch, self.kind, self.arch_params = features, path, arch, kind, arch_params
        self.normalize, self.pretrained_name, self.expected_sha256 = normalize, pretrained_name, expected_sha256

    def expand(self, keyed):
        from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

        from mmfuse.transforms.features.handler import make_handler

        handler = make_handler(
            self.path,
            self.arch,
            self.features.device,
            self.features.model_batch(self.kind),
            self.kind,
            normalize=self.normalize,
            arch_params=self.arch_params,
            model_copies=self.features.model_copies,
            pretrained_name=self.pretrained_name,
            expected_sha256=self.expected_sha256,
        )
        main, failed = (
            keyed
            | "ToTensor" >> beam.Map(_to_tensor)
            | "RunInference" >> RunInference(KeyedModelHandler(handler)).with_exception_handling()
        )
        errors = failed.failed_inferences | "FailedBatches" >> beam.FlatMap(_failed_batch, f"model_{self.kind}")
        return {"results": main, "errors": errors}


def _failed_batch(failed, stage: str) -> Iterator:
    """One error record per item of a batch RunInference could not run (its rows go on
    without the model's features)."""
    batch, err = failed
    for media_id in sorted({key[0] for key, _ in batch}):
        yield error_record(media_id, None, stage, err if isinstance(err, BaseException) else RuntimeError(str(err)))


def _frame_record(key, result) -> FrameRecord:
    return FrameRecord(key[0], key[1], np.asarray(result.inference, np.float32))


def _audio_window(key, result) -> AudioWindow:
    return AudioWindow(key[0], key[1], np.asarray(result.inference, np.float32))


class EmbedFrames(beam.PTransform):
    """((media_id, pts_us), uint8 (3, S, S)) → ``{"frames": FrameRecords with the CNN's output,
    "errors": dead letters of batches that failed}``. ``weights_sha256``: the hash of a
    pretrained model's weights recorded at submission (workers check theirs against it)."""

    def __init__(self, features: FeatureSettings, weights_sha256: Optional[str] = None):
        super().__init__()
        self.features, self.weights_sha256 = features, weights_sha256

    def expand(self, frames):
        from mmfuse.transforms.features.pretrained import PRETRAINED

        cfg = self.features
        if cfg.visual in PRETRAINED:
            model = PRETRAINED[cfg.visual]
            run = frames | "CNN" >> _RunModel(
                cfg, None, None, "image", None, (model.mean, model.std), model.name, self.weights_sha256
            )
        else:
            from mmfuse.transforms.features.handler import IMAGENET_MEAN, IMAGENET_STD

            params = {"out_dim": 128} if cfg.visual_arch == "small_cnn" else None
            normalize = (IMAGENET_MEAN, IMAGENET_STD) if cfg.visual_normalize == "imagenet" else None
            run = frames | "CNN" >> _RunModel(cfg, cfg.visual_model, cfg.visual_arch, "image", params, normalize)
        return {"frames": run["results"] | "FrameFeatures" >> beam.MapTuple(_frame_record), "errors": run["errors"]}


class EmbedAudioWindows(beam.PTransform):
    """((media_id, window_index), float (T, n_mels)) → ``{"audio": AudioWindows with the RNN's
    output, "errors": dead letters of batches that failed}``."""

    def __init__(self, features: FeatureSettings):
        super().__init__()
        self.features = features

    def expand(self, windows):
        cfg = self.features
        params = {"n_mels": cfg.n_mels} if cfg.audio_arch == "small_gru" else None
        run = windows | "RNN" >> _RunModel(cfg, cfg.audio_model, cfg.audio_arch, "sequence", params)
        return {"audio": run["results"] | "AudioFeatures" >> beam.MapTuple(_audio_window), "errors": run["errors"]}


class _MiniLMFn(beam.DoFn):
    """Embeds the transcripts of a batch of window rows with one shared MiniLM per process."""

    def __init__(self, device: str):
        from apache_beam.utils import shared

        self.device = device
        self.embedded = JobCounter("transcripts_embedded")
        # Made here, at graph construction (it is a light handle): every copy of this DoFn that
        # a worker process unpickles shares the handle's key, so all its threads share one
        # model. A handle made in setup() would be one per DoFn instance: one model per thread.
        self._handle = shared.Shared()

    def setup(self):
        self.model = self._handle.acquire(self._load, tag=f"minilm-{self.device}")

    def _load(self):
        from mmfuse.transforms.features.minilm import load_minilm

        class Holder:  # Shared needs a weak-referenceable object
            pass

        holder = Holder()
        holder.model = load_minilm(self.device)
        return holder

    def process(self, rows: list) -> Iterator[dict]:
        texts = [r["transcript"] for r in rows if r.get("transcript")]
        try:
            vectors = iter(self.model.model.encode(texts, batch_size=len(texts), convert_to_numpy=True)) if texts else iter(())
        except Exception as err:  # dead letter: the batch's rows go on without text vectors
            for media_id in sorted({r["media_id"] for r in rows}):
                yield beam.pvalue.TaggedOutput(ERRORS, error_record(media_id, None, "minilm", err))
            yield from rows
            return
        for r in rows:
            if r.get("transcript"):
                r = {**r, "text": np.asarray(next(vectors), np.float32)}
                self.embedded.inc()
            yield r


class EmbedTranscripts(beam.PTransform):
    """Window rows → ``{"rows": the same rows with ``text`` = MiniLM embedding of
    ``transcript``, "errors": dead letters of batches that failed}``."""

    def __init__(self, features: FeatureSettings):
        super().__init__()
        self.features = features

    def expand(self, rows):
        out = (
            rows
            | "BatchRows" >> beam.BatchElements(min_batch_size=1, max_batch_size=self.features.batch_size or 32)
            | "MiniLM" >> beam.ParDo(_MiniLMFn(self.features.device)).with_outputs(ERRORS, main="rows")
        )
        return {"rows": out.rows, "errors": out[ERRORS]}
