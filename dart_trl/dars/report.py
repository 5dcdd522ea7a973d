"""Progress of a synthesis run: a terminal progress bar, W&B logs per round, and end-of-run figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dart_trl.dars.synthesis import RoundSummary

FIGURE_FILE = "responses_per_query.png"
SAMPLE_TABLE_ROWS = 50


class Reporter:
    """Shows queries done in a tqdm bar and logs each round (and the end of the run) to ``run``."""

    def __init__(self, run: Any | None, total_queries: int, done_queries: int = 0):
        from tqdm.auto import tqdm

        self.run = run
        self.bar = tqdm(
            total=total_queries, initial=done_queries, desc="queries done", unit="q", dynamic_ncols=True
        )

    def round_done(self, summary: RoundSummary, _stats=None) -> None:
        """Advance the bar and log the round's numbers."""
        self.bar.n = summary.queries_done
        eta = "?" if summary.eta_seconds is None else f"{summary.eta_seconds / 60:.1f}min"
        self.bar.set_postfix(
            round=summary.round,
            raw=summary.raw_samples,
            correct=f"{summary.correct_rate:.2f}",
            sps=f"{summary.samples_per_second:.1f}",
            eta=eta,
            refresh=False,
        )
        self.bar.refresh()
        if self.run is not None:
            metrics = {
                "round": summary.round,
                "queries_done": summary.queries_done,
                "queries_done_share": summary.queries_done / max(summary.queries_total, 1),
                "raw_samples": summary.raw_samples,
                "round_samples": summary.round_samples,
                "correct_rate": summary.correct_rate,
                "samples_per_second": summary.samples_per_second,
            }
            if summary.eta_seconds is not None:
                metrics["eta_seconds"] = summary.eta_seconds
            self.run.log(metrics)

    def finish(self, info, rows: list[dict], figure: Path | None) -> None:
        """Log the Figure-1 plot, histograms of pass rate and target, a sample table and summary counts."""
        self.bar.close()
        if self.run is None:
            return
        import wandb

        from dart_trl.tracking.runs import finish_wandb

        logs: dict[str, Any] = {
            "pass_rate_hist": wandb.Histogram(info["pass_rate"].dropna().tolist() or [0.0]),
            "responses_per_query_hist": wandb.Histogram(info["n_responses"].tolist() or [0]),
        }
        targets = info["target"].dropna().astype(int).tolist()
        if targets:
            logs["target_hist"] = wandb.Histogram(targets)
        if figure is not None and figure.is_file():
            logs["responses_per_query"] = wandb.Image(str(figure))
        columns = ["query_id", "level", "domain", "query", "response", "answer", "gold"]
        table = wandb.Table(columns=columns)
        for row in rows[:SAMPLE_TABLE_ROWS]:
            table.add_data(*[row.get(c) for c in columns])
        logs["samples"] = table
        self.run.log(logs)
        self.run.summary.update(summary_counts(info))
        finish_wandb(self.run)


def summary_counts(info) -> dict[str, Any]:
    """End-of-run counts: queries, raw samples, responses, queries with a pool_info pass rate, and
    queries per stop reason."""
    counts = {
        "num_queries": int(len(info)),
        "total_raw_samples": int(info["n_samples"].sum()),
        "total_corrects": int(info["n_corrects"].sum()),
        "num_responses": int(info["n_responses"].sum()),
        "queries_without_response": int((info["n_responses"] == 0).sum()),
        "queries_with_known_pass_rate": int(info["known_pass_rate"].notna().sum()),
    }
    for reason, n in info["stop_reason"].value_counts().items():
        counts[f"stop_{reason}"] = int(n)
    return counts


def plot_responses_per_query(info, path: Path, title: str) -> Path:
    """The paper's Figure 1: responses per query, queries sorted from hardest to easiest."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = info.assign(_p=info["pass_rate"].fillna(0.0)).sort_values("_p", kind="stable")
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=120)
    ax.scatter(range(len(ordered)), ordered["n_responses"], s=4, alpha=0.6)
    ax.set_xlabel("queries, hardest (lowest pass rate) first")
    ax.set_ylabel("responses in the dataset")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def pooled_difficulty(infos: dict[str, Any]):
    """Per query: level and the pass rate over the samples of every run in ``infos`` (same pool, same model)."""
    import pandas as pd

    frame = pd.concat([info[["query_id", "level", "n_samples", "n_corrects"]] for info in infos.values()])
    pooled = frame.groupby("query_id").agg(
        level=("level", "first"), n_samples=("n_samples", "sum"), n_corrects=("n_corrects", "sum")
    )
    pooled["pass_rate"] = pooled["n_corrects"] / pooled["n_samples"].where(pooled["n_samples"] > 0)
    return pooled


def plot_strategies(infos: dict[str, Any], path: Path, title: str, window: int = 9) -> Path:
    """The paper's Figure 1 for several DARS runs over one pool, overlaid: responses per query.

    Left: queries sorted from easiest to hardest by their pass rate over all the runs' samples (ties
    by level), each run's responses per query as faint points and a running mean over ``window``
    queries. Right: mean responses per query of each level, one bar per run. ``infos`` maps a label
    (the strategy) to the run's ``query_info`` frame.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pooled = pooled_difficulty(infos)
    order = pooled.assign(_p=pooled["pass_rate"].fillna(0.0)).sort_values(
        ["_p", "level"], ascending=[False, True]
    )
    rank = {qid: i for i, qid in enumerate(order.index)}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), dpi=120, gridspec_kw={"width_ratios": [2, 1]})
    levels = sorted(pooled["level"].dropna().unique())
    width = 0.8 / max(len(infos), 1)
    for i, (label, info) in enumerate(infos.items()):
        ordered = info.assign(_rank=info["query_id"].map(rank)).sort_values("_rank")
        (line,) = left.plot(
            ordered["_rank"],
            ordered["n_responses"].rolling(window, center=True, min_periods=1).mean(),
            label=label,
            linewidth=2,
        )
        left.scatter(ordered["_rank"], ordered["n_responses"], s=6, alpha=0.25, color=line.get_color())
        per_level = info.groupby("level")["n_responses"].mean().reindex(levels)
        xs = [j + (i - (len(infos) - 1) / 2) * width for j in range(len(levels))]
        right.bar(xs, per_level.values, width, label=label, color=line.get_color())
    left.set_xlabel("queries, easiest to hardest (pass rate over all samples)")
    left.set_ylabel("responses in the dataset")
    left.set_title(f"{title}: responses per query (running mean of {window})", fontsize="medium")
    left.legend(fontsize="small")
    right.set_xticks(range(len(levels)), [f"level {int(lv)}" for lv in levels])
    right.set_ylabel("mean responses per query")
    right.set_title("per level", fontsize="medium")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
