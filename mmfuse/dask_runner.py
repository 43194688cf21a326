"""``--runner DaskRunner``: the whole job on a dask.distributed cluster.

Beam 2.77 ships a ``DaskRunner`` (``apache_beam.runners.dask``), but it cannot run this job:

* it is not one of Beam's runner names (``--runner DaskRunner`` is refused; only its full
  class path is accepted);
* a ``ParDo`` with tagged outputs sends every output to every consumer (the tags are mixed);
* elements a DoFn emits from ``finish_bundle`` are dropped (``BatchElements``, RunInference);
* only the branch that ends in the last applied transform is computed: a job with several
  sinks (tables, run summary) writes one of them;
* ``Impulse``, and so ``Create`` and ``ReadFromText`` as Beam expands them, becomes nothing
  (the job fails before it starts), ``Reshuffle`` moves nothing, a side input is computed
  inside a worker's task, and ``metrics()`` raises ``NotImplementedError``.

This runner keeps Beam's ``DaskOptions`` (``--dask_client_address`` and the rest) and
translates the job's primitives itself: ``Impulse``, ``ParDo`` (run by Beam's own
``DoFnRunner``: side inputs, tagged outputs, ``finish_bundle``, setup/teardown), ``GroupByKey``
(keys compared by their deterministic encoding, spread over partitions by a hash of it),
``Flatten``, and the composites ``Read`` (a bounded source, split into bundles) and
``Reshuffle`` (elements dealt round-robin over partitions). Each Beam step becomes one Dask task
per partition, named after the step. Counters and distributions are collected per task and
returned by ``result.metrics()``.

What it does not do: windows other than the global window, stateful DoFns and timers,
splittable DoFns other than a bounded ``Read``, and unbounded (streaming) sources; each is
refused when the job is built, naming the step.
"""

from __future__ import annotations

import logging
import math
import re
import zlib
from collections import defaultdict
from typing import Any, Optional

from apache_beam import pvalue
from apache_beam.coders import coders, typecoders
from apache_beam.internal import pickler
from apache_beam.io import iobase
from apache_beam.metrics.execution import MetricKey, MetricResult
from apache_beam.metrics.metric import MetricResults
from apache_beam.pipeline import PipelineVisitor
from apache_beam.runners.common import DoFnRunner, DoFnSignature, DoFnState, Receiver
from apache_beam.runners.dask.dask_runner import DaskOptions
from apache_beam.runners.dask.dask_runner import DaskRunner as _BeamDaskRunner
from apache_beam.runners.runner import PipelineResult, PipelineState
from apache_beam.transforms import core, util
from apache_beam.transforms.sideinputs import SideInputMap
from apache_beam.transforms.window import GlobalWindow, GlobalWindows, TimestampedValue
from apache_beam.utils import counters
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

__all__ = ["DaskOptions", "DaskPipelineResult", "DaskRunner"]

_LOG = logging.getLogger(__name__)
_METRICS = "\0metrics"  # the tag under which a ParDo task returns its metric updates
_GLOBAL = (GlobalWindow(),)


def _key_name(label: str) -> str:
    """A Beam step label as a Dask key prefix (the dashboard splits keys at '-')."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", label).strip("_") or "step"


# ---- what runs on the workers -------------------------------------------------------------


class _Receiver(Receiver):
    def __init__(self, tag, out: list):
        self.tag, self.out = tag, out

    def receive(self, windowed_value):
        self.out.append((self.tag, windowed_value))


class _Receivers(dict):
    """Every output tag of a DoFn, collected into one list of (tag, windowed value)."""

    def __init__(self):
        super().__init__()
        self.out: list = []

    def __missing__(self, tag):
        receiver = self[tag] = _Receiver(tag, self.out)
        return receiver


def _run_pardo(elements, payload: bytes, step: str, *side_values):
    """One bundle of a ParDo: Beam's DoFnRunner over one partition, metrics collected."""
    from apache_beam.metrics.execution import MetricsContainer
    from apache_beam.runners.worker import statesampler

    fn, args, kwargs, windowing, views = pickler.loads(payload)
    side_inputs = [SideInputMap(view, options, values) for (view, options), values in zip(views, side_values)]
    receivers = _Receivers()
    container = MetricsContainer(step)
    sampler = statesampler.StateSampler("dask", counters.CounterFactory())
    state = sampler.scoped_state(step, "process", metrics_container=container)
    sampler.start()
    try:
        with state:
            runner = DoFnRunner(
                fn,
                args,
                kwargs,
                side_inputs,
                windowing,
                tagged_receivers=receivers,
                step_name=step,
                state=DoFnState(counters.CounterFactory()),
            )
            runner.setup()
            runner.start()
            for element in elements:
                runner.process(element)
            runner.finish()
            runner.teardown()
    finally:
        sampler.stop()
    return [*receivers.out, (_METRICS, container.get_cumulative())]


