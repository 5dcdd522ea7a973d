"""Recipe keys every job that logs to W&B accepts: where its run goes and how it is found again."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class WandbArguments:
    """The W&B project, group and tags of the job's run (docs/wandb.md: one rule for every job)."""

    wandb_project: str | None = field(
        default=None, metadata={"help": "W&B project (default: $WANDB_PROJECT, else 'dart-trl')."}
    )
    wandb_group: str | None = field(
        default=None,
        metadata={
            "help": "W&B group, e.g. one per comparison (default: $WANDB_RUN_GROUP; for grpo, else the "
            "output_dir's name)."
        },
    )
    wandb_tags: list[str] = field(
        default_factory=list, metadata={"help": "W&B tags of the run, e.g. [mistral-7b, prop2diff]."}
    )

    def __post_init__(self) -> None:
        if isinstance(self.wandb_tags, str):
            self.wandb_tags = [self.wandb_tags]
        if not all(isinstance(tag, str) and tag for tag in self.wandb_tags):
            raise ValueError(f"wandb_tags must be a list of non-empty strings, got {self.wandb_tags!r}")
