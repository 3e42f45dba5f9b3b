"""``Classifier``: a loaded bundle that turns texts into calibrated three-head predictions.

normalize → tokenize → length-sorted batches → ONNX Runtime → (blend with the linear model)
→ temperature scaling → abstention. Padding is the main CPU cost, so texts are sorted by token
length and batched with similar-length neighbours, then results are put back in input order.

How a call uses the cores. ``threads`` is how many cores one call may use. A call of several
batches runs them side by side, one per core, each on a one-thread ONNX Runtime session (its
"lanes"): on small matrices one session splitting each operator over two threads loses more to
handing work between them than two whole batches do. Measured on the 12-layer bundle, 1,000 dev
texts in blocks of 256, the two ways interleaved block by block on this 2-core VM: lanes score
1.09–1.14× as many texts per second. A call of one batch has nothing to run beside it, so it runs
on a session with ``threads`` intra-op threads (9.7 → 6.1 ms for a single text here); splitting
that one batch into halves measured no better (0.92–1.10×).

A lone call can get every core (``solo_threads``). The service calls one Classifier from several
worker threads, each running a one-thread ONNX Runtime session: on a small CPU that beats one
multi-threaded session under load (serving/inference/batcher.py). But a request that arrives at an idle
service would then run on one core while the others wait. So the Classifier keeps a second session
with ``solo_threads`` intra-op threads, and ``predict(texts, solo=True)`` takes ``solo_threads``
cores (lanes or that session) unless another call is running (the service asks for it when a batch
is all the work in flight). Each session with another thread count holds the model's weights once
more in memory.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from classifier.bundle import Bundle, load_bundle
from classifier.calibration import blend, calibrate, softmax
from classifier.errors import BundleError, EmptyText
from classifier.labels import HEADS
from classifier.text.normalize import normalize_text
from classifier.text.visible import has_visible_text
from classifier.review import review_reasons, uncertain_reason
from classifier.signals import find as find_signals


@dataclass
class HeadPrediction:
    label: str
    confidence: float
    scores: dict[str, float]

    def to_dict(self) -> dict:
        return {"label": self.label, "confidence": self.confidence, "scores": self.scores}


@dataclass
class Prediction:
    heads: dict[str, HeadPrediction]
    needs_review: bool
    category_secondary: str | None = None
    review_heads: list[str] = field(default_factory=list)  # heads under their threshold
    # why it goes to review (classifier/review.py), e.g. ["urgency_uncertain", "possible_high_urgency"]
    review_reasons: list[str] = field(default_factory=list)
    # set by the service's model slot (serving/inference/slot.py): which model scored it, across reloads
    model_version: str | None = None

    @property
    def category(self) -> HeadPrediction:
        return self.heads["category"]

    @property
    def sentiment(self) -> HeadPrediction:
        return self.heads["sentiment"]

    @property
    def urgency(self) -> HeadPrediction:
        return self.heads["urgency"]

    def to_dict(self) -> dict:
        out = {h: self.heads[h].to_dict() for h in HEADS}
        out["category_secondary"] = self.category_secondary
        out["needs_review"] = self.needs_review
        out["review_reasons"] = list(self.review_reasons)
        return out


@dataclass
class RawScores:
    """Uncalibrated per-head probabilities, exposed for evaluation and calibration fitting."""

    transformer: dict[str, np.ndarray]
    linear: dict[str, np.ndarray] | None
    secondary: np.ndarray
    signals: list[list[str]] | None = None  # rule signals found in each normalized text (classifier/signals.py)


class Classifier:
    def __init__(self, bundle: Bundle, threads: int | None = None, batch_size: int = 32, solo_threads: int = 0):
        self.bundle = bundle
        self.batch_size = batch_size
        self.max_length = int(bundle.config["max_length"])
        self.pad_id = int(bundle.config["pad_id"])
        self._tokenizer = _load_tokenizer(bundle.file("tokenizer.json"), self.max_length)
        threads = threads or int(os.environ.get("TRIAGE_THREADS", "0") or 0)
        self.threads = threads or available_cores()  # cores one call may use
        self._session = _load_session(bundle, self.threads)
        # A second, wider session for calls made while no other call runs (module docstring).
        self.solo_threads = solo_threads if solo_threads > self.threads else 0
        self._solo_session = _load_session(bundle, self.solo_threads, stop_spinning=True) if self.solo_threads else None
        # One-thread session for the lanes (module docstring); the narrow session itself when it has one thread.
        lanes = max(self.threads, self.solo_threads)
        self._lane_session = self._session if self.threads == 1 else _load_session(bundle, 1) if lanes > 1 else None
        self._lanes = ThreadPoolExecutor(lanes, thread_name_prefix="triage-lane") if lanes > 1 else None
        self._running = 0  # calls in the model now, across threads
        self._running_lock = threading.Lock()
        self.solo_calls = 0  # calls that took the solo cores (tests and benches read it)
        self.lane_calls = 0  # calls whose batches ran side by side in lanes
        self._outputs = [o.name for o in self._session.get_outputs()]
        self._linear = None
        if bundle.has("linear.npz"):
            from classifier.linear import LinearTfidfModel

            lexicon = bundle.file("lexicon/financial_dict.txt") if bundle.has("lexicon/financial_dict.txt") else None
            self._linear = LinearTfidfModel.load(bundle.file("linear.npz"), user_dict=lexicon)

    def close(self) -> None:
        """Release the sessions (each holds the weights once more) and the lanes' threads now.

        Why not leave it to the garbage collector: a hot reload replaces the model every few weeks
        in a process that runs for months; the service calls this once no batch uses the old model
        (serving/inference/slot.py), then :func:`release_freed_memory`. Calling ``predict`` afterwards
        is an error."""
        if self._lanes is not None:
            self._lanes.shutdown(wait=True)
        self._lanes = None
        self._session = self._solo_session = self._lane_session = None
        self._linear = None

    @classmethod
    def load(cls, bundle_dir: str | Path, threads: int | None = None, batch_size: int = 32,
             solo_threads: int = 0) -> "Classifier":
        return cls(load_bundle(bundle_dir), threads=threads, batch_size=batch_size, solo_threads=solo_threads)

    @property
    def model_version(self) -> str:
        return self.bundle.model_version

    # -- inference -------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self._tokenizer.encode_batch(list(texts))]

    @contextmanager
    def _call_cores(self, solo: bool):
        """How many cores this call may use: ``solo_threads`` when asked for, there is a solo
        session and no other call is running; else ``threads`` (two wide calls at once would
        fight over the cores)."""
        with self._running_lock:
            self._running += 1
            solo = solo and self._solo_session is not None and self._running == 1
            if solo:
                self.solo_calls += 1
        try:
            yield self.solo_threads if solo else self.threads
        finally:
            with self._running_lock:
                self._running -= 1

    def logits(self, token_ids: list[list[int]], cores: int | None = None) -> dict[str, np.ndarray]:
        """Raw model outputs for pre-tokenized inputs, in input order, using up to ``cores`` cores
        (``threads`` unless given; ``threads`` or ``solo_threads``)."""
        cores = cores or self.threads
        order = sorted(range(len(token_ids)), key=lambda i: len(token_ids[i]))
        batches = list(self._batches(order, token_ids))
        if cores > 1 and len(batches) > 1 and self._lanes is not None:
            with self._running_lock:
                self.lane_calls += 1
            outputs = list(self._lanes.map(lambda idx: self._run(self._lane_session, token_ids, idx), batches))
        else:
            session = self._solo_session if cores == self.solo_threads else self._session
            outputs = [self._run(session, token_ids, idx) for idx in batches]
        inverse = np.argsort(order)
        return {name: np.concatenate([out[k] for out in outputs])[inverse] for k, name in enumerate(self._outputs)}

    def _run(self, session, token_ids: list[list[int]], idx: list[int]) -> list[np.ndarray]:  # noqa: ANN001
        """One padded batch through ``session``."""
        width = max(len(token_ids[i]) for i in idx)
        ids = np.full((len(idx), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for row, i in enumerate(idx):
            seq = token_ids[i]
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        return session.run(None, {"input_ids": ids, "attention_mask": mask})

    def _batches(self, order: list[int], token_ids: list[list[int]]):
        """Cut length-sorted indices into batches of at most ``batch_size`` whose padding stays small:
        a batch also ends where the next text is much longer than the batch's shortest one."""
        batch: list[int] = []
        for i in order:
            if batch and (len(batch) == self.batch_size or len(token_ids[i]) > 1.25 * len(token_ids[batch[0]]) + 4):
                yield batch
                batch = []
            batch.append(i)
        if batch:
            yield batch

    def raw_scores(self, texts: Sequence[str], solo: bool = False) -> RawScores:
        normalized = [normalize_text(t) for t in texts]
        for i, t in enumerate(normalized):
            if not t or not has_visible_text(t):
                raise EmptyText(f"text #{i} is empty after normalization (or only invisible characters)",
                                details={"index": i})
        token_ids = self.encode(normalized)
        with self._call_cores(solo) as cores:
            out = self.logits(token_ids, cores)
        transformer = {h: softmax(out[f"logits_{h}"]) for h in HEADS}
        linear = self._linear.predict_proba(normalized, normalized=True) if self._linear is not None else None
        return RawScores(transformer, linear, out["logits_secondary"], [find_signals(t) for t in normalized])

    def predict(self, texts: Sequence[str], solo: bool = False) -> list[Prediction]:
        """``solo``: run on the solo session if there is one and no other call is running."""
        if not texts:
            return []
        raw = self.raw_scores(texts, solo)
        return self.finalize(raw)

    def calibrated(self, raw: RawScores) -> dict[str, np.ndarray]:
        """Blended, temperature-scaled probabilities per head (n, labels)."""
        cal = self.bundle.calibration
        return {
            h: calibrate(blend(raw.transformer[h], raw.linear[h] if raw.linear else None, cal.blend[h]), cal.temperature[h])
            for h in HEADS
        }

    def finalize(self, raw: RawScores) -> list[Prediction]:
        cal = self.bundle.calibration
        probs = self.calibrated(raw)
        reasons = review_reasons(probs, cal.thresholds, cal.watch, raw.signals, cal.applied_signals)
        labels = self.bundle.labels
        uncertain = {uncertain_reason(h): h for h in HEADS}
        n = len(raw.secondary)
        # argmax, confidences and the secondary category for all items at once; per item only the objects
        best = {h: probs[h].argmax(1) for h in HEADS}
        scores = {h: probs[h].tolist() for h in HEADS}
        secondary = 1.0 / (1.0 + np.exp(-raw.secondary))
        secondary[np.arange(n), best["category"]] = -np.inf  # never the primary category
        runner_up = secondary.argmax(1)
        has_second = secondary[np.arange(n), runner_up] >= cal.secondary_threshold
        category_labels = labels["category"]
        best_list = {h: best[h].tolist() for h in HEADS}
        results = []
        for i in range(n):
            heads = {}
            for h in HEADS:
                p, k = scores[h][i], best_list[h][i]
                heads[h] = HeadPrediction(labels[h][k], p[k], dict(zip(labels[h], p)))
            low = [uncertain[r] for r in reasons[i] if r in uncertain]
            second = category_labels[int(runner_up[i])] if has_second[i] else None
            results.append(Prediction(heads, bool(reasons[i]), second, low, reasons[i]))
        return results


