"""``dart-trl sft``: supervised fine-tuning with TRL's ``SFTTrainer`` (Alpaca prompts, BFD packing).

Each query/response row becomes an Alpaca prompt and a completion ending in EOS; the loss covers the
completion tokens only. Rows are packed into ``max_length``-token sequences with TRL's best-fit
decreasing packer, padding-free, with positions restarting at each sequence. Run it as
``dart-trl sft RECIPE.yaml [--key value ...]`` or
``accelerate launch --config_file launch/accelerate/zero3.yaml -m dart_trl.sft RECIPE.yaml``.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

from dart_trl.config import (
    Job,
    LaunchArguments,
    LazySection,
    Recipe,
    RecipeError,
    WandbArguments,
    parse_recipe,
    write_resolved_recipe,
)
from dart_trl.config.checks import check_attention, check_file, check_model
from dart_trl.decontam.guard import DecontaminationArguments
from dart_trl.locking import lock_output_dir, releases_output_dir_locks
from dart_trl.templates import TemplateName

logger = logging.getLogger("dart_trl.sft.train")

SDPA_PACKING_WARNING = (
    "flash-attn is not installed (or no CUDA device is visible), so attention runs on sdpa. Packed sequences "
    "still do not attend to each other: transformers reads the restarting position_ids and builds a "
    "block-diagonal causal mask. But sdpa then materialises that mask (batch x L x L for each packed row of L "
    "tokens) and computes attention over the whole row, so long packs are slower and use more memory than "
    "flash_attention_2's variable-length kernel. For full speed on a CUDA node install flash-attn after torch, "
    "without build isolation (make install EXTRAS=vllm,gpu does; see the README, Install)."
)


@dataclass
class SFTScriptArguments:
    """What to train on and how to present it; the training settings are TRL's ``SFTConfig``."""

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "Training data: a Hub dataset id (e.g. hkust-nlp/dart-math-hard), a local "
            ".jsonl/.json/.parquet/.csv file or directory, or the output directory of `dart-trl generate`."
        },
    )
    dataset_config: str | None = field(
        default=None, metadata={"help": "Configuration name of a Hub dataset, if it has several."}
    )
    dataset_split: str = field(default="train", metadata={"help": "Split of the dataset to train on."})
    query_column: str = field(default="query", metadata={"help": "Column holding the problem text."})
    response_column: str = field(
        default="response", metadata={"help": "Column holding the solution to learn (the completion)."}
    )
    prompt_template: TemplateName = field(
        default="alpaca",
        metadata={
            "help": "Prompt template the query is put in (dart_trl.templates); DART-Math trains on 'alpaca'."
        },
    )
    drop_overlong: bool = field(
        default=True,
        metadata={
            "help": "Drop rows longer than max_length tokens (they are always counted and reported). With "
            "false they are kept and TRL's packer cuts them at max_length, losing their answer and EOS."
        },
    )


SFT_CONFIG = LazySection("trl", "SFTConfig")
MODEL_CONFIG = LazySection("trl", "ModelConfig")


def validate(recipe: Recipe, options: None = None) -> None:
    """The files and columns the recipe names, checked once before anything heavy loads."""
    from dart_trl.data import check_columns, load_table, peek_columns
    from dart_trl.decontam.guard import check_benchmarks

    script, sft, model = recipe.get(SFTScriptArguments), recipe.get(SFT_CONFIG), recipe.get(MODEL_CONFIG)
    where = str(recipe.path)
    check_model(model.model_name_or_path, where)
    check_file(script.dataset_name, where, "dataset_name")
    if sft.packing and sft.max_length is None:
        raise RecipeError(f"{where}: packing needs max_length (DART-Math packs to 4096)")
    if sft.max_steps <= 0 and sft.num_train_epochs <= 0:
        raise RecipeError(f"{where}: num_train_epochs must be > 0 (or set max_steps)")
    check_attention(model.attn_implementation, where)
    columns = peek_columns(script.dataset_name, script.dataset_split, script.dataset_config)
    check_columns(columns, [script.query_column, script.response_column], f"{where}: {script.dataset_name}")
    decontam = recipe.get(DecontaminationArguments)
    check_benchmarks(decontam, where)
    if decontam.decontaminate is not None and decontam.decontaminate_action == "refuse":
        decontaminated(recipe, load_table(script.dataset_name, script.dataset_split, script.dataset_config))


