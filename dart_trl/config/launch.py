"""Recipe keys every job accepts, read by the launcher (``accelerate launch``) rather than the job itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dart_trl.config.resources import resolve_accelerate_config


@dataclass
class LaunchArguments:
    """How the job is launched: accelerate config, processes, port, exported environment."""

    accelerate_config: str | None = field(
        default=None,
        metadata={
            "help": "Accelerate config: the name of a shipped one (single_gpu, ddp, zero2, zero3, fsdp2, "
            "cpu_ddp) or a path. Only used by training jobs (sft, grpo)."
        },
    )
    num_processes: int | None = field(
        default=None,
        metadata={"help": "Processes for `accelerate launch` (overrides the accelerate config's value)."},
    )
    main_process_port: int | None = field(
        default=None,
        metadata={
            "help": "Rendezvous port for `accelerate launch` with several processes (default 29500); give each "
            "concurrent multi-process job on one machine its own port."
        },
    )
    env: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "Environment variables exported before the job starts, e.g. {WANDB_PROJECT: dart}."
        },
    )

    def __post_init__(self) -> None:
        if self.accelerate_config is not None:
            resolve_accelerate_config(self.accelerate_config)
        if self.num_processes is not None and self.num_processes < 1:
            raise ValueError(f"num_processes must be at least 1, got {self.num_processes}")
        if self.main_process_port is not None and not 1 <= self.main_process_port <= 65535:
            raise ValueError(f"main_process_port must be a TCP port (1-65535), got {self.main_process_port}")
