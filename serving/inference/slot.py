"""The model a running service uses: hot reload and the shadow model.

Why: a bank replaces its model every few weeks and cannot drop traffic to do it, and it wants to
see how a candidate behaves on live traffic before promoting it.

* :class:`ModelSlot` holds the serving classifier. The micro-batcher calls ``slot.predict``, which
  reads the current classifier once per batch, so a swap happens *between* batches: every batch,
  and every item of it, is scored by one model and tagged with that model's version
  (``Prediction.model_version``). :meth:`ModelSlot.reload` loads and verifies the new bundle beside
  the old one (hashes, labels, an ONNX session, a warm-up prediction) and only then swaps the
  reference; any failure leaves the old model serving and raises :class:`ReloadFailed` with the
  cause's code and message. ``POST /v1/admin/reload`` and SIGHUP both end here. A directory the API
  names must lie under the model roots (``TRIAGE_MODEL_ROOTS``) and hold a manifest; any other path
  gets one and the same answer, so an admin key cannot probe the server's filesystem.
* :class:`ShadowScorer` (``TRIAGE_SHADOW_BUNDLE``) gets every model batch after the primary has
  answered, on a thread and queue of its own: a request never waits for it, and when the shadow
  falls behind whole batches are skipped (counted) rather than queued without bound. It exports
  per-head agreement with the primary and both models' review shares (``triage_shadow_*``).

Memory: during a reload two bundles are loaded (≈ 2 × 150 MB RSS for the default bundle). Once
no batch runs on the replaced model any more, its sessions and lane threads are closed and the C
heap's free pages handed back (``release_freed_memory``), so RSS after a reload is what it was
before it; size a pod's memory limit for the peak during a reload (deploy/k8s, figures in
reports/).
"""
from __future__ import annotations

import logging
import queue
import random
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from classifier.bundle import MANIFEST
from classifier.errors import TriageError
from classifier.labels import HEADS
from classifier.runtime import release_freed_memory
from serving.http.errors import ReloadFailed, ReloadInProgress
from serving.http.metrics import Metrics

log = logging.getLogger("triage.model")

Loader = Callable[[Path], Any]  # bundle directory → a warmed-up classifier

_STOP = object()


def _tag(predictions: Sequence[Any], version: str) -> None:
    for pred in predictions:
        try:
            pred.model_version = version
        except AttributeError:  # a stand-in whose predictions cannot carry it
            return


