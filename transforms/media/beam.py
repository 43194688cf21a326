"""Stage media as Beam steps: probe each item and plan its chunks (PlanItems), then decode the
tasks into per-frame visual features and per-window audio features (DecodeTasks).

An item that cannot be used at all goes to the dead letter and to the media table as
``failed``; a transcript that cannot be read is an error of its own while the item goes on
without text. Extractors are built in ``setup()`` on the worker. A task that fails part way
keeps what it produced, reports the failure, and sends a dead letter; the job goes on.
"""

from __future__ import annotations

import logging
from concurrent.futures.process import BrokenProcessPool
from typing import Iterator, Optional

import apache_beam as beam
import numpy as np

from mmfuse.clock import WindowGrid
from mmfuse.errors import DecodeError, DecoderCrashed, DecodeTimeout, MediaError
from mmfuse.faults import fault
from mmfuse.schemas.records import AudioWindow, ChunkReport, DecodeTask, ErrorRecord, FrameRecord, ItemPlan, MediaInfo, MediaItem
from mmfuse.settings import DecodeSettings, FeatureSettings
from mmfuse.transforms.align.shots import CutDetector
from mmfuse.transforms.counters import JobCounter
from mmfuse.transforms.deadletter import ERRORS, FAILED, error_record, failed_media_row
from mmfuse.transforms.features import make_audio_extractor, make_visual_extractor
from mmfuse.transforms.features.visual import analysis_size
from mmfuse.transforms.media.audio import AudioDecodeStats, iter_audio_blocks, iter_window_audio
from mmfuse.transforms.media.plan import decode_tasks, plan_chunks
from mmfuse.transforms.media.probe import probe_media
from mmfuse.transforms.media.video import VideoDecodeStats, iter_sampled_frames
from mmfuse.transforms.text.cues import clamp_cues
from mmfuse.transforms.text.transcripts import TEXT_SUBTITLE_CODECS, load_transcript_uri

__all__ = ["AUDIO", "CUTS", "DecodeTasks", "FRAMES", "PlanItems", "REPORTS"]
# Shot detection looks at the frames this long before a chunk (for its history of changes) and
# after it (to confirm a cut near the end).
_SHOT_PREROLL_US = 1_000_000
_SHOT_POSTROLL_US = 500_000

FRAMES = "frames"
CUTS = "cuts"
AUDIO = "audio"
REPORTS = "reports"
LOST = "lost"  # tasks Beam gave up on: past --task_timeout, or their subprocess died
_LOG = logging.getLogger(__name__)


class _PlanItemFn(beam.DoFn):
    def __init__(self, decode: DecodeSettings, grid: WindowGrid):
        self.decode, self.grid = decode, grid
        self.probed = JobCounter("items_probed")
        self.failed = JobCounter("items_failed")

    def _embedded_source(self, info: MediaInfo) -> Optional[str]:
        """The video itself when it carries a text subtitle stream and no transcript is given."""
        if not info.item.video_uri:
            return None
        text = [s for s in info.other_streams if s.kind == "subtitle" and s.codec in TEXT_SUBTITLE_CODECS]
        return info.item.video_uri if text or self.decode.subtitle_stream is not None else None

    def process(self, item: MediaItem) -> Iterator:
        try:
            info = probe_media(item, self.decode.video_stream, self.decode.audio_stream, self.decode.max_pixels)
        except Exception as err:  # every per-item failure goes to the dead letter
            if not isinstance(err, MediaError):
                _LOG.exception("probing %s failed unexpectedly", item.uri)
            self.failed.inc()
            yield beam.pvalue.TaggedOutput(ERRORS, error_record(item.media_id, item.uri, "probe", err))
            yield beam.pvalue.TaggedOutput(FAILED, failed_media_row(item))
            return
        self.probed.inc()
        cues, fmt, clamped, timed, warnings = (), None, 0, True, list(info.warnings)
        source = item.transcript_uri or self._embedded_source(info)
        if source:
            try:
                transcript = load_transcript_uri(source, self.decode.subtitle_stream, self.decode.max_transcript_bytes)
                fmt, timed = transcript.format, transcript.timed
                cues, clamped = clamp_cues(transcript.cues, info.duration_us, transcript.timed)
                warnings.extend(transcript.warnings)  # cues reaching outside the media are counted, not warned of
            except Exception as err:
                record = error_record(item.media_id, source, "transcript", err)
                warnings.append(f"transcript not used: {record.message}")
                yield beam.pvalue.TaggedOutput(ERRORS, record)
        yield ItemPlan(
            info=info,
            chunks=plan_chunks(item.media_id, info.duration_us, self.decode.chunk_us),
            n_windows=self.grid.count(info.duration_us or 0),
            cues=cues,
            transcript_format=fmt,
            n_cues_clamped=clamped,
            warnings=tuple(warnings),
            timed=timed,
        )