def release_freed_memory() -> None:
    """Collect cycles, then hand the C heap's free pages back to the system (glibc ``malloc_trim``).

    Why: ONNX Runtime allocates a session's weights and buffers from the malloc arena of the thread
    that loads or runs it, and glibc returns freed arena memory to the system only at an arena's top.
    Freeing a reloaded model's sessions therefore left RSS where it was, and every reload (which loads
    on another thread) added ~100-150 MB: 384 → 811 MB after 10 reloads of the default bundle
    (bench/bench_reload_rss.py, reports/). ``malloc_trim(0)`` releases the free pages of every arena.
    A no-op where the C library has no ``malloc_trim`` (musl, macOS)."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _load_session(bundle: Bundle, threads: int, stop_spinning: bool = False):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    if stop_spinning:
        # Its pool threads spin between the operators of a call (fast) but not after it, when
        # they would take cores from the other workers and the event loop.
        options.add_session_config_entry("session.force_spinning_stop", "1")
    try:
        return ort.InferenceSession(str(bundle.file("model.onnx")), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
        raise BundleError(f"model.onnx could not be loaded by ONNX Runtime: {exc}", details={"file": "model.onnx"}) from exc


def _load_tokenizer(path: Path, max_length: int):
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a plain Exception on malformed JSON
        raise BundleError(f"tokenizer.json could not be loaded: {exc}", details={"file": "tokenizer.json"}) from exc
    tok.enable_truncation(max_length)
    tok.no_padding()
    return tok
