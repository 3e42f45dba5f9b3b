"""``triage score --engine ray``: the same batch scoring, with the model work spread over a Ray cluster.

Why: a bank scores millions of historical tickets. ``--shard K/N`` splits a file over N machines but
leaves starting them, watching them and merging their outputs to a person; on Ray one command
uses every node of a cluster and writes one output.

How: the driver reads the file with the local engine's reader and writes with its writer
(classifier/batch/score.py's stages: ``read_input`` → ``score_chunk`` → ``write_output``), so encodings,
column mapping, error rows and the output columns are those of the local engine, byte for byte.
Ray Data carries the rows, one item per chunk of ``chunk_size`` rows (``from_items``), through
``map_batches`` on an actor pool: each actor loads the bundle and the rules once and runs
``score_chunk`` on chunk after chunk. Rows come back in any
order and are put in input order by index. Reading and writing on the driver cost little next to
the model (bench/bench_score.py: reading, rules and writing are ~1 % of the local engine's time);
the driver holds the rows and their results until the write (measured 1.4 KB a row for 28-character
texts: about 2 GB per million short rows).

Not here: ``--resume`` (a checkpoint would need the cluster's results in order) and ``--shard``
(Ray does the splitting). The bundle and rule files must be at the same path on every node (the
same image, or a shared volume): actors load them where they run.
"""
from __future__ import annotations

import logging
import os
import pickle
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from classifier.errors import (
    RayAddressUnreachable, RayClientUnsupported, RayClusterNotFound, ScoreOptionError, require,
)
from classifier.batch.score import (
    InputTable, ScoreOptions, ScoreSummary, describe_input, read_input, score_chunk, write_output,
    write_sidecar,
)


class ScoreActor:
    """One Ray actor: the bundle and rules loaded once, then chunk after chunk."""

    def __init__(self, bundle: str, priority_config: str, routing_config: str, options: ScoreOptions,
                 table: bytes, threads: int = 1):
        from classifier.priority import PriorityMatrix
        from classifier.routing import Router
        from classifier.runtime import Classifier

        self.classifier = Classifier.load(bundle, threads=threads, batch_size=64)
        self.matrix = PriorityMatrix.from_yaml(priority_config)
        self.router = Router.from_yaml(routing_config)
        self.options = options
        self.table: InputTable = pickle.loads(table)  # the input's columns and mapping, without its rows

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        index, values = [], []
        for chunk in batch["chunk"]:  # one chunk of the local engine's: the same rows share a model call
            for out in score_chunk(pickle.loads(chunk), self.table, self.classifier, self.matrix, self.router, self.options):
                index.append(out["index"])
                values.append(pickle.dumps(out["values"]))
        return {"index": np.array(index, dtype=np.int64), "values": np.array(values, dtype=object)}

    def peak_rss_mb(self) -> float:  # for bench/bench_score.py (Linux reports KB)
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def code_path() -> str:
    """The directory that holds this package, for local Ray workers' PYTHONPATH (a checkout runs
    the same code in its workers as in the driver, whatever is installed)."""
    return str(Path(__file__).resolve().parents[2])


# Seconds to wait for a TCP answer from a Ray address before saying it is unreachable: Ray itself
# retries a wrong GCS address for minutes, printing a warning every few seconds.
CONNECT_TIMEOUT_S = 5.0


def init_ray(address: str | None = None, num_cpus: int | None = None, verbose: bool = False) -> bool:
    """Connect to ``address`` (``ray://HOST:10001``, ``HOST:6379``, ``auto``; default ``RAY_ADDRESS``)
    or start a local Ray. Ray's own log lines (some 60 INFO lines per run) stay out of the progress
    output unless ``verbose``.

    A cluster that cannot be reached is an error with its code (E410 none running for ``auto``,
    E411 nothing answering at the address); ``ray://`` (Ray Client) is E412: Ray Data does not run
    on a Ray Client driver.
    Returns True when this call started or connected Ray (and so should shut it down)."""
    ray = require("ray", "distributed")
    if ray.is_initialized():
        return False
    quiet_ray(verbose)
    address = address or os.environ.get("RAY_ADDRESS") or None
    kwargs: dict[str, Any] = {"log_to_driver": verbose, "logging_level": logging.INFO if verbose else logging.WARNING}
    if address is None:  # a local instance on this machine
        kwargs.update(include_dashboard=False, num_cpus=num_cpus)
        kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(
            p for p in (code_path(), os.environ.get("PYTHONPATH")) if p)}}
    elif address.startswith("ray://"):
        # Tried against `ray start --head` with ray[client] installed: Ray Data's streaming executor
        # fails on a Ray Client driver ('Worker' object has no attribute 'core_worker'), after the
        # connection succeeded. Said before connecting, with what works instead.
        raise RayClientUnsupported(
            f"Ray Client 地址不可用: {address}: Ray Data does not run over Ray Client (ray://); run the command "
            "on the cluster instead: `ray job submit --address http://HEAD:8265 -- triage score IN --out OUT "
            "--engine ray --address auto` (Ray Jobs; the files on a volume the cluster sees), or from a machine "
            "on the cluster's network with --address HEAD:6379", details={"address": address})
    elif address != "auto":
        _check_reachable(address, address, default_port=6379)
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as exc:  # an OSError: the CLI would call it a file-access error (E204)
        if address == "auto":
            raise RayClusterNotFound(
                "找不到 Ray 集群: --address auto found no Ray cluster running on this machine; start one "
                "(`ray start --head`), give its address (--address HOST:6379 or ray://HOST:10001), or leave "
                "--address out for a local Ray", details={"address": address}) from None
        raise RayAddressUnreachable(f"无法连接 Ray 集群: {address}: {exc}", details={"address": address}) from None
    return True


