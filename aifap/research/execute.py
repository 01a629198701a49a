"""Run many backtests of one strategy on one data set, on Dask workers.

A :class:`Runner` owns the Dask client for a sweep or a walk-forward:

- the cluster: a ``LocalCluster`` of ``workers`` single-threaded worker processes
  (default: the machine's cores), an existing scheduler (``"tcp://host:8786"``), or a
  ``distributed.Client`` the caller already holds (left open afterwards);
- the bars: the ``data`` argument is opened once here (a directory, the synthetic
  market, a store…), turned into an in-memory :class:`~aifap.data.frames.FrameBarSource`
  and scattered to every worker once (``broadcast=True``); tasks receive a reference;
- the strategy: pickled with cloudpickle, so a function defined in a notebook or
  loaded from a ``.py`` file travels by value (a ``package.module:function`` travels
  by reference: the workers must be able to import it);
- each :class:`Job` is one call of :func:`aifap.backtest` with the sweep's keyword
  arguments, ``config = base config | the job's parameters`` and the job's overrides
  (walk-forward windows set ``start`` and ``end``). A job that raises comes back as an
  :class:`Outcome` with its error; the others go on.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import cloudpickle
import pandas as pd

from aifap.backtest.data import base_timeframe, open_source
from aifap.backtest.run import backtest
from aifap.core.bars import BarSource
from aifap.core.errors import ConfigError
from aifap.core.markets import MarketType
from aifap.data.frames import FrameBarSource
from aifap.data.synthetic import SyntheticMarket
from aifap.strategy import StrategyFn, load_strategy

# metrics of a row besides the parameters; start/end are the same for every row
SKIPPED_METRICS = ("start", "end")
CONNECT_TIMEOUT = "30s"  # to reach an existing scheduler (Dask retries until then)
# backtest arguments a sweep sets itself
RESERVED = ("config", "on_cycle", "progress", "strategy", "data")
# the local cluster's settings: its workers run CPU-bound Python (one backtest each), and
# Dask's statistical profiler samples every worker thread's stack every 10 ms, taking the
# GIL from the backtest; a sweep has no use for that profile (the dashboard still runs)
LOCAL_CLUSTER_CONFIG = {"distributed.worker.profile.enabled": False}


def pin_to_core(dask_worker: Any) -> int | None:
    """Pin a local worker process, all its threads, to one core: its name-th allowed core.

    A worker's event loop wakes ~60 times a second beside the backtest's thread; when
    the two threads pass the GIL across cores, the backtest runs 5–20 % slower (cold
    caches). One core per worker keeps them together. Returns the core (None: no
    affinity on this platform, or a worker not named by its index).
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        index = int(dask_worker.name)
    except (TypeError, ValueError):
        return None
    cores = sorted(os.sched_getaffinity(0))
    core = cores[index % len(cores)]
    for tid in os.listdir("/proc/self/task"):  # the threads running now; new ones inherit
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(tid), {core})
    return core


@dataclass(frozen=True)
class Job:
    """One backtest: its row number, its parameters and its backtest-argument overrides."""

    key: int
    params: dict[str, Any]
    overrides: dict[str, Any] = field(default_factory=dict)
    keep_equity: bool = False


@dataclass
class Outcome:
    """What a job gave: its metrics (or its error) and, when asked, its equity curve."""

    job: Job
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    equity: pd.Series | None = None


def pack_strategy(strategy: StrategyFn | str | Path) -> bytes:
    """Return the strategy function pickled for the workers (cloudpickle).

    Raises:
        StrategyError: ``strategy`` names no loadable strategy.
        ConfigError: the function cannot be pickled (e.g. it holds a lock or a socket).
    """
    fn = load_strategy(strategy)
    try:
        return bytes(cloudpickle.dumps(fn))
    except Exception as exc:
        raise ConfigError(
            f"strategy must be picklable to run on Dask workers: {type(exc).__name__}: {exc}"
        ) from exc


@lru_cache(maxsize=8)
def _unpack(blob: bytes) -> StrategyFn:
    fn: StrategyFn = cloudpickle.loads(blob)
    return fn


