"""Recipe keys of ``dart-trl generate`` beyond sampling (``SamplingArguments``) and launching."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STRATEGIES = ("vrt", "uniform", "prop2diff")


@dataclass
class DarsArguments:
    """Difficulty-aware rejection sampling: what to sample from, how much, and where to write it."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Model that writes the responses: a Hub id or a local directory."}
    )
    strategy: str = field(
        default="prop2diff",
        metadata={
            "help": "vrt: max_trials samples per query, keep the correct ones; uniform: k_u correct "
            "responses per query; prop2diff: k_p * fail_rate / max_fail_rate correct responses per query.",
            "choices": STRATEGIES,
        },
    )
    k_u: int = field(default=40, metadata={"help": "uniform: correct responses wanted per query."})
    k_p: int = field(
        default=192, metadata={"help": "prop2diff: correct responses wanted for the hardest query."}
    )
    max_trials: int = field(
        default=2048, metadata={"help": "Most raw samples per query (vrt: exactly this many)."}
    )
    probe_samples: int = field(
        default=8,
        metadata={
            "help": "First samples of a query without known difficulty; they estimate its pass rate "
            "and count as data too."
        },
    )
    pools: list[dict[str, Any]] = field(
        default_factory=list,
        metadata={
            "help": "Query pools: a list of mappings with keys source (Hub id or local file), split, "
            "config, name, id, query, answer or solution (gold = last \\boxed{}), gold_format "
            "(plain|gsm8k), level, domain, values (constants such as {domain: GSM8K}), filters "
            "({column: value or [values]}), limit."
        },
    )
    pool_info: str | None = field(
        default=None,
        metadata={
            "help": "Difficulty file (local file or Hub id) with query_id and pass_rate (or "
            "tot_n_samples/tot_n_corrects), e.g. hkust-nlp/dart-math-pool-math-query-info. Queries not "
            "in it are estimated online."
        },
    )
    prompt_template: str = field(
        default="deepseekmath", metadata={"help": "Prompt template name (dart_trl.templates)."}
    )
    output_dir: str | None = field(
        default=None,
        metadata={"help": "Output directory: raw/, state.json, dataset/train.parquet, query_info.parquet."},
    )
    request_fraction: float = field(
        default=0.7,
        metadata={
            "help": "Each round asks a query for this share of the samples it is expected to still "
            "need (remaining / pass rate); lower wastes less, higher needs fewer rounds."
        },
    )
    max_rounds: int = field(default=100, metadata={"help": "Most sampling rounds; unfinished queries stop."})
    max_samples_per_round: int = field(
        default=1 << 20, metadata={"help": "Cap on one round's raw samples (requests are scaled down)."}
    )
    chunk_samples: int = field(
        default=16384,
        metadata={"help": "Raw samples per engine call; results are graded and written after each."},
    )
    grading_timeout: float = field(
        default=5.0, metadata={"help": "Seconds per symbolic equivalence check before it counts as wrong."}
    )
    plan_samples_per_second: float | None = field(
        default=None,
        metadata={"help": "--plan: engine throughput (raw samples/s) for the GPU-hours estimate."},
    )
    plan_pass_rates: dict[str, float] = field(
        default_factory=lambda: {"1": 0.9, "2": 0.8, "3": 0.65, "4": 0.5, "5": 0.3, "default": 0.6},
        metadata={"help": "--plan without pool_info: assumed pass rate per level ('default' for the rest)."},
    )
    report_to: str = field(default="wandb", metadata={"help": "wandb or none."})
    run_name: str | None = field(default=None, metadata={"help": "W&B run name (default: output dir name)."})
    push_to_hub: bool = field(default=False, metadata={"help": "Push the final dataset and card to the Hub."})
    hub_dataset_id: str | None = field(
        default=None, metadata={"help": "Hub dataset repo for push_to_hub, e.g. me/dart-math-hard."}
    )
    hub_private: bool = field(default=False, metadata={"help": "Create the Hub dataset as private."})