class ModelSlot:
    def __init__(self, classifier: Any, bundle_dir: Path, loader: Loader, metrics: Metrics,
                 shadow: "ShadowScorer | None" = None, owned: bool = True, roots: Sequence[Path] = ()):
        self.current = classifier
        # A model handed in by the caller (an override, ``owned=False``) is the caller's to close; the
        # slot closes every other model it replaces (the ones it loaded).
        self._borrowed = None if owned else classifier
        self.bundle_dir = Path(bundle_dir)
        # Where a reload may name a bundle (TRIAGE_MODEL_ROOTS): by default the directory holding the first one.
        self.roots = [Path(r).resolve() for r in roots] or [self.bundle_dir.resolve().parent]
        self.loader = loader
        self.metrics = metrics
        self.shadow = shadow
        self._reloading = threading.Lock()
        # calls running on each model (by id), so that a replaced model is released only after its last batch
        self._users: dict[int, int] = {}
        self._users_changed = threading.Condition()
        self.retire_timeout = 120.0  # seconds a replaced model may stay in use before it is left to the collector
        self.last_reload: dict[str, Any] | None = None  # outcome of the latest attempt, for logs and tests
        self._publish()

    @property
    def model_version(self) -> str:
        return self.current.model_version

    def predict(self, texts: list[str], solo: bool = False) -> list[Any]:
        """``solo``: the batch is all the work in flight; a model with a solo session gives it every core."""
        with self._users_changed:  # read once: the whole batch is scored by one model
            model = self.current
            self._users[id(model)] = self._users.get(id(model), 0) + 1
        try:
            predictions = model.predict(texts, solo=True) if solo and getattr(model, "solo_threads", 0) else model.predict(texts)
        finally:
            with self._users_changed:
                left = self._users.pop(id(model)) - 1
                if left:
                    self._users[id(model)] = left
                else:
                    self._users_changed.notify_all()
        _tag(predictions, model.model_version)
        if self.shadow is not None:
            self.shadow.offer(texts, predictions)
        return predictions

    def reload(self, bundle_dir: str | Path | None = None, trigger: str = "api") -> dict[str, Any]:
        """Load ``bundle_dir`` (default: the one in use) beside the current model, then swap.

        Raises :class:`ReloadInProgress` when another reload runs, :class:`ReloadFailed` when the
        new bundle cannot be used (the current model keeps serving)."""
        if not self._reloading.acquire(blocking=False):
            raise ReloadInProgress("a model reload is already running; try again when it has finished")
        try:
            previous = self.model_version
            path = self._allowed(bundle_dir, previous, trigger) if bundle_dir else self.bundle_dir
            start = time.perf_counter()
            try:
                model = self.loader(path)
            except Exception as exc:  # noqa: BLE001 - whatever breaks, the old model stays
                release_freed_memory()  # what the half-loaded bundle took
                cause = exc.to_dict() if isinstance(exc, TriageError) else {
                    "code": None, "message": f"{type(exc).__name__}: {exc}", "details": None}
                self.metrics.model_reloads.labels(trigger, "failed").inc()
                self.last_reload = {"ok": False, "bundle": str(path), "cause": cause, "model_version": previous}
                log.error("model reload failed; still serving %s", previous,
                          extra={"bundle": str(path), "cause_code": cause["code"], "cause": cause["message"],
                                 "trigger": trigger})
                raise ReloadFailed(
                    f"bundle {path} was not loaded ({cause['code'] or 'error'}: {cause['message']}); "
                    f"still serving {previous}",
                    details={"bundle": str(path), "cause": cause, "model_version": previous},
                ) from exc
            with self._users_changed:  # the next batch uses it, batches in flight finish on the old one
                old, self.current = self.current, model
            self.bundle_dir = path
            self._publish()  # /metrics names the new model as soon as /readyz does
            self._retire(old)
            del old
            release_freed_memory()
            seconds = round(time.perf_counter() - start, 3)
            self.metrics.model_reloads.labels(trigger, "ok").inc()
            self.last_reload = {"ok": True, "bundle": str(path), "model_version": model.model_version,
                                "previous_model_version": previous, "seconds": seconds}
            log.info("model reloaded", extra={"model_version": model.model_version, "previous": previous,
                                              "bundle": str(path), "seconds": seconds, "trigger": trigger})
            return dict(self.last_reload)
        finally:
            self._reloading.release()

    def _allowed(self, bundle_dir: str | Path, previous: str, trigger: str) -> Path:
        """The bundle directory a caller named, resolved (symbolic links followed), if it lies under one
        of the roots and holds a manifest; else :class:`ReloadFailed` with one message for every such
        case, so that the API cannot be used to learn which paths exist on the server. The log, which
        only the operator reads, says which it was."""
        given = str(bundle_dir)
        try:
            path = Path(bundle_dir).resolve()
            inside = any(path.is_relative_to(root) for root in self.roots)
            reason = None if inside else "outside TRIAGE_MODEL_ROOTS"
            if inside and not (path / MANIFEST).is_file():
                reason = "no manifest.json" if path.is_dir() else "not a directory"
        except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, an unreadable parent
            path, reason = Path(given), type(exc).__name__
        if reason is None:
            return path
        self.metrics.model_reloads.labels(trigger, "failed").inc()
        self.last_reload = {"ok": False, "bundle": given, "cause": None, "model_version": previous}
        log.error("model reload refused; still serving %s", previous,
                  extra={"bundle": given, "cause": reason, "trigger": trigger})
        raise ReloadFailed(
            f"bundle_dir is not a model bundle under the allowed model roots (TRIAGE_MODEL_ROOTS); still serving "
            f"{previous}", details={"bundle": given, "cause": None, "model_version": previous})

    def _retire(self, old: Any) -> None:
        """Release a replaced model's sessions and threads once no batch runs on it any more.

        Why: dropping the reference was not enough; RSS grew by ~100-150 MB per reload (issue 28),
        since freed ONNX Runtime memory stayed in the C heap (classifier/runtime.py,
        ``release_freed_memory``, called after this)."""
        with self._users_changed:
            idle = self._users_changed.wait_for(lambda: id(old) not in self._users, self.retire_timeout)
        if not idle:  # a call stuck for minutes: leave the model to the garbage collector
            log.warning("replaced model still in use after %.0f s; not closed", self.retire_timeout,
                        extra={"model_version": old.model_version})
            return
        if old is self._borrowed:
            return
        close = getattr(old, "close", None)
        if close is not None:
            close()

    def _publish(self) -> None:
        self.metrics.model_info.info({"version": self.current.model_version, "bundle": self.bundle_dir.name})
        self.metrics.model_loaded_at.set_to_current_time()

    def close(self) -> None:
        if self.shadow is not None:
            self.shadow.close()


