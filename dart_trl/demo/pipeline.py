"""``dart-trl demo``: what DART does, on tiny local models, on CPU, with no network.

Every step runs the real job through the ``dart-trl`` command, on the shipped tiny recipes:

1. build a tiny teacher and SFT it on a synthetic arithmetic corpus with three difficulty levels:
   varied correct working for every fact, and slips that grow with the level, so the teacher solves
   easy queries nearly always and hard ones only sometimes;
2. DARS three times over one query pool with that teacher: VRT, Uniform and Prop2Diff, at
   comparable dataset sizes; the paper's Figure 1 with the three overlaid, and a per-level table;
3. SFT one fresh student on the VRT data and one on the Prop2Diff data, cut to exactly equal size;
4. difficulty levels from pass rates (the Prop2Diff student as the small model, the teacher as the
   mid and large one), then GRPO stages level 1 -> 2 -> 3 from the Prop2Diff student;
5. evaluate the teacher, both students and the RL model on held-out questions of each level, and
   compare them with ``dart-trl compare``; print the numbers and a reading of them.

Independent steps (the three DARS runs and the teacher's evaluation, the two students, the probe
and the students' evaluations) run two at a time, each into ``logs/``, printed when it ends. All runs
share one W&B group (offline unless ``WANDB_MODE`` says otherwise).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dart_trl.config import Job, RecipeError, parse_options, run_guarded
from dart_trl.config.resources import shipped_dir
from dart_trl.dars.report import plot_strategies
from dart_trl.demo import summary
from dart_trl.demo.arithmetic import LEVELS, build_demo_data, corpus
from dart_trl.demo.reading import reading
from dart_trl.demo.steps import Step, run_one, run_side_by_side
from dart_trl.demo.tiny import build_tiny_model
from dart_trl.processes import watched
from dart_trl.sampling import vllm_available
from dart_trl.tracking.offline import find_runs, read_run

RECIPES = shipped_dir("recipes")
STRATEGIES = ("vrt", "uniform", "prop2diff")
MODELS = ("teacher", "student-vrt", "student-prop2diff", "student-prop2diff-grpo")  # evaluated, in this order


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
            "help": "Sampling backend of DARS and the student's probe: auto (vllm when installed), vllm, "
            "transformers. Evaluation (a few dozen greedy answers) uses recipes/eval_tiny_cpu.yaml's."
        },
    )
    seed: int = field(default=0, metadata={"help": "Seed of the data, the models and the sampling."})
    wandb_group: str | None = field(
        default=None, metadata={"help": "W&B group of all runs (default: demo-<time>)."}
    )


@dataclass(frozen=True)
class Sizes:
    """How big the demo is. ``vrt_trials``, ``k_u`` and ``k_p`` are set so the three datasets come out
    of similar size; Uniform and Prop2Diff may spend up to ``max_trials`` raw samples on a query."""

    per_level: int
    teacher_epochs: int
    student_epochs: int
    vrt_trials: int
    k_u: int
    k_p: int
    max_trials: int
    probe_trials: int
    grpo_steps: int


FULL = Sizes(per_level=20, teacher_epochs=16, student_epochs=16, vrt_trials=12, k_u=4, k_p=8, max_trials=64,
             probe_trials=8, grpo_steps=30)  # fmt: skip
QUICK = Sizes(per_level=10, teacher_epochs=12, student_epochs=8, vrt_trials=12, k_u=4, k_p=8, max_trials=64,
              probe_trials=8, grpo_steps=4)  # fmt: skip


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
        # The engine in the job's own process: for a tiny model, spawning vLLM's engine-core and worker
        # processes costs most of a DARS run (one DARS-VRT run: 69 s instead of 142-156 s on 2 busy cores).
        self.env.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        # vLLM pins its threads to the same core in every engine; two DARS runs side by side then share
        # one core (two DARS-VRT runs side by side: 97 s unpinned, 133-139 s pinned).
        self.env.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
        self.env.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.env["WANDB_RUN_GROUP"] = self.group
        self.env["WANDB_DIR"] = str(self.out)
        self.timings: dict[str, float] = {}

    def step(self, title: str, subcommand: str, recipe: str, *extra: str, **overrides) -> Step:
        """The step ``dart-trl SUBCOMMAND recipes/RECIPE EXTRA --key value ...``.

        It is printed with the demo's output directory shown as ``$OUT``.
        """
        command = [sys.executable, "-m", "dart_trl.cli", subcommand]
        if recipe:
            command.append(str(RECIPES / recipe))
        head = list(command)
        command += list(extra)
        for key, value in overrides.items():
            command += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
        shown = " ".join([subcommand, *([f"recipes/{recipe}"] if recipe else []), *command[len(head) :]])
        return Step(title, command, f"dart-trl {shown.replace(str(self.out), '$OUT')}")

    def run_steps(self, *steps: Step) -> None:
        """Run one step, or independent steps side by side; stop the demo if one fails."""
        if len(steps) == 1:
            run_one(steps[0], self.env, self.timings)
        else:
            run_side_by_side(list(steps), self.env, self.out / "logs", self.timings)

    def sft(self, title: str, base: Path, data: Path, out: Path, epochs: int, tags: list[str]) -> Step:
        """SFT ``base`` on ``data`` (query/response) into ``out``; W&B run ``sft-<out>`` with ``tags``."""
        return self.step(
            title, "sft", "sft_tiny_cpu.yaml",
            model_name_or_path=str(base), dataset_name=str(data), output_dir=str(out),
            num_train_epochs=str(epochs), per_device_train_batch_size="1", learning_rate="3e-3",
            run_name=f"sft-{out.name}", wandb_group=self.group, wandb_tags=tags, seed=str(self.args.seed),
        )  # fmt: skip

    def generate(self, title: str, model: Path, pool: Path, out: Path, tags: list[str], **overrides) -> Step:
        """Sample ``model`` on ``pool`` with DARS into ``out``; W&B run ``dars-<out>`` with ``tags``."""
        pools = [{"source": str(pool), "id": "id", "query": "query", "answer": "answer", "level": "level"}]
        return self.step(
            title, "generate", "dars_tiny_cpu.yaml",
            model_name_or_path=str(model), pools=pools, output_dir=str(out), backend=self.backend,
            run_name=f"dars-{out.name}", seed=str(self.args.seed), wandb_group=self.group,
            wandb_tags=tags, **overrides,
        )  # fmt: skip

    def evaluate(self, model: Path, benchmarks: dict[int, Path], name: str, tags: list[str]) -> Step:
        """Evaluate ``model`` greedily on the held-out questions of each level into ``eval/<name>``
        (W&B run ``eval-<name>`` with ``tags``)."""
        specs = [
            {
                "name": f"level{level}",
                "data_files": str(path),
                "query_field": "query",
                "answer_field": "answer",
            }
            for level, path in benchmarks.items()
        ]
        return self.step(
            f"evaluate {name}", "eval", "eval_tiny_cpu.yaml",
            model_name_or_path=str(model), benchmarks=specs, output_dir=str(self.out / "eval" / name),
            run_name=f"eval-{name}", wandb_group=self.group, wandb_tags=tags,
        )  # fmt: skip

    def synthesise(self, teacher: Path, pool: Path) -> dict[str, Step]:
        """DARS with each strategy, each into ``dars/<strategy>``."""
        s = self.sizes
        settings = {
            "vrt": dict(max_trials=str(s.vrt_trials)),
            "uniform": dict(k_u=str(s.k_u), max_trials=str(s.max_trials)),
            "prop2diff": dict(k_p=str(s.k_p), max_trials=str(s.max_trials)),
        }
        return {
            strategy: self.generate(
                f"2. DARS-{strategy} with the teacher",
                teacher,
                pool,
                self.out / "dars" / strategy,
                [strategy],
                strategy=strategy,
                **settings[strategy],
            )  # fmt: skip
            for strategy in STRATEGIES
        }

    def figure_1(self, runs: dict[str, Path]):
        """The Figure-1 overlay and the per-level table of the three DARS runs; prints the table.

        Returns the table and the paths of the figure and the table.
        """
        infos = {strategy: summary.read_query_info(path) for strategy, path in runs.items()}
        figure = plot_strategies(infos, self.out / "dars" / "figure_1.png", "DARS on the demo pool")
        table = summary.per_level_table(infos)
        text = summary.markdown(table)
        (self.out / "dars" / "per_level.md").write_text(text + "\n")
        table.to_csv(self.out / "dars" / "per_level.csv", index=False)
        print(f"\n=== DARS per level (Figure 1: {figure})\n{text}", flush=True)
        return table, {"figure_1": figure, "dars_per_level": self.out / "dars" / "per_level.md"}

    def grpo(self, student: Path, levels_dir: Path) -> tuple[Path, list[dict]]:
        """GRPO stages level 1 -> 2 -> 3 (those with queries) from ``student``; returns the final model and stages."""
        counts = json.loads((levels_dir / "levels_summary.json").read_text())
        stages = []
        for level in (1, 2, 3):
            if counts.get(f"level_{level}", 0) == 0:
                print(f"level {level} has no queries: its GRPO stage is left out")
                continue
            stages.append({"name": f"level{level}", "levels": [level], "max_steps": self.sizes.grpo_steps})
        if not stages:
            raise RuntimeError("no query has a difficulty level: nothing to train GRPO on")
        self.run_steps(self.step(
            "4c. GRPO stages from the Prop2Diff student", "grpo", "grpo_demo_cpu.yaml",
            model_name_or_path=str(student), dataset=str(levels_dir / "levels.parquet"), stages=stages,
            output_dir=str(self.out / "grpo"), wandb_group=self.group, wandb_tags=["prop2diff", "grpo"],
            seed=str(self.args.seed),
        ))  # fmt: skip
        return self.out / "grpo" / stages[-1]["name"] / "final", stages

    def stage_rewards(self) -> list[dict]:
        """Training reward (first vs last quarter of steps) of each GRPO stage, from its W&B run."""
        runs = [read_run(d) for d in find_runs(self.out)]
        stages = [r for r in runs if r.job_type == "grpo-stage" and r.group == self.group]
        return summary.stage_rewards(stages)

    def run(self) -> dict[str, Path]:
        """Run every step and return the paths a user looks at afterwards."""
        sizes, out = self.sizes, self.out
        print(f"dart-trl demo: {'quick' if self.args.quick else 'full'} size, sampling with {self.backend}, "
              f"W&B group {self.group}, outputs in {out}")  # fmt: skip
        data = build_demo_data(out / "data", per_level=sizes.per_level, seed=self.args.seed)
        benchmarks = {level: data[f"benchmark_level{level}"] for level in LEVELS}
        text = corpus(data["teacher_sft"])
        teacher_base = build_tiny_model(out / "models" / "teacher-init", corpus=text, seed=self.args.seed)
        student_base = build_tiny_model(out / "models" / "student-init", corpus=text, seed=self.args.seed + 1)

        teacher = out / "models" / "teacher"
        self.run_steps(self.sft("1. train the teacher", teacher_base, data["teacher_sft"], teacher,
                                sizes.teacher_epochs, ["teacher"]))  # fmt: skip
        dars = {strategy: out / "dars" / strategy for strategy in STRATEGIES}
        evals = {name: out / "eval" / name for name in MODELS}
        self.run_steps(
            *self.synthesise(teacher, data["pool"]).values(),
            self.evaluate(teacher, benchmarks, "teacher", ["teacher"]),
        )
        per_level, paths = self.figure_1(dars)

        student_data = summary.equal_size_datasets(
            {s: dars[s] for s in ("vrt", "prop2diff")}, out / "students" / "data", self.args.seed
        )
        students = {strategy: out / "models" / f"student-{strategy}" for strategy in student_data}
        self.run_steps(
            *[
                self.sft(
                    f"3. SFT a student on the {s} data",
                    student_base,
                    path,
                    students[s],
                    sizes.student_epochs,
                    [s],
                )
                for s, path in student_data.items()
            ]
        )
        probe = out / "probe-student"
        self.run_steps(
            self.generate("4a. probe the Prop2Diff student's pass rates", students["prop2diff"], data["pool"],
                          probe, ["probe"], strategy="vrt", max_trials=str(sizes.probe_trials)),
            *[self.evaluate(students[s], benchmarks, f"student-{s}", [s]) for s in ("vrt", "prop2diff")],
        )  # fmt: skip
        self.run_steps(self.step(
            "4b. levels: student = small model, teacher = mid and large model", "levels",
            "levels_from_pass_rates.yaml",
            small_query_info=str(probe), mid_query_info=str(dars["vrt"]), large_query_info=str(dars["vrt"]),
            pool=str(data["pool"]), query_id_column="id", output_dir=str(out / "levels"),
        ))  # fmt: skip
        rl_model, _ = self.grpo(students["prop2diff"], out / "levels")
        rewards = self.stage_rewards()
        self.run_steps(self.evaluate(rl_model, benchmarks, "student-prop2diff-grpo", ["prop2diff", "grpo"]))

        models = dict(zip(MODELS, [teacher, students["vrt"], students["prop2diff"], rl_model], strict=True))
        if self.env["WANDB_MODE"] == "disabled":
            runs = [str(path) for path in evals.values()]
        else:  # the group's eval runs, from W&B (local run directories when offline)
            runs = ["--wandb-group", self.group, "--wandb-dir", str(out)]
        self.run_steps(
            self.step("5. comparison of the eval runs", "compare", "", *runs, "--out", str(out / "compare"))
        )
        accuracy = summary.accuracy_per_level(evals)
        paths.update(
            {
                **{f"dars_{s}": dars[s] / "dataset" / "train.parquet" for s in STRATEGIES},
                "student_data_vrt": student_data["vrt"],
                "student_data_prop2diff": student_data["prop2diff"],
                "levels": out / "levels" / "levels.parquet",
                **{name: path for name, path in models.items()},
                "comparison": out / "compare" / "comparison.md",
                "comparison_chart": out / "compare" / "comparison.png",
                "wandb_runs": out / "wandb",
                "step_logs": out / "logs",
                **{f"eval_{name}": path for name, path in evals.items()},
            }
        )
        text = reading(
            per_level=per_level,
            student_rows=summary.rows_per_level(student_data),
            accuracy=accuracy,
            rewards=rewards,
            questions_per_level=sizes.per_level,
            paths=paths,
        )
        (out / "reading.md").write_text(text + "\n")
        paths["reading"] = out / "reading.md"
        print(f"\n=== what the numbers say\n{text}")
        return paths


@watched
def main(argv: list[str] | None = None) -> int:
    """Run the demo and print where its artifacts are."""
    args = parse_options(argv, JOB, summary=__doc__.split("\n\n")[0])
    start = time.time()
    pipeline = Pipeline(args)
    try:
        paths = pipeline.run()
    except RuntimeError as err:
        raise RecipeError(str(err)) from None
    print(f"\n=== done in {time.time() - start:.0f} s; step times (steps side by side overlap):")
    for title, seconds in pipeline.timings.items():
        print(f"  {seconds:5.0f} s  {title}")
    for name, path in paths.items():
        print(f"  {name:<24} {path}")
    for run_dir in find_runs(paths["wandb_runs"]):
        print(f"  {'W&B run':<24} {run_dir}")
    (pipeline.out / "artifacts.json").write_text(json.dumps({k: str(v) for k, v in paths.items()}, indent=2))
    return 0


JOB = Job("demo", main, options=DemoArguments)

if __name__ == "__main__":
    sys.exit(run_guarded("demo", main, sys.argv[1:]))
