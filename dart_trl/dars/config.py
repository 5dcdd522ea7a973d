"""Recipe keys of ``dart-trl generate`` beyond sampling (``SamplingArguments``) and launching."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from dart_trl.dars.difficulty import PoolInfoSpec, info_specs
from dart_trl.dars.pools import PoolSpec
from dart_trl.dars.strategies import STRATEGIES, Strategy, get_strategy
from dart_trl.templates import TemplateName


@dataclass
class DarsArguments:
    """Difficulty-aware rejection sampling: what to sample from, how much, and where to write it."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Model that writes the responses: a Hub id or a local directory."}
    )
    strategy: str = field(
        default="prop2diff",
        metadata={
            "help": f"One of {list(STRATEGIES)} or the import path of a Strategy of your own. vrt: "
            "max_trials samples per query, keep the correct ones; uniform: k_u correct responses per query; "
            "prop2diff: k_p * fail_rate / max_fail_rate correct responses per query."
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
    pools: list[PoolSpec] = field(
        default_factory=list,
        metadata={"help": "Query pools: a list of PoolSpec mappings (keys below)."},
    )
    pool_info: str | list[str | PoolInfoSpec] | None = field(
        default=None,
        metadata={
            "help": "Known difficulty: pool-info tables (Hub ids or files, or PoolInfoSpec mappings, keys "
            "below) with a query id and a pass rate, e.g. [hkust-nlp/dart-math-pool-math-query-info, "
            "hkust-nlp/dart-math-pool-gsm8k-query-info]; joined to the pools by id or by query text. "
            "Queries not in them are estimated online; a table matching no query is an error."
        },
    )
    prompt_template: TemplateName = field(
        default="deepseekmath",
        metadata={"help": "Prompt template the queries are put in (dart_trl.templates)."},
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
    report_to: Literal["wandb", "none"] = field(default="wandb", metadata={"help": "Log to W&B, or not."})
    run_name: str | None = field(
        default=None,
        metadata={
            "help": "W&B run name (default: output dir name; -shard-00i-of-00N or -merge added for --shard or --merge)."
        },
    )
    push_to_hub: bool = field(default=False, metadata={"help": "Push the final dataset and card to the Hub."})
    hub_dataset_id: str | None = field(
        default=None, metadata={"help": "Hub dataset repo for push_to_hub, e.g. me/dart-math-hard."}
    )
    hub_private: bool = field(default=False, metadata={"help": "Create the Hub dataset as private."})

    @cached_property
    def rule(self) -> Strategy:
        """The object that ``strategy`` names: its targets, stop rule and request sizing read this recipe."""
        return get_strategy(self.strategy)

    @property
    def pool_info_specs(self) -> list[PoolInfoSpec]:
        """The ``pool_info`` tables as entries (a bare source is an entry with the defaults)."""
        return info_specs(self.pool_info)

    def __post_init__(self) -> None:
        get_strategy(self.strategy)
        for key in ("k_u", "k_p", "max_trials", "max_rounds", "max_samples_per_round", "chunk_samples"):
            if getattr(self, key) < 1:
                raise ValueError(f"'{key}' must be at least 1, got {getattr(self, key)}")
        if self.probe_samples < 0:
            raise ValueError(f"'probe_samples' must be >= 0, got {self.probe_samples}")
        if not 0 < self.request_fraction <= 4:
            raise ValueError(f"'request_fraction' must be in (0, 4], got {self.request_fraction}")
        if self.grading_timeout <= 0:
            raise ValueError(f"'grading_timeout' must be > 0 seconds, got {self.grading_timeout}")
        if self.push_to_hub and not self.hub_dataset_id:
            raise ValueError("push_to_hub needs 'hub_dataset_id'")
        bad = {k: v for k, v in self.plan_pass_rates.items() if not 0 <= v <= 1}
        if bad:
            raise ValueError(f"'plan_pass_rates' must be probabilities in [0, 1], got {bad}")
        if self.plan_samples_per_second is not None and self.plan_samples_per_second <= 0:
            raise ValueError(f"'plan_samples_per_second' must be > 0, got {self.plan_samples_per_second}")