def _check_reachable(address: str, host_port: str, default_port: int) -> None:
    """A TCP connection to the address within :data:`CONNECT_TIMEOUT_S`, else E411."""
    import socket

    host, _, port = host_port.rstrip("/").rpartition(":")
    if not host:
        host, port = port, str(default_port)
    try:
        number = int(port)
    except ValueError:
        raise RayAddressUnreachable(f"无法连接 Ray 集群: {address}: not HOST:PORT (e.g. ray://head:10001, head:6379)",
                                    details={"address": address}) from None
    try:
        with socket.create_connection((host.strip("[]"), number), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise RayAddressUnreachable(
            f"无法连接 Ray 集群: nothing answers at {address} ({exc.strerror or exc}); check the host and port "
            f"(Ray Client: ray://HEAD:10001; a node of the cluster: HEAD:6379) and that the cluster is up",
            details={"address": address}) from None


def quiet_ray(verbose: bool = False) -> None:
    """Keep Ray's and Ray Data's INFO lines and progress bars out of stderr, where the command's own
    progress line is, unless ``verbose``."""
    if not verbose:
        os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    try:
        from ray.data import DataContext  # importing ray.data configures its logger: set the level after

        context = DataContext.get_current()
        context.enable_progress_bars = verbose
        context.print_on_execution_start = verbose
    except (ImportError, AttributeError):
        pass
    level = logging.INFO if verbose else logging.WARNING
    for name in ("ray", "ray.data", "ray._private", "ray.util"):
        logging.getLogger(name).setLevel(level)


def score_file_ray(
    input_path: str | Path,
    output_path: str | Path,
    bundle: str | Path,
    priority_config: str | Path,
    routing_config: str | Path,
    options: ScoreOptions = ScoreOptions(),
    actors: int = 2,
    cpus_per_actor: float = 1.0,
    progress: Any = None,
) -> ScoreSummary:
    """Score ``input_path`` into ``output_path`` on the Ray instance this process is connected to
    (see :func:`init_ray`); same output and summary as ``classifier.batch.score.score_file``."""
    require("ray", "distributed")
    import ray.data

    if options.shard != (1, 1):
        raise ScoreOptionError("--shard does not combine with --engine ray: Ray splits the work itself")
    if actors < 1:
        raise ScoreOptionError("--actors must be at least 1")
    from classifier.bundle import load_bundle
    from classifier.priority import PriorityMatrix
    from classifier.routing import Router

    # Checked on the driver first: a bad bundle or rule file fails in seconds, before any actor starts.
    load_bundle(bundle)

    input_path, output_path = Path(input_path), Path(output_path)
    summary = ScoreSummary(str(input_path), str(output_path), "1/1")
    start = time.perf_counter()
    matrix, router = PriorityMatrix.from_yaml(priority_config), Router.from_yaml(routing_config)
    table = read_input(input_path, options)
    describe_input(table, summary, matrix, router, options)
    rows = table.rows
    context = pickle.dumps(replace(table, rows=[]))
    # One item per chunk of the local engine (chunk_size rows): int8 activations are quantized per
    # model call, so a row's scores depend on which rows share its call; identical chunks give
    # identical scores.
    chunks = [{"chunk": pickle.dumps(rows[at:at + options.chunk_size])} for at in range(0, len(rows), options.chunk_size)]
    dataset = ray.data.from_items(chunks, override_num_blocks=max(1, min(len(chunks), actors * 8))).map_batches(
        ScoreActor,
        fn_constructor_kwargs={"bundle": str(bundle), "priority_config": str(priority_config),
                               "routing_config": str(routing_config), "options": options,
                               "table": context,
                               "threads": max(1, int(cpus_per_actor))},
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=cpus_per_actor,
        batch_format="numpy",
    )
    done: dict[int, dict] = {}
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
        for index, values in zip(batch["index"], batch["values"]):
            done[int(index)] = pickle.loads(values)
        if progress:
            progress(len(done), len(rows), 0, time.perf_counter() - start)
    missing = len(rows) - len(done)
    if missing:  # Ray retries failed tasks; rows still missing after that must not pass silently
        raise ScoreOptionError(f"the Ray run returned {len(done)} of {len(rows)} rows; nothing was written")
    write_output(table, done, output_path, options, summary)
    summary.seconds = round(time.perf_counter() - start, 3)
    write_sidecar(output_path, table, options, summary)
    return summary