def _select(pairs, tag):
    return [value for t, value in pairs if t == tag]


def _concat_parts(*parts):
    return [x for part in parts for x in part]


def _count(partition):
    return [sum(1 for _ in partition)]


def _impulse(_):
    return [GlobalWindows.windowed_value(b"")]


def _empty(_):
    return []


def _read_bundles(bundles):
    out = []
    for blob in bundles:
        bundle = pickler.loads(blob)
        tracker = bundle.source.get_range_tracker(bundle.start_position, bundle.stop_position)
        for value in bundle.source.read(tracker):
            if isinstance(value, WindowedValue):
                out.append(value)
            elif isinstance(value, TimestampedValue):
                out.append(WindowedValue(value.value, value.timestamp, _GLOBAL))
            else:
                out.append(WindowedValue(value, MIN_TIMESTAMP, _GLOBAL))
    return out


def _split_by_key(partition, n: int, key_coder) -> list:
    """A GroupByKey's input partition as ``n`` lists of (encoded key, key, value)."""
    out = [[] for _ in range(n)]
    for wv in partition:
        key, value = wv.value
        encoded = key_coder.encode(key)
        out[zlib.crc32(encoded) % n].append((encoded, key, value))
    return out


def _split_round_robin(partition, n: int) -> list:
    out = [[] for _ in range(n)]
    for i, wv in enumerate(partition):
        out[i % n].append(wv)
    return out


def _group(j: int, *splits):
    groups: dict = {}
    for split in splits:
        for encoded, key, value in split[j]:
            groups.setdefault(encoded, (key, []))[1].append(value)
    end = GlobalWindow().max_timestamp()
    return [WindowedValue((key, values), end, _GLOBAL) for key, values in groups.values()]


def _gather(j: int, *splits):
    return [wv for split in splits for wv in split[j]]


# ---- translation --------------------------------------------------------------------------