def decontaminated(recipe: Recipe, table) -> tuple[object, int]:
    """``table`` after the recipe's benchmark check (``decontaminate``; refuse raises), and the number of
    rows it dropped."""
    from dart_trl.decontam import guard
    from dart_trl.decontam.scan import column_values

    script = recipe.get(SFTScriptArguments)
    texts = column_values(table, [script.query_column, script.response_column])
    dropped = guard.apply(recipe.get(DecontaminationArguments), texts, str(recipe.path), "sft")
    return (table.select(sorted(set(range(len(table))) - set(dropped))) if dropped else table), len(dropped)


def flash_attn_installed() -> bool:
    """Whether the flash-attn package is importable and a CUDA device is present."""
    import torch

    return importlib.util.find_spec("flash_attn") is not None and torch.cuda.is_available()


def choose_attention(model_args, warn: bool = True) -> str:
    """The attention implementation: the recipe's, else flash_attention_2 when available, else sdpa.

    Falling back to sdpa logs :data:`SDPA_PACKING_WARNING` when ``warn`` (the main process).
    """
    if model_args.attn_implementation:
        return model_args.attn_implementation
    if flash_attn_installed():
        return "flash_attention_2"
    if warn:
        logger.warning(SDPA_PACKING_WARNING)
    return "sdpa"


def set_generation_eos(model, tokenizer) -> None:
    """Make the model stop on the EOS its completions were trained to end with (first in the EOS list)."""
    eos = tokenizer.eos_token_id
    current = model.generation_config.eos_token_id
    others = [] if current is None else [current] if isinstance(current, int) else list(current)
    ids = [eos, *[t for t in others if t != eos]]
    model.generation_config.eos_token_id = ids[0] if len(ids) == 1 else ids
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.config.eos_token_id = eos


