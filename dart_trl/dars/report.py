"""Progress of a synthesis run: a terminal progress bar, W&B logs per round, and end-of-run figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dart_trl.dars.synthesis import RoundSummary

FIGURE_FILE = "responses_per_query.png"
PREFIX = "dars/"  # every key a generate run logs (docs/wandb.md)
SAMPLE_TABLE_ROWS = 50
QUERY_TABLE_ROWS = 200_000  # W&B's limit on the rows of a logged table
QUERY_COLUMNS = {  # per-query W&B table column: query_info.parquet column
    "query_id": "query_id",
    "level": "level",
    "pass_rate": "pass_rate",
    "samples": "n_samples",
    "responses": "n_responses",
    "target": "target",
    "stop_reason": "stop_reason",
}
LEVEL_COLUMNS = ("level", "questions", "samples", "accuracy", "responses", "responses_per_question",
                 "questions_without_response")  # fmt: skip


class Reporter:
    """Shows queries done in a tqdm bar and logs each round (and the end of the run) to ``run``."""

    def __init__(self, run: Any | None, total_queries: int, done_queries: int = 0):
        from tqdm.auto import tqdm

        self.run = run
        self.bar = tqdm(
            total=total_queries, initial=done_queries, desc="queries done", unit="q", dynamic_ncols=True
        )
        self.samples = 0  # sampled by this process, and the seconds it took: the run's throughput
        self.seconds = 0.0
        if run is not None:  # per-round values are drawn against the round, not W&B's step
            run.define_metric(f"{PREFIX}round")
            run.define_metric(f"{PREFIX}round/*", step_metric=f"{PREFIX}round")
            run.define_metric(f"{PREFIX}progress/*", step_metric=f"{PREFIX}round")

    def round_done(self, summary: RoundSummary, _stats=None) -> None:
        """Advance the bar and log the round's numbers (``dars/round/*``) and the progress so far."""
        self.bar.n = summary.queries_done
        self.samples += summary.round_samples
        self.seconds += summary.seconds
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
                f"{PREFIX}round": summary.round,
                f"{PREFIX}round/samples": summary.round_samples,
                f"{PREFIX}round/accuracy": summary.correct_rate,
                f"{PREFIX}round/samples_per_second": summary.samples_per_second,
                f"{PREFIX}progress/questions_done": summary.queries_done,
                f"{PREFIX}progress/questions_done_share": summary.queries_done
                / max(summary.queries_total, 1),
                f"{PREFIX}progress/samples": summary.raw_samples,
            }
            if summary.eta_seconds is not None:
                metrics[f"{PREFIX}progress/eta_seconds"] = summary.eta_seconds
            self.run.log(metrics)

    def finish(self, info, rows: list[dict], figure: Path | None) -> None:
        """Log the run's totals and per-level numbers (summary), the per-level and per-query tables, the
        Figure-1 plot, histograms of pass rate and target, and a sample of the dataset."""
        self.bar.close()
        if self.run is None:
            return
        import wandb

        from dart_trl.tracking.runs import finish_wandb

        logs: dict[str, Any] = {
            f"{PREFIX}pass_rate_hist": wandb.Histogram(info["pass_rate"].dropna().tolist() or [0.0]),
            f"{PREFIX}responses_per_question_hist": wandb.Histogram(info["n_responses"].tolist() or [0]),
            f"{PREFIX}levels": wandb.Table(dataframe=level_table(info)),
            f"{PREFIX}queries": query_table(info),
        }
        targets = info["target"].dropna().astype(int).tolist()
        if targets:
            logs[f"{PREFIX}target_hist"] = wandb.Histogram(targets)
        if figure is not None and figure.is_file():
            logs[f"{PREFIX}responses_per_query"] = wandb.Image(str(figure))
        logs[f"{PREFIX}samples_table"] = sample_table(rows)
        self.run.log(logs)
        totals = summary_counts(info)
        if self.seconds > 0:
            totals["samples_per_second"] = self.samples / self.seconds
        self.run.summary.update({f"{PREFIX}{k}": v for k, v in totals.items()})
        self.run.summary.update(level_summary(info))
        finish_wandb(self.run)