class ShadowScorer:
    """Scores the primary's batches with a second model on its own thread; exports agreement."""

    def __init__(self, classifier: Any, metrics: Metrics, sample_rate: float = 1.0, max_queue_items: int = 2048):
        self.classifier = classifier
        self.metrics = metrics
        self.sample_rate = sample_rate
        self.max_queue_items = max_queue_items
        self._queue: queue.Queue = queue.Queue()
        self._pending = 0
        self._lock = threading.Lock()
        # running totals behind the ratio gauges (the counters carry the same numbers)
        self._items = 0
        self._agree = dict.fromkeys(HEADS, 0)
        self._review = {"primary": 0, "shadow": 0}
        self._idle = threading.Event()
        self._idle.set()
        metrics.shadow_info.clear()
        metrics.shadow_info.labels(version=classifier.model_version).set(1)
        self._thread = threading.Thread(target=self._run, name="triage-shadow", daemon=True)
        self._thread.start()

    def offer(self, texts: Sequence[str], primary: Sequence[Any]) -> None:
        """Queue a scored batch for the shadow; never blocks (skips when the shadow is behind)."""
        n = len(texts)
        if self.sample_rate < 1.0 and random.random() >= self.sample_rate:  # noqa: S311 - sampling, not security
            return
        with self._lock:
            if self._pending + n > self.max_queue_items:
                self.metrics.shadow_skipped.inc(n)
                return
            self._pending += n
            self._idle.clear()
        summary = [({h: p.heads[h].label for h in HEADS}, bool(p.needs_review)) for p in primary]
        self._queue.put((list(texts), summary))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once everything offered so far has been scored (tests, shutdown)."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            texts, primary = job
            try:
                self._compare(texts, primary)
            except Exception as exc:  # noqa: BLE001 - the shadow must never take the service down
                self.metrics.shadow_errors.inc()
                log.warning("shadow model failed on a batch of %d: %s", len(texts), type(exc).__name__)
            finally:
                with self._lock:
                    self._pending -= len(texts)
                    if self._pending == 0:
                        self._idle.set()

    def _compare(self, texts: list[str], primary: list[tuple[dict[str, str], bool]]) -> None:
        shadow = self.classifier.predict(texts)
        m = self.metrics
        n = len(texts)
        m.shadow_items.inc(n)
        review_primary = sum(review for _, review in primary)
        review_shadow = sum(bool(p.needs_review) for p in shadow)
        m.shadow_needs_review.labels("primary").inc(review_primary)
        m.shadow_needs_review.labels("shadow").inc(review_shadow)
        with self._lock:
            self._items += n
            self._review["primary"] += review_primary
            self._review["shadow"] += review_shadow
            for head in HEADS:
                agree = sum(labels[head] == p.heads[head].label for (labels, _), p in zip(primary, shadow))
                m.shadow_agreements.labels(head).inc(agree)
                self._agree[head] += agree
                m.shadow_agreement.labels(head).set(self._agree[head] / self._items)
            share = {k: v / self._items for k, v in self._review.items()}
        m.shadow_review_share.labels("primary").set(share["primary"])
        m.shadow_review_share.labels("shadow").set(share["shadow"])
        m.shadow_review_share_change.set(share["shadow"] - share["primary"])

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout)
        close = getattr(self.classifier, "close", None)
        if close is not None and not self._thread.is_alive():  # its thread is done with it
            close()
        self.metrics.shadow_info.clear()
        self.metrics.shadow_info.labels(version="").set(0)