class _Translator(PipelineVisitor):
    """Each PCollection of the job as a Dask bag of WindowedValues, in the global window."""

    def __init__(self, n_partitions: int):
        self.n = n_partitions
        self.bags: dict = {}  # PCollection -> Bag
        self.consumed: set = set()
        self.metrics: list = []  # Bags of MetricUpdates, one per ParDo
        self._skip = 0  # depth inside a composite translated whole

    # composites translated whole: their parts are not visited
    def enter_composite_transform(self, node):
        if self._skip:
            self._skip += 1
        elif isinstance(node.transform, iobase.Read):
            self._read(node)
            self._skip = 1
        elif isinstance(node.transform, util.Reshuffle):
            self._reshuffle(node)
            self._skip = 1

    def leave_composite_transform(self, node):
        if self._skip:
            self._skip -= 1

    def visit_transform(self, node):
        if self._skip:
            return
        t = node.transform
        if isinstance(t, core.Impulse):
            import dask.bag as db

            self._out(node, db.from_sequence([None], npartitions=1).map_partitions(_impulse, token=_key_name(node.full_label)))
        elif isinstance(t, core.ParDo):
            self._pardo(node)
        elif isinstance(t, core.GroupByKey):
            self._gbk(node)
        elif isinstance(t, core.Flatten):
            self._flatten(node)
        else:
            raise NotImplementedError(f"the DaskRunner cannot run {node.full_label} ({type(t).__name__})")

    # helpers
    def _in(self, node):
        pcoll = node.inputs[0]
        self.consumed.add(pcoll)
        return self.bags[pcoll]

    def _out(self, node, bag, tag=None):
        pcoll = node.outputs[tag]
        if not pcoll.is_bounded:
            raise NotImplementedError(f"the DaskRunner runs bounded jobs only: {node.full_label} is unbounded")
        windowfn = pcoll.windowing.windowfn
        if not isinstance(windowfn, GlobalWindows):
            raise NotImplementedError(f"the DaskRunner keeps the global window only: {node.full_label} uses {windowfn}")
        self.bags[pcoll] = bag

    def _read(self, node):
        import dask.bag as db

        source = node.transform.source
        if not isinstance(source, iobase.BoundedSource):
            raise NotImplementedError(f"the DaskRunner reads bounded sources only: {node.full_label}")
        try:
            size = source.estimate_size() or 0
        except Exception:  # a source that cannot tell: one bundle per split it offers
            size = 0
        bundles = [pickler.dumps(b) for b in source.split(max(1 << 16, math.ceil(size / self.n)))]
        bag = db.from_sequence(bundles, npartitions=max(1, len(bundles))) if bundles else db.from_sequence([None], npartitions=1)
        self._out(node, bag.map_partitions(_read_bundles if bundles else _empty, token=_key_name(node.full_label)))

    def _shuffle(self, bag, name: str, split, args: tuple, merge):
        """``n`` new partitions, output j merging part j of every input partition's split."""
        import dask
        import dask.bag as db
        from dask.base import tokenize

        token = tokenize(bag.name, args, name)
        parts = bag.to_delayed(optimize_graph=False)
        splits = [dask.delayed(split)(p, self.n, *args, dask_key_name=f"{name}_split-{token}-{i}") for i, p in enumerate(parts)]
        outs = [dask.delayed(merge)(j, *splits, dask_key_name=f"{name}-{token}-{j}") for j in range(self.n)]
        return db.from_delayed(outs)

    @staticmethod
    def _whole(bag, name: str):
        """All of ``bag`` as one Delayed list, computed once for every task that reads it.
        (A Bag or an Item passed to a task is given a renamed copy of its graph by Dask, so
        everything upstream of it would run again.)"""
        import dask
        from dask.base import tokenize

        parts = bag.to_delayed(optimize_graph=False)
        return dask.delayed(_concat_parts, pure=True)(*parts, dask_key_name=f"{name}-{tokenize(bag.name)}")

    def _reshuffle(self, node):
        bag = self._in(node)
        self._out(node, self._shuffle(bag, _key_name(node.full_label), _split_round_robin, (), _gather))

    def _gbk(self, node):
        pcoll = node.inputs[0]
        try:
            key_coder = typecoders.registry.get_coder(pcoll.element_type).key_coder()
        except Exception:  # not typed as a KV
            key_coder = coders.FastPrimitivesCoder()
        key_coder = key_coder.as_deterministic_coder(node.full_label)
        bag = self._in(node)
        self._out(node, self._shuffle(bag, _key_name(node.full_label), _split_by_key, (key_coder,), _group))

    def _flatten(self, node):
        import dask.bag as db

        inputs = [p for p in node.inputs if isinstance(p, pvalue.PCollection)]
        self.consumed.update(inputs)
        if inputs:
            bag = db.concat([self.bags[p] for p in inputs])
        else:
            bag = db.from_sequence([None], npartitions=1).map_partitions(_empty)
        self._out(node, bag)

    def _pardo(self, node):
        t = node.transform
        signature = DoFnSignature(t.dofn)
        if signature.is_stateful_dofn():
            raise NotImplementedError(f"the DaskRunner has no state or timers: {node.full_label}")
        if signature.is_splittable_dofn():
            raise NotImplementedError(f"the DaskRunner runs no splittable DoFn other than a bounded Read: {node.full_label}")
        bag = self._in(node)
        sides = []
        for k, si in enumerate(node.side_inputs):
            self.consumed.add(si.pvalue)
            sides.append(self._whole(self.bags[si.pvalue], f"side_{_key_name(node.full_label)}_{k}"))
        views = [(type(si), si._view_options()) for si in node.side_inputs]
        args = getattr(t, "args", []) or []
        kwargs = getattr(t, "kwargs", {}) or {}
        payload = pickler.dumps((t.dofn, args, kwargs, node.inputs[0].windowing, views))
        name = _key_name(node.full_label)
        pairs = bag.map_partitions(_run_pardo, payload, node.full_label, *sides, token=name)
        for tag in node.outputs:
            self._out(node, pairs.map_partitions(_select, tag, token=f"{name}_{_key_name(tag or 'main')}"), tag)
        self.metrics.append(pairs.map_partitions(_select, _METRICS, token=f"{name}_metrics"))

    def targets(self) -> list:
        """What to compute: a count of every PCollection nothing reads (the job's sinks) and
        the metric updates of every ParDo; no data comes back to the client."""
        ends = [
            bag.map_partitions(_count, token=f"end_{_key_name(p.producer.full_label)}")
            for p, bag in self.bags.items()
            if p not in self.consumed
        ]
        return ends + self.metrics