def level_table(info):
    """Per level (``none`` for queries without one): questions, samples, accuracy (correct samples over
    samples), responses kept, responses per question, questions with no response."""
    import pandas as pd

    frame = info.assign(level=info["level"].astype("string").fillna("none"))
    rows = []
    for level, part in frame.groupby("level", sort=True):
        samples = int(part["n_samples"].sum())
        responses = int(part["n_responses"].sum())
        rows.append(
            {
                "level": str(level),
                "questions": len(part),
                "samples": samples,
                "accuracy": float(part["n_corrects"].sum() / samples) if samples else None,
                "responses": responses,
                "responses_per_question": responses / len(part),
                "questions_without_response": int((part["n_responses"] == 0).sum()),
            }
        )
    return pd.DataFrame(rows, columns=list(LEVEL_COLUMNS))


def level_summary(info) -> dict[str, Any]:
    """The per-level table as summary keys ``dars/level_<level>/<column>``, one value each."""
    summary = {}
    for row in level_table(info).to_dict("records"):
        level = row.pop("level")
        summary.update({f"{PREFIX}level_{level}/{k}": v for k, v in row.items() if v is not None})
    return summary


def query_table(info):
    """The per-query W&B table (the first :data:`QUERY_TABLE_ROWS` queries of ``query_info``)."""
    import wandb

    part = info.head(QUERY_TABLE_ROWS)
    frame = part[list(QUERY_COLUMNS.values())].set_axis(list(QUERY_COLUMNS), axis=1)
    frame = frame.astype({"level": "float64", "target": "float64"})  # W&B tables take no pandas NA
    return wandb.Table(dataframe=frame.astype(object).where(frame.notna(), None))


def sample_table(rows: list[dict]):
    """A W&B table of the first :data:`SAMPLE_TABLE_ROWS` rows of the dataset."""
    import wandb

    columns = ["query_id", "level", "domain", "query", "response", "answer", "gold"]
    return wandb.Table(
        columns=columns, data=[[row.get(c) for c in columns] for row in rows[:SAMPLE_TABLE_ROWS]]
    )


def summary_counts(info) -> dict[str, Any]:
    """End-of-run totals: questions, samples and their accuracy, responses, questions without a response
    or with a pool_info pass rate, and questions per stop reason (``stop/<reason>``)."""
    samples = int(info["n_samples"].sum())
    counts = {
        "questions": int(len(info)),
        "samples": samples,
        "correct_samples": int(info["n_corrects"].sum()),
        "accuracy": float(info["n_corrects"].sum() / samples) if samples else 0.0,
        "responses": int(info["n_responses"].sum()),
        "questions_without_response": int((info["n_responses"] == 0).sum()),
        "questions_with_known_pass_rate": int(info["known_pass_rate"].notna().sum()),
    }
    for reason, n in info["stop_reason"].value_counts().items():
        counts[f"stop/{reason}"] = int(n)
    return counts


def plot_responses_per_query(info, path: Path, title: str) -> Path:
    """The paper's Figure 1 for one run: responses per query, one colour per level; queries ordered by
    level, then from hardest to easiest within it, so runs over one pool line up level by level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = info.assign(_p=info["pass_rate"].fillna(0.0), _level=info["level"].astype("float64"))
    ordered = ordered.sort_values(["_level", "_p"], kind="stable", na_position="last").reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=120)
    for level, part in ordered.groupby(ordered["level"].astype("string").fillna("none"), sort=False):
        ax.scatter(part.index, part["n_responses"], s=4, alpha=0.6, label=f"level {level}")
    if ordered["level"].notna().any():
        ax.legend(fontsize="small", markerscale=3)
    ax.set_xlabel("queries by level, hardest (lowest pass rate) first within a level")
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
