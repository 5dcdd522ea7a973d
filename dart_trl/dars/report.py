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