# ---- the runner and its result ------------------------------------------------------------


class DaskRunner(_BeamDaskRunner):
    """Beam's DaskRunner options, mmfuse's translation (see the module's docstring)."""

    def run_pipeline(self, pipeline, options):
        try:
            import dask.distributed as ddist
        except ImportError:
            raise ImportError("the DaskRunner needs Dask: pip install 'mmfuse[dask]'") from None
        dask_options = options.view_as(DaskOptions).get_all_options(drop_default=True, current_only=True)
        bag_kwargs = DaskOptions._extract_bag_kwargs(dask_options)
        if "partition_size" in bag_kwargs:
            _LOG.warning("--dask_partition_size is not used by this runner; give --dask_npartitions")
        client = ddist.Client(**dask_options)
        try:
            try:
                timeout = dask_options.get("timeout")
                client.wait_for_workers(1, timeout=timeout if isinstance(timeout, int) else 60)
            except TimeoutError:
                raise RuntimeError(f"no Dask worker joined the scheduler at {client.scheduler.address}") from None
            n = bag_kwargs.get("npartitions") or max(1, sum(client.nthreads().values()))
            translator = _Translator(n)
            pipeline.visit(translator)
            targets = translator.targets()
            futures = client.compute(targets)
        except BaseException:
            client.close()
            raise
        return DaskPipelineResult(client, futures, len(targets) - len(translator.metrics))


class DaskPipelineResult(PipelineResult):
    def __init__(self, client, futures: list, n_ends: int):
        super().__init__(PipelineState.RUNNING)
        self._client, self._futures, self._n_ends = client, futures, n_ends
        self._metrics = _DaskMetrics([])

    def wait_until_finish(self, duration: Optional[int] = None):
        if PipelineState.is_terminal(self._state):
            return self._state
        import dask.distributed as ddist

        try:
            if duration is not None:
                done, _ = ddist.wait(self._futures, timeout=duration / 1000, return_when="ALL_COMPLETED")
                if len(done) < len(self._futures):
                    return self._state
            results = self._client.gather(self._futures)
            self._metrics = _DaskMetrics([u for per_pardo in results[self._n_ends :] for u in per_pardo])
            self._state = PipelineState.DONE
        except TimeoutError:
            return self._state
        except BaseException:
            self._state = PipelineState.FAILED
            self._client.close()
            raise
        self._client.close()
        return self._state

    def cancel(self):
        self._client.cancel(self._futures)
        self._client.close()
        self._state = PipelineState.CANCELLED
        return self._state

    def metrics(self):
        return self._metrics


class _DaskMetrics(MetricResults):
    """Counters, distributions and gauges of the tasks that completed (each task's result
    is used once, so attempted and committed are the same)."""

    def __init__(self, updates: list):
        totals: dict[str, dict[MetricKey, Any]] = {"counters": defaultdict(int), "distributions": {}, "gauges": {}}
        for u in updates:
            for key, value in u.counters.items():
                totals["counters"][key] += value
            for key, value in u.distributions.items():
                old = totals["distributions"].get(key)
                totals["distributions"][key] = value if old is None else old.combine(value)
            for key, value in u.gauges.items():
                old = totals["gauges"].get(key)
                totals["gauges"][key] = value if old is None else old.combine(value)
        self._totals = totals

    def query(self, filter=None):
        out = {kind: [] for kind in ("counters", "distributions", "gauges", "string_sets", "bounded_tries", "histograms")}
        for kind, values in self._totals.items():
            for key, value in values.items():
                if self.matches(filter, key):
                    result = value if kind == "counters" else value.get_result()
                    out[kind].append(MetricResult(key, result, result))
        return out