def in_memory_source(
    data: Any, *, market: str, symbols: Sequence[str] | None, timeframe: str | None
) -> FrameBarSource:
    """Open ``data`` as :func:`aifap.backtest` would and return its bars held in memory.

    A directory or a dict of frames already is a :class:`FrameBarSource`; the
    synthetic market is generated here, once; a store or service is read once (the
    base bars, funding and market rules of every symbol).
    """
    kind = _market(market)
    source: BarSource = open_source(data, kind, symbols)
    if isinstance(source, SyntheticMarket):
        source.frames()  # generate every symbol here, not on each worker
        return source
    if isinstance(source, FrameBarSource):
        return source
    names = list(symbols) if symbols is not None else list(source.symbols())
    bars = {}
    funding = {}
    for name in names:
        tf = base_timeframe(source, name, timeframe)
        bars[name] = {tf: source.bars(name, tf)}
        getter = getattr(source, "funding", None)
        rates = getter(name) if callable(getter) and kind is MarketType.FUTURES else None
        if rates is not None and len(rates):
            funding[name] = rates
    getter = getattr(source, "markets", None)
    markets = getter() if callable(getter) else None
    return FrameBarSource(bars, funding=funding, markets=markets, market=kind)


def local_cluster(workers: int | None = None, *, processes: bool = True) -> tuple[Any, Any]:
    """Start a sweep's ``LocalCluster`` on this machine; return it and a client of it.

    ``workers`` single-threaded workers (default: the machine's cores), Dask's
    statistical profiler off (:data:`LOCAL_CLUSTER_CONFIG`), and worker processes
    pinned one per core (:func:`pin_to_core`) when there are no more of them than cores.
    The caller closes both, the client first.
    """
    import dask
    from distributed import Client, LocalCluster

    try:
        with dask.config.set(LOCAL_CLUSTER_CONFIG):  # the nannies pass it on
            cluster = LocalCluster(
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=processes,
                dashboard_address=":0",  # no fixed port: machines run several clusters
            )
    except RuntimeError as exc:  # Dask says only "Nanny failed to start."
        raise ConfigError(
            f"the sweep's worker processes must start, they did not ({exc}). A script that "
            "runs a sweep must do it under `if __name__ == \"__main__\":` (each worker "
            "process imports the script again); or pass processes=False (threads)"
        ) from exc
    client = Client(cluster)
    if processes and len(cluster.workers) <= _cores():
        client.run(pin_to_core)
    return cluster, client


def _cores() -> int:
    """Return the cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _reachable(address: str) -> None:
    """Fail fast (OSError) when a ``tcp://host:port`` address refuses connections."""
    scheme, _, rest = address.partition("://")
    host, _, port = rest.rpartition(":")
    if scheme not in ("tcp", "tls") or not port.isdigit():
        return  # another transport: let Dask connect and report
    with socket.create_connection((host.strip("[]"), int(port)), timeout=10):
        pass


def _market(market: str) -> MarketType:
    try:
        return MarketType(market)
    except ValueError:
        raise ConfigError(f"market must be 'futures' or 'spot', was {market!r}") from None


def run_job(
    blob: bytes,
    source: FrameBarSource,
    base_config: Mapping[str, Any],
    kwargs: Mapping[str, Any],
    job: Job,
) -> Outcome:
    """Run one job on a worker: :func:`aifap.backtest` with the job's config.

    Any exception becomes the outcome's error (``Type: message``), so one failing
    combination does not stop the others.
    """
    try:
        fn = _unpack(blob)
        result = backtest(
            fn, source, **{**kwargs, **job.overrides}, config={**base_config, **job.params}
        )
    except Exception as exc:
        return Outcome(job, error=f"{type(exc).__name__}: {exc}")
    metrics = {k: v for k, v in result.metrics.items() if k not in SKIPPED_METRICS}
    return Outcome(job, metrics=metrics, equity=result.equity if job.keep_equity else None)