class PlanItems(beam.PTransform):
    """Items → ``{"plans", "tasks", "errors", "failed"}``: probed items, their decode tasks
    (shuffled so chunks of one long item spread over workers), dead letters, failed rows."""

    def __init__(self, decode: DecodeSettings, grid: WindowGrid):
        super().__init__()
        self.decode, self.grid = decode, grid

    def expand(self, items):
        out = items | "Probe" >> beam.ParDo(_PlanItemFn(self.decode, self.grid)).with_outputs(ERRORS, FAILED, main="plans")
        # Each kind of task is shuffled on its own. A local runner deals the shuffled elements
        # to its workers round-robin in the order they arrive; through one shuffle an item's
        # video and audio tasks alternate, so with two workers one got every video chunk (the
        # costly part) and the other every audio track.
        kinds = [
            out.plans
            | f"Split{kind.title()}Tasks" >> beam.FlatMap(decode_tasks, kind)
            | f"Spread{kind.title()}Tasks" >> beam.Reshuffle()
            for kind in ("video", "audio")
        ]
        tasks = kinds | "Tasks" >> beam.Flatten()
        return {"plans": out.plans, "tasks": tasks, ERRORS: out[ERRORS], FAILED: out[FAILED]}


class _DecodeFn(beam.DoFn):
    def __init__(self, decode: DecodeSettings, features: FeatureSettings, grid: WindowGrid, shots: bool):
        self.decode, self.features, self.grid, self.shots = decode, features, grid, shots
        self.chunks = JobCounter("video_chunks")
        self.audio_tracks = JobCounter("audio_tracks")
        self.frames = JobCounter("frames")
        self.audio_windows = JobCounter("audio_windows")
        self.failures = JobCounter("decode_failures")

    def setup(self):
        if not self.features.learned_visual:
            self.visual = make_visual_extractor(self.features.visual)
        base_audio = "logmel" if self.features.audio == "rnn" else self.features.audio
        self.audio = make_audio_extractor(base_audio, n_mels=self.features.n_mels)
        window_samples = self.grid.window_us * 16000 // 1_000_000
        self.sequence_frames = max(1, 1 + (window_samples - 400) // 160)

    def _padded_log_mel(self, samples) -> np.ndarray:
        """(frames of a full window, n_mels) log-mel dB; a short last window is padded with
        the silence floor so every sequence in a batch has one shape."""
        mel = self.audio.log_mel(samples)[: self.sequence_frames]
        if len(mel) < self.sequence_frames:
            pad = np.full((self.sequence_frames - len(mel), mel.shape[1]), -100.0, np.float32)
            mel = np.concatenate([mel, pad])
        return mel.astype(np.float32)

    def process(self, task: DecodeTask) -> Iterator:
        fault(f"decode:{task.media_id}")
        if task.kind == "video":
            yield from self._video(task)
        else:
            yield from self._audio(task)

    def _fail(self, task: DecodeTask, uri: str, stage: str, err: Exception):
        if not isinstance(err, MediaError):
            _LOG.exception("%s of %s failed unexpectedly", stage, uri)
        self.failures.inc()
        return beam.pvalue.TaggedOutput(ERRORS, error_record(task.media_id, uri, stage, err))

    def _converter(self, info):
        """Pixels of a kept frame as the visual extractor wants them, scaled by swscale."""
        if self.features.learned_visual:
            size = self.features.visual_input_size

            def to_model_input(frame):
                scale = size / min(frame.width, frame.height)
                w, h = max(size, round(frame.width * scale)), max(size, round(frame.height * scale))
                rgb = frame.to_ndarray(width=w, height=h, format="rgb24", interpolation="AREA")
                top, left = (h - size) // 2, (w - size) // 2
                return np.ascontiguousarray(rgb[top : top + size, left : left + size].transpose(2, 0, 1))

            return to_model_input
        width, height = analysis_size(info.video.width or 2, info.video.height or 2)
        return lambda frame: frame.to_ndarray(width=width, height=height, format="bgr24", interpolation="AREA")

    def _video(self, task: DecodeTask) -> Iterator:
        info, chunk = task.info, task.chunk
        uri = info.item.video_uri
        convert = self._converter(info)
        learned = self.features.learned_visual

        stats = VideoDecodeStats()
        failed = False
        self.chunks.inc()
        detector = CutDetector() if self.shots else None
        shot_args = dict(watch=detector.feed, preroll_us=_SHOT_PREROLL_US, postroll_us=_SHOT_POSTROLL_US) if detector else {}
        try:
            for sampled in iter_sampled_frames(
                uri,
                info.video.index,
                info.video_origin_us,
                chunk,
                self.decode.fps,
                convert,
                stats,
                threads=self.decode.decode_threads,
                limit_us=info.time_limit_us,
                **shot_args,
            ):
                if learned:  # pixels go on to the model (RunInference), keyed by frame
                    yield (task.media_id, sampled.pts_us), sampled.image
                else:
                    yield FrameRecord(task.media_id, sampled.pts_us, self.visual(sampled.image))
        except Exception as err:
            failed = True
            yield self._fail(task, uri, "decode_video", err)
        self.frames.inc(stats.kept)
        if detector is not None:
            cuts = [t for t in detector.finish() if chunk.contains(t)]
            yield beam.pvalue.TaggedOutput(CUTS, (task.media_id, cuts))
        warnings = stats.warnings()
        # where the stream stops: its last packet's end (the last decoded frame depends on sampling)
        end_us = max(t for t in (stats.end_us, stats.packet_end_us) if t is not None) if stats.decoded else None
        yield beam.pvalue.TaggedOutput(
            REPORTS,
            ChunkReport(task.media_id, chunk.index, n_frames=stats.kept, warnings=warnings, video_end_us=end_us, failed=failed),
        )

    def _audio(self, task: DecodeTask) -> Iterator:
        info = task.info
        uri = info.audio_uri
        stats = AudioDecodeStats()
        failed = False
        n = 0
        self.audio_tracks.inc()
        try:
            blocks = iter_audio_blocks(
                uri,
                info.audio.index,
                info.audio_origin_us,
                info.audio_t0,
                stats=stats,
                capture_errors=self.decode.captures_errors,
                limit_us=info.time_limit_us,
            )
            learned = self.features.audio == "rnn"
            for index, samples in iter_window_audio(blocks, self.grid, info.audio_t0):
                if len(samples) < self.audio.min_samples:
                    continue
                n += 1
                if learned:  # the window's log-mel frames go on to the model, padded to full length
                    yield beam.pvalue.TaggedOutput(AUDIO, ((task.media_id, index), self._padded_log_mel(samples)))
                else:
                    yield beam.pvalue.TaggedOutput(AUDIO, AudioWindow(task.media_id, index, self.audio(samples)))
        except Exception as err:
            failed = True
            yield self._fail(task, uri, "decode_audio", err)
        self.audio_windows.inc(n)
        yield beam.pvalue.TaggedOutput(
            REPORTS,
            ChunkReport(
                task.media_id, -1, n_audio_windows=n, warnings=tuple(stats.warnings), audio_end_us=stats.end_us, failed=failed
            ),
        )


class DecodeTasks(beam.PTransform):
    """Tasks → ``{"frames", "audio", "reports", "errors", "cuts"}``."""

    def __init__(self, decode: DecodeSettings, features: FeatureSettings, grid: WindowGrid, shots: bool = False):
        super().__init__()
        self.decode, self.features, self.grid, self.shots = decode, features, grid, shots

    def expand(self, tasks):
        timeout = self.decode.task_timeout or None
        if not (timeout or self.decode.isolate_decode):
            decode = beam.ParDo(_DecodeFn(self.decode, self.features, self.grid, self.shots))
            out = tasks | "Decode" >> decode.with_outputs(AUDIO, REPORTS, ERRORS, CUTS, main=FRAMES)
            return {FRAMES: out[FRAMES], AUDIO: out[AUDIO], REPORTS: out[REPORTS], ERRORS: out[ERRORS], CUTS: out[CUTS]}
        # Beam runs each task in a thread (or a subprocess) it can give up on; a task that
        # overruns or kills its subprocess comes back on LOST with the exception's type. Its
        # wrapper passes on one output, so the outputs travel as (tag, value) pairs through it.
        tagged = beam.ParDo(_TaggedFn(_DecodeFn(self.decode, self.features, self.grid, self.shots)))
        guarded = tasks | "Decode" >> tagged.with_exception_handling(
            main_tag="decoded", dead_letter_tag=LOST, use_subprocess=self.decode.isolate_decode, timeout=timeout
        )
        out = guarded["decoded"] | "Untag" >> beam.ParDo(_UntagFn()).with_outputs(AUDIO, REPORTS, ERRORS, CUTS, main=FRAMES)
        lost = guarded[LOST] | "LostTasks" >> beam.FlatMap(_lost_task, timeout)
        errors = (out[ERRORS], lost | "LostErrors" >> beam.Filter(lambda x: isinstance(x, ErrorRecord)))
        reports = (out[REPORTS], lost | "LostReports" >> beam.Filter(lambda x: isinstance(x, ChunkReport)))
        return {
            FRAMES: out[FRAMES],
            AUDIO: out[AUDIO],
            REPORTS: reports | "AllReports" >> beam.Flatten(),
            ERRORS: errors | "AllDecodeErrors" >> beam.Flatten(),
            CUTS: out[CUTS],
        }


class _TaggedFn(beam.DoFn):
    """A DoFn's outputs as ``(tag, value)`` pairs on the main output."""

    def __init__(self, fn: beam.DoFn):
        self.fn = fn

    def setup(self):
        self.fn.setup()

    def process(self, element) -> Iterator:
        for out in self.fn.process(element):
            yield (out.tag, out.value) if isinstance(out, beam.pvalue.TaggedOutput) else (FRAMES, out)


class _UntagFn(beam.DoFn):
    def process(self, pair) -> Iterator:
        tag, value = pair
        yield value if tag == FRAMES else beam.pvalue.TaggedOutput(tag, value)


def _lost_task(lost, timeout: Optional[float]) -> Iterator:
    """The error record and failed report of a task Beam gave up on."""
    task, (exc_type, text, _trace) = lost
    uri = task.info.item.video_uri if task.kind == "video" else task.info.audio_uri
    what = "video chunk" if task.kind == "video" else "audio"
    if issubclass(exc_type, TimeoutError):
        err: Exception = DecodeTimeout(f"{uri}: decoding its {what} took over --task_timeout {timeout:g} s")
    elif issubclass(exc_type, BrokenProcessPool):
        err = DecoderCrashed(f"{uri}: the subprocess decoding its {what} died (a crash in the decoder)")
    else:
        err = DecodeError(f"{uri}: decoding its {what} failed: {text}")
    yield error_record(task.media_id, uri, f"decode_{task.kind}", err)
    index = task.chunk.index if task.kind == "video" else -1
    yield ChunkReport(task.media_id, index, failed=True)
