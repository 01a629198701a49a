"""``aifap.sweep(...)``: one backtest per parameter combination, on Dask workers."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from aifap.core.errors import ConfigError
from aifap.research.execute import Job, Outcome, Runner
from aifap.research.grid import check_grid, combinations, sample
from aifap.research.objective import OBJECTIVES, check_objective, score
from aifap.strategy import StrategyFn

SEARCHES = ("grid", "random", "optuna")


@dataclass
class SweepResult:
    """The outcome of :func:`aifap.sweep`.

    Attributes:
        table: one row per combination (per trial with ``search='optuna'``): the
            parameters, then the metrics of :func:`aifap.backtest` (``final_equity``,
            ``roe``, ``sharpe``, ``max_drawdown``, ``trades``, ``fees``, ``funding``…),
            then ``error`` (None, or ``Type: message`` for a combination that failed).
        params: the parameter names (the first columns of ``table``).
        objective: the metric ranked by; ``best`` is the row that does best on it.
        settings: the sweep's arguments (search, trials, backtest keyword arguments).
    """

    table: pd.DataFrame
    params: list[str]
    objective: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> pd.DataFrame:
        """The rows of the combinations that ran."""
        return self.table[self.table["error"].isna()]

    @property
    def failed(self) -> pd.DataFrame:
        """The rows of the combinations that failed, with their parameters and error."""
        return self.table[self.table["error"].notna()]

    @property
    def best(self) -> pd.Series:
        """The best row on the objective (ties: the first in grid order).

        Raises:
            ValueError: no combination ran.
        """
        ok = self.ok
        if ok.empty:
            raise ValueError(f"no combination ran; errors: {self.failed['error'].tolist()}")
        scores = [score(self.objective, v) for v in ok[self.objective]]
        return ok.iloc[max(range(len(scores)), key=lambda i: (scores[i], -i))]

    @property
    def best_params(self) -> dict[str, Any]:
        """The parameters of :attr:`best` as a dict (for ``config_dict``)."""
        row = self.best
        return {name: _plain(row[name]) for name in self.params}

    def __repr__(self) -> str:
        text = f"SweepResult({len(self.table)} rows, {len(self.failed)} failed"
        if len(self.ok):
            text += f", best {self.objective}={self.best[self.objective]} at {self.best_params}"
        return text + ")"

    def heatmap(self, x: str, y: str, metric: str | None = None, ax: Any = None) -> Any:
        """Plot ``metric`` (default: the objective) over parameters ``x`` and ``y``.

        With more than two parameters each cell shows the best value over the others
        (best by the metric's direction when it is an objective, else the maximum).
        Failed combinations are blank. Returns the matplotlib figure.

        Raises:
            ConfigError: ``x`` or ``y`` is not a parameter, or ``metric`` not a column.
        """
        import matplotlib.pyplot as plt

        metric = metric or self.objective
        for name, value in (("x", x), ("y", y)):
            if value not in self.params:
                raise ConfigError(f"{name} must be one of {self.params}, was {value!r}")
        if x == y:
            raise ConfigError(f"x and y must be different parameters, were both {x!r}")
        if metric not in self.table.columns or metric in self.params or metric == "error":
            raise ConfigError(f"metric must be a metric column of the table, was {metric!r}")
        values = pd.to_numeric(self.ok[metric], errors="coerce")
        frame = self.ok[[x, y]].assign(value=values)
        larger = OBJECTIVES.get(metric, True)
        grid = frame.pivot_table(
            index=y, columns=x, values="value", aggfunc="max" if larger else "min"
        )
        grid = grid.reindex(index=_ordered(self.table[y]), columns=_ordered(self.table[x]))
        if ax is None:
            fig, ax = plt.subplots(figsize=(1.2 * len(grid.columns) + 3, 0.8 * len(grid.index) + 2))
        else:
            fig = ax.figure
        image = ax.imshow(grid.to_numpy(dtype=float), cmap="viridis", aspect="auto", origin="lower")
        ax.set_xticks(range(len(grid.columns)), [str(c) for c in grid.columns])
        ax.set_yticks(range(len(grid.index)), [str(i) for i in grid.index])
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(f"{metric} by {x} and {y}")
        for (i, j), value in pd.DataFrame(grid.to_numpy()).stack().items():
            if isinstance(value, float) and math.isfinite(value):
                ax.text(j, i, f"{value:.3g}", ha="center", va="center", color="white", fontsize=8)
        fig.colorbar(image, ax=ax, label=metric)
        return fig

    def save(self, directory: str | Path) -> Path:
        """Write the table (CSV and parquet), the best combination and the heatmap.

        Files in ``directory``: ``table.csv``, ``table.parquet``, ``best.json`` and, with
        two or more parameters, ``heatmap.png`` (the objective over the first two).
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.table.to_csv(out / "table.csv", index=False)
        mixed = [c for c in self.table.columns if self.table[c].dtype == object]
        self.table.astype(dict.fromkeys(mixed, "string")).to_parquet(
            out / "table.parquet", index=False
        )  # an object column may mix types (a grid of 40 and "forty"): parquet wants one
        payload = {
            "objective": self.objective,
            "params": self.params,
            "best": self.best_params if len(self.ok) else None,
            "best_metrics": json.loads(self.best.drop(self.params).to_json())
            if len(self.ok)
            else None,
            "failed": len(self.failed),
            "settings": self.settings,
        }
        text = json.dumps(payload, indent=2, sort_keys=True, default=str)
        (out / "best.json").write_text(text + "\n")
        if len(self.params) >= 2 and len(self.ok):
            import matplotlib.pyplot as plt

            fig = self.heatmap(self.params[0], self.params[1])
            fig.savefig(out / "heatmap.png", dpi=100, bbox_inches="tight")
            plt.close(fig)
        return out


def sweep(
    strategy: StrategyFn | str | Path,
    data: Any = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
    *,
    objective: str = "sharpe",
    search: str = "grid",
    trials: int | None = None,
    seed: int = 0,
    workers: int | None = None,
    scheduler: Any = None,
    processes: bool = True,
    progress: bool = True,
    config: Mapping[str, Any] | None = None,
    **backtest_kwargs: Any,
) -> SweepResult:
    """Backtest ``strategy`` once per parameter combination of ``grid``, on Dask.

    Each row of the result equals ``aifap.backtest(strategy, data, config={**config,
    **params}, **backtest_kwargs)`` exactly: the workers run that very function on the
    same bars (opened once here and scattered to every worker once).

    Args:
        strategy: ``strategy(context, config_dict)`` (a notebook function is shipped by
            value with cloudpickle), a ``.py`` file path or ``module:function``.
        data: as :func:`aifap.backtest` (None: the built-in synthetic market).
        grid: ``{"lookback": [10, 20, 40], "window": [50, 100]}``; each combination
            goes into ``config_dict`` on top of ``config``.
        objective: the metric ranked by (``sharpe``, ``roe``, ``max_drawdown``… see
            :data:`aifap.research.objective.OBJECTIVES`).
        search: ``'grid'`` (every combination), ``'random'`` (``trials`` distinct
            combinations drawn with ``seed``) or ``'optuna'`` (``trials`` trials of
            Optuna's TPE sampler over the grid's values, ``seed``-ed; as many run at
            once as the cluster has worker threads).
        trials: how many combinations for ``random`` and ``optuna``.
        seed: the random seed of ``random`` and ``optuna``.
        workers: worker processes of the local cluster (default: the machine's cores).
        scheduler: ``"tcp://host:8786"`` of a running Dask scheduler, or a
            ``distributed.Client``; default: a new local cluster, closed afterwards.
        processes: False runs the local cluster's workers as threads of this process.
        progress: show a progress bar (a widget in a notebook, text in a terminal).
        config: the base ``config_dict`` of every combination.
        **backtest_kwargs: the other arguments of :func:`aifap.backtest` (``symbols``,
            ``start``, ``end``, ``rebalance_every``, ``fee_rate``…).

    The default local cluster starts worker processes (spawned): a plain script that
    calls ``sweep`` must do so under ``if __name__ == "__main__":`` (a notebook needs
    nothing; ``processes=False`` runs threads instead).

    Raises:
        ConfigError: a bad grid, objective, search, trials or workers (naming it), or
            an unreachable ``scheduler``.
        StrategyError: the strategy cannot be loaded.
    """
    space = check_grid(grid if grid is not None else {})
    check_objective(objective)
    if search not in SEARCHES:
        raise ConfigError(f"search must be one of {', '.join(SEARCHES)}, was {search!r}")
    if search == "grid" and trials is not None:
        raise ConfigError("trials must not be given with search='grid' (it runs every combination)")
    if search != "grid" and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        raise ConfigError(f"trials must be an integer >= 1 with search={search!r}, was {trials!r}")
    settings = {"search": search, "trials": trials, "seed": seed, **backtest_kwargs}
    with Runner(
        strategy,
        data,
        backtest_kwargs,
        config=config,
        workers=workers,
        scheduler=scheduler,
        processes=processes,
        progress=progress,
    ) as runner:
        if search == "optuna":
            assert trials is not None
            outcomes = _optuna(runner, space, objective, trials, seed)
        else:
            chosen = combinations(space) if search == "grid" else sample(space, trials or 0, seed)
            outcomes = runner.run([Job(i, p) for i, p in enumerate(chosen)])
    return SweepResult(to_table(outcomes, list(space)), list(space), objective, settings)


def to_table(outcomes: Sequence[Outcome], params: list[str]) -> pd.DataFrame:
    """Return the outcomes as a table: parameters, metrics, ``error``; one row each."""
    rows = [{**o.job.params, **o.metrics, "error": o.error} for o in outcomes]
    metrics: list[str] = []
    for o in outcomes:
        metrics.extend(k for k in o.metrics if k not in metrics and k not in params)
    frame = pd.DataFrame(rows, columns=[*params, *metrics, "error"])
    frame["error"] = frame["error"].astype(object).where(frame["error"].notna(), None)
    return frame


def _optuna(
    runner: Runner, space: dict[str, list[Any]], objective: str, trials: int, seed: int
) -> list[Outcome]:
    import optuna
    from optuna.distributions import BaseDistribution, CategoricalDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    distributions: dict[str, BaseDistribution] = {
        name: CategoricalDistribution(values) for name, values in space.items()
    }
    asked: dict[int, Any] = {}

    def ask() -> Job:
        trial = study.ask(distributions)
        asked[trial.number] = trial
        return Job(trial.number, dict(trial.params))

    first = [ask() for _ in range(min(trials, runner.slots()))]
    outcomes: list[Outcome] = []

    def more(outcome: Outcome) -> Job | None:
        trial = asked.pop(outcome.job.key)
        value = score(objective, outcome.metrics.get(objective)) if outcome.error is None else None
        if value is None or not math.isfinite(value):
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, value)
        outcomes.append(outcome)
        return ask() if len(outcomes) + len(asked) < trials else None

    for _ in runner.iterate(first, "optuna", more):
        pass
    return sorted(outcomes, key=lambda o: o.job.key)


def _ordered(values: pd.Series) -> list[Any]:
    return list(dict.fromkeys(values.tolist()))


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
