"""``dart-trl demo``: the whole pipeline on tiny local models, on CPU, with no network.

Every step runs the real job through the ``dart-trl`` command, on the shipped tiny recipes:

1. build a tiny teacher and SFT it on a synthetic arithmetic pool, so it solves easy queries and
   fails harder ones;
2. DARS Prop2Diff with the teacher (vLLM when installed, else transformers);
3. SFT a fresh tiny student on the synthesised data;
4. probe the student on the pool and label levels from the student's and teacher's pass rates, then
   run two GRPO stages (level 1, then level 2) starting from the student;
5. evaluate the untrained student, the teacher, the student and the RL model on a held-out
   benchmark, and compare them.

All runs share one W&B group (offline unless ``WANDB_MODE`` says otherwise).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dart_trl.config import RecipeError, parse_options, run_guarded
from dart_trl.config.resources import shipped_dir
from dart_trl.demo.arithmetic import build_demo_data, corpus
from dart_trl.demo.tiny import build_tiny_model
from dart_trl.processes import watched
from dart_trl.sampling import vllm_available
from dart_trl.tracking.offline import find_runs

RECIPES = shipped_dir("recipes")


@dataclass
class DemoArguments:
    """Options of ``dart-trl demo``; the defaults are the embedded demo."""

    output_dir: str = field(
        default="outputs/demo", metadata={"help": "Where every artifact of the demo goes."}
    )
    quick: bool = field(
        default=False, metadata={"help": "A smaller, faster run (what CI runs): fewer queries and steps."}
    )
    backend: Literal["auto", "vllm", "transformers"] = field(
        default="auto",
        metadata={
            "help": "Sampling backend for synthesis and evaluation: auto (vllm when installed), vllm, "
            "transformers."
        },
    )
    seed: int = field(default=0, metadata={"help": "Seed of the data, the models and the sampling."})
    wandb_group: str | None = field(
        default=None, metadata={"help": "W&B group of all runs (default: demo-<time>)."}
    )


@dataclass(frozen=True)
class Sizes:
    """How big the demo is: queries per difficulty, training epochs and steps, samples."""

    per_kind: int
    teacher_epochs: int
    student_epochs: int
    k_p: int
    max_trials: int
    grpo_steps: tuple[int, int]


FULL = Sizes(per_kind=40, teacher_epochs=40, student_epochs=30, k_p=8, max_trials=48, grpo_steps=(8, 8))
QUICK = Sizes(per_kind=16, teacher_epochs=30, student_epochs=20, k_p=4, max_trials=16, grpo_steps=(2, 2))


class Pipeline:
    """Runs the demo's steps as ``dart-trl`` subprocesses and remembers where their outputs went."""

    def __init__(self, args: DemoArguments):
        self.args = args
        self.sizes = QUICK if args.quick else FULL
        self.out = Path(args.output_dir).resolve()
        self.backend = (
            args.backend if args.backend != "auto" else ("vllm" if vllm_available() else "transformers")
        )
        self.group = args.wandb_group or f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
        self.env = dict(os.environ)
        self.env.setdefault("WANDB_MODE", "offline")
        self.env.setdefault("HF_HUB_OFFLINE", "1")
        self.env.setdefault("HF_DATASETS_OFFLINE", "1")
        self.env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        self.env.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.env["WANDB_RUN_GROUP"] = self.group
        self.env["WANDB_DIR"] = str(self.out)
        self.timings: dict[str, float] = {}

    def job(self, title: str, subcommand: str, recipe: str, **overrides) -> None:
        """Run ``dart-trl SUBCOMMAND recipes/RECIPE --key value ...``; stop the demo if it fails."""
        command = [sys.executable, "-m", "dart_trl.cli", subcommand, str(RECIPES / recipe)]
        for key, value in overrides.items():
            command += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
        print(f"\n=== {title}\n$ dart-trl {subcommand} recipes/{recipe} ...", flush=True)
        start = time.time()
        code = subprocess.call(command, env=self.env)
        self.timings[title] = time.time() - start
        if code != 0:
            raise RuntimeError(f"demo step '{title}' failed with exit code {code}")

    def sft(self, title: str, base: Path, data: Path, out: Path, epochs: int) -> Path:
        """SFT ``base`` on ``data`` (query/response) into ``out``."""
        self.job(
            title, "sft", "sft_tiny_cpu.yaml",
            model_name_or_path=str(base), dataset_name=str(data), output_dir=str(out),
            num_train_epochs=str(epochs), per_device_train_batch_size="1", max_length="256", learning_rate="2e-3",
            run_name=out.name, wandb_group=self.group, seed=str(self.args.seed),
        )  # fmt: skip
        return out

    def generate(self, title: str, model: Path, pool: Path, out: Path, **overrides) -> Path:
        """Sample ``model`` on ``pool`` with DARS into ``out``."""
        pools = [{"source": str(pool), "id": "id", "query": "query", "answer": "answer", "level": "level"}]
        self.job(
            title, "generate", "dars_tiny_cpu.yaml",
            model_name_or_path=str(model), pools=pools, output_dir=str(out), backend=self.backend,
            run_name=out.name, seed=str(self.args.seed), **overrides,
        )  # fmt: skip
        return out

    def evaluate(self, model: Path, benchmark: Path, name: str) -> Path:
        """Evaluate ``model`` greedily on the arithmetic benchmark into ``eval/<name>``."""
        out = self.out / "eval" / name
        bench = [
            {
                "name": "arithmetic",
                "data_files": str(benchmark),
                "query_field": "query",
                "answer_field": "answer",
            }
        ]
        self.job(
            f"evaluate {name}", "eval", "eval_tiny_cpu.yaml",
            model_name_or_path=str(model), benchmarks=bench, output_dir=str(out), backend=self.backend,
            run_name=f"eval-{name}", wandb_group=self.group,
        )  # fmt: skip
        return out

    def run(self) -> dict[str, Path]:
        """Run every step and return the paths a user looks at afterwards."""
        sizes, out = self.sizes, self.out
        print(f"dart-trl demo: {'quick' if self.args.quick else 'full'} size, sampling with {self.backend}, "
              f"W&B group {self.group}, outputs in {out}")  # fmt: skip
        data = build_demo_data(out / "data", per_kind=sizes.per_kind, seed=self.args.seed)
        text = corpus(data["teacher_sft"])
        teacher_base = build_tiny_model(out / "models" / "teacher-init", corpus=text, seed=self.args.seed)
        student_base = build_tiny_model(out / "models" / "student-init", corpus=text, seed=self.args.seed + 1)

        teacher = self.sft("1. train the teacher", teacher_base, data["teacher_sft"], out / "models" / "teacher",
                           sizes.teacher_epochs)  # fmt: skip
        dars = self.generate("2. DARS Prop2Diff with the teacher", teacher, data["pool"], out / "dars",
                             strategy="prop2diff", k_p=str(sizes.k_p), max_trials=str(sizes.max_trials))  # fmt: skip
        student = self.sft("3. SFT the student on the DARS data", student_base, dars, out / "models" / "student",
                           sizes.student_epochs)  # fmt: skip
        probe = self.generate("4a. probe the student's pass rates", student, data["pool"], out / "probe-student",
                              strategy="vrt", max_trials="8")  # fmt: skip
        self.job(
            "4b. levels from the student's and teacher's pass rates", "levels", "levels_from_pass_rates.yaml",
            small_query_info=str(probe), mid_query_info=str(dars), large_query_info="null",
            pool=str(data["pool"]), query_id_column="id", output_dir=str(out / "levels"),
        )  # fmt: skip
        levels = out / "levels" / "levels.parquet"
        self.job(
            "4c. two-stage GRPO from the student", "grpo", "grpo_tiny_cpu.yaml",
            model_name_or_path=str(student), dataset=str(levels), level_column="levels", prompt_template="alpaca",
            output_dir=str(out / "grpo"), wandb_group=self.group, seed=str(self.args.seed),
            stages=[{"name": "level1", "levels": [1], "max_steps": sizes.grpo_steps[0]},
                    {"name": "level2", "levels": [2], "max_steps": sizes.grpo_steps[1]}],
        )  # fmt: skip
        rl_model = out / "grpo" / "level2" / "final"
        evals = {
            name: self.evaluate(model, data["benchmark"], name)
            for name, model in [("untrained", student_base), ("teacher", teacher), ("student", student),
                                ("student-rl", rl_model)]
        }  # fmt: skip
        print("\n=== 5. comparison")
        subprocess.call(
            [
                sys.executable,
                "-m",
                "dart_trl.cli",
                "compare",
                *map(str, evals.values()),
                "--out",
                str(out / "compare"),
            ],
            env=self.env,
        )
        return {
            "dataset": dars / "dataset" / "train.parquet",
            "query_info": dars / "query_info.parquet",
            "figure_1": dars / "responses_per_query.png",
            "levels": levels,
            "teacher": teacher,
            "student": student,
            "rl_model": rl_model,
            "comparison": out / "compare",
            "wandb_runs": out / "wandb",
            **{f"eval_{name}": path for name, path in evals.items()},
        }


@watched
def main(argv: list[str] | None = None) -> int:
    """Run the demo and print where its artifacts are."""
    args = parse_options(argv, "demo", DemoArguments, summary=__doc__.split("\n\n")[0])
    start = time.time()
    pipeline = Pipeline(args)
    try:
        paths = pipeline.run()
    except RuntimeError as err:
        raise RecipeError(str(err)) from None
    print(f"\n=== done in {time.time() - start:.0f} s; step times: "
          + ", ".join(f"{k.split('.')[0]} {v:.0f}s" for k, v in pipeline.timings.items()))  # fmt: skip
    for name, path in paths.items():
        print(f"  {name:<16} {path}")
    for run_dir in find_runs(paths["wandb_runs"]):
        print(f"  {'W&B run':<16} {run_dir}")
    (pipeline.out / "artifacts.json").write_text(json.dumps({k: str(v) for k, v in paths.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(run_guarded("demo", main, sys.argv[1:]))