@releases_output_dir_locks
def main(argv: list[str] | None = None) -> int:
    """Run SFT from a recipe: prepare the data, train with ``SFTTrainer``, save model, tokenizer and recipe."""
    recipe, _ = parse_recipe(argv, JOB)
    if not recipe.checked_by_launcher:
        validate(recipe)

    from accelerate import PartialState
    from transformers import AutoTokenizer
    from transformers.trainer_utils import get_last_checkpoint
    from trl import ModelConfig, SFTConfig, SFTTrainer, get_peft_config

    from dart_trl.data import load_table
    from dart_trl.sft.data import prepare_sft_dataset
    from dart_trl.tracking.runs import finish_wandb, producers, start_run, wandb_enabled

    script, sft, model_args = recipe.get(SFTScriptArguments), recipe.get(SFTConfig), recipe.get(ModelConfig)
    device = sft.device  # sets up the distributed state first: gloo on CPU, NCCL or DeepSpeed on GPUs
    state = PartialState()
    logging.basicConfig(
        level=logging.INFO if state.is_main_process else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s",
    )

    tokenizer = AutoTokenizer.from_pretrained(
        model_args.model_name_or_path,
        revision=model_args.model_revision,
        trust_remote_code=sft.trust_remote_code,
    )
    with state.main_process_first():
        source = load_table(script.dataset_name, script.dataset_split, script.dataset_config)
        dropped = 0  # `refuse` was checked before launch (validate)
        if recipe.get(DecontaminationArguments).decontaminate_action == "drop":
            source, dropped = decontaminated(recipe, source)
        prepared = prepare_sft_dataset(
            source,
            tokenizer,
            source=script.dataset_name,
            query_column=script.query_column,
            response_column=script.response_column,
            template=script.prompt_template,
            max_length=sft.max_length,
            drop_overlong=script.drop_overlong,
            num_proc=sft.dataset_num_proc,
        )
    logger.info(
        "data: %s; process %d of %d on %s",
        prepared.summary(),
        state.process_index + 1,
        state.num_processes,
        device,
    )

    attention = choose_attention(model_args, warn=state.is_main_process)
    sft.model_init_kwargs = {
        "revision": model_args.model_revision,
        "trust_remote_code": sft.trust_remote_code,
        "attn_implementation": attention,
        "dtype": model_args.dtype,
        **(sft.model_init_kwargs or {}),
    }
    data_facts = {
        "dataset_fingerprint": prepared.source_fingerprint,
        "dataset_rows": prepared.source_rows,
        "overlong_rows": prepared.overlong_rows,
        "empty_rows": prepared.empty_rows,
        "train_rows": prepared.train_rows,
        "attn_implementation": attention,
        "decontaminated_rows": dropped,
    }
    if state.is_main_process:
        lock_output_dir(sft.output_dir)  # shared with `dart-trl sft`, which took it before launching
        write_resolved_recipe(recipe, sft.output_dir)
        start_run(
            recipe,
            job_type="sft",
            name=sft.run_name,
            output_dir=sft.output_dir,
            report_to=sft.report_to,
            **data_facts,
            **producers(model=model_args.model_name_or_path, data=script.dataset_name),
        )

    trainer = SFTTrainer(
        model=model_args.model_name_or_path,
        args=sft,
        train_dataset=prepared.dataset,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
    )
    log_plan(trainer, sft, len(trainer.train_dataset))

    resume = sft.resume_from_checkpoint
    if resume is None and Path(sft.output_dir).is_dir():
        resume = get_last_checkpoint(sft.output_dir)
        if resume:
            logger.info("resuming from %s (the last checkpoint in output_dir)", resume)
    trainer.train(resume_from_checkpoint=resume)

    set_generation_eos(trainer.model, tokenizer)
    trainer.save_model(sft.output_dir)
    if state.is_main_process:
        logger.info("saved model, tokenizer and generation config to %s", sft.output_dir)
    if sft.push_to_hub:
        trainer.push_to_hub(dataset_name=script.dataset_name)
    if state.is_main_process and wandb_enabled(sft.report_to):
        import wandb

        finish_wandb(wandb.run)
    return 0


def log_plan(trainer, sft, num_packs: int) -> None:
    """Log how many packed sequences, steps and epochs the run will train for."""
    world = trainer.accelerator.num_processes
    global_batch = sft.per_device_train_batch_size * sft.gradient_accumulation_steps * world
    steps_per_epoch = math.ceil(num_packs / (sft.per_device_train_batch_size * world))
    steps_per_epoch = math.ceil(steps_per_epoch / sft.gradient_accumulation_steps)
    total = sft.max_steps if sft.max_steps > 0 else math.ceil(steps_per_epoch * sft.num_train_epochs)
    logger.info(
        "training on %d packed sequences of <= %s tokens: global batch %d, %d optimizer steps per epoch, "
        "%s epochs -> %d steps",
        num_packs,
        sft.max_length,
        global_batch,
        steps_per_epoch,
        sft.num_train_epochs if sft.max_steps <= 0 else f"max_steps={sft.max_steps}, not",
        total,
    )


JOB = Job(
    "sft",
    main,
    sections=(
        LaunchArguments,
        SFTScriptArguments,
        DecontaminationArguments,
        WandbArguments,
        SFT_CONFIG,
        MODEL_CONFIG,
    ),
    required=("model_name_or_path", "dataset_name"),
    validate=validate,
    launch_as="dart_trl.sft",
)