class Runner:
    """The Dask side of a sweep: cluster, scattered bars and strategy, progress.

    Use as a context manager; :meth:`run` returns the outcomes in job order.

    Args:
        strategy: the strategy (callable, file path, or ``module:function``).
        data: what :func:`aifap.backtest` accepts as ``data``.
        kwargs: the other keyword arguments of every backtest (none of :data:`RESERVED`).
        config: the base ``config_dict``; each job's parameters go on top of it.
        workers: worker processes of the local cluster (default: the machine's cores).
        scheduler: ``"tcp://host:port"`` of a running scheduler, or a
            ``distributed.Client`` (then ``workers`` is ignored and the client stays open).
        processes: run the local cluster's workers as processes (False: threads of
            this process, cheaper to start, for small sweeps and tests).
        progress: show a progress bar (tqdm: a widget in a notebook, text in a terminal).
    """

    def __init__(
        self,
        strategy: StrategyFn | str | Path,
        data: Any,
        kwargs: Mapping[str, Any],
        *,
        config: Mapping[str, Any] | None = None,
        workers: int | None = None,
        scheduler: Any = None,
        processes: bool = True,
        progress: bool = True,
    ) -> None:
        for reserved in RESERVED:
            if reserved in kwargs:
                raise ConfigError(f"{reserved} cannot be given to a sweep's backtests")
        if workers is not None and (
            isinstance(workers, bool) or int(workers) != workers or workers < 1
        ):
            raise ConfigError(f"workers must be an integer >= 1, was {workers!r}")
        if config is not None and not isinstance(config, Mapping):
            raise ConfigError(f"config must be a dict, was {type(config).__name__}")
        self.blob = pack_strategy(strategy)
        self.kwargs = {**kwargs, "progress": False}  # one bar for the sweep, not per backtest
        self.config = dict(config or {})
        self.source = in_memory_source(
            data,
            market=str(self.kwargs.get("market", "futures")),
            symbols=self.kwargs.get("symbols"),
            timeframe=self.kwargs.get("timeframe"),
        )
        self.workers = workers
        self.scheduler = scheduler
        self.processes = processes
        self.progress = progress
        self._client: Any = None
        self._owned: list[Any] = []
        self._refs: tuple[Any, Any] | None = None

    def __enter__(self) -> Runner:
        from distributed import Client

        if isinstance(self.scheduler, Client):
            self._client = self.scheduler
        elif self.scheduler is not None:
            if not isinstance(self.scheduler, str) or "://" not in self.scheduler:
                raise ConfigError(
                    "scheduler must be an address like 'tcp://host:8786' or a "
                    f"distributed.Client, was {self.scheduler!r}"
                )
            try:
                _reachable(self.scheduler)
                self._client = Client(self.scheduler, timeout=CONNECT_TIMEOUT)
            except OSError as exc:
                raise ConfigError(
                    f"scheduler must be a reachable Dask scheduler, "
                    f"{self.scheduler!r} was not: {exc}"
                ) from exc
            self._owned.append(self._client)
        else:
            cluster, self._client = local_cluster(self.workers, processes=self.processes)
            self._owned.extend((self._client, cluster))
        source = self._client.scatter(self.source, broadcast=True)
        blob = self._client.scatter(self.blob, broadcast=True)
        self._refs = (source, blob)
        return self

    def __exit__(self, *exc: object) -> None:
        for thing in self._owned:
            thing.close()
        self._owned.clear()
        self._client = None

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (inside the ``with`` block)."""
        if self._client is None:
            raise RuntimeError("Runner must be used inside a 'with' block")
        return self._client

    def slots(self) -> int:
        """Return how many tasks the cluster runs at once (its worker threads)."""
        threads: dict[str, int] = self.client.nthreads()
        return max(1, sum(threads.values()))

    def submit(self, job: Job) -> Any:
        """Submit one job; return its future."""
        assert self._refs is not None
        source, blob = self._refs
        return self.client.submit(
            run_job, blob, source, self.config, self.kwargs, job, pure=False, key=f"job-{job.key}"
        )

    def run(self, jobs: Sequence[Job], desc: str = "sweep") -> list[Outcome]:
        """Run every job; return their outcomes in job order."""
        by_key = {job.key: job for job in jobs}
        outcomes = {o.job.key: o for o in self.iterate(jobs, desc)}
        return [outcomes[key] for key in sorted(by_key)]

    def iterate(
        self, jobs: Sequence[Job], desc: str, more: Callable[[Outcome], Job | None] | None = None
    ) -> Iterator[Outcome]:
        """Yield outcomes as jobs finish; ``more`` may submit a new job after each."""
        from distributed import as_completed
        from tqdm.auto import tqdm

        pending = {}
        for job in jobs:
            future = self.submit(job)
            pending[future.key] = (future, job)
        done = as_completed([future for future, _ in pending.values()])
        with tqdm(total=len(jobs), desc=desc, unit="backtest", disable=not self.progress) as bar:
            for future in done:
                outcome = self._outcome(future, pending.pop(future.key)[1])
                future.release()
                bar.update(1)
                yield outcome
                follow = more(outcome) if more is not None else None
                if follow is not None:
                    new = self.submit(follow)
                    pending[new.key] = (new, follow)
                    done.add(new)
                    bar.total = (bar.total or 0) + 1
                    bar.refresh()

    @staticmethod
    def _outcome(future: Any, job: Job) -> Outcome:
        if future.status == "finished":
            outcome: Outcome = future.result()
            return outcome
        try:  # the worker died or the task was cancelled: still report the combination
            exc = future.exception()
            error = f"{type(exc).__name__}: {exc}"
        except Exception as raised:
            error = f"{type(raised).__name__}: {raised}"
        return Outcome(job, error=error)
