"""SFT data preparation: query/response rows -> tokenized prompt/completion rows for TRL's SFTTrainer.

Each row becomes ``prompt`` = the prompt template (Alpaca by default) filled with the query and
``completion`` = the response followed by the tokenizer's EOS. The rows are tokenized here, in
batches, the way TRL tokenizes a prompt-completion dataset (the prompt alone and prompt+completion;
the completion starts where they diverge), giving ``input_ids`` and ``completion_mask``. TRL then
builds the labels from ``completion_mask`` (completion-only loss) and packs the rows. Tokenizing here
rather than inside the trainer lets rows longer than ``max_length`` be counted, reported and dropped
before any model is loaded, instead of being silently cut by the packer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dart_trl.config import RecipeError
from dart_trl.templates import format_prompt

logger = logging.getLogger(__name__)

PROMPT, COMPLETION = "prompt", "completion"


@dataclass
class PreparedData:
    """A prepared SFT dataset and what happened on the way."""

    dataset: object  # datasets.Dataset with prompt, completion, input_ids, completion_mask
    source_rows: int
    overlong_rows: int
    max_length: int | None
    source_fingerprint: str
    empty_rows: int = 0

    @property
    def train_rows(self) -> int:
        """Rows left for training."""
        return len(self.dataset)

    def summary(self) -> str:
        """One line describing the preparation, for the log."""
        line = f"{self.train_rows} of {self.source_rows} rows kept for training"
        if self.empty_rows:
            share = 100.0 * self.empty_rows / max(self.source_rows, 1)
            line += (
                f"; {self.empty_rows} rows ({share:.2f}%) have an empty query or response and were dropped"
            )
        if self.overlong_rows:
            share = 100.0 * self.overlong_rows / max(self.source_rows, 1)
            line += (
                f"; {self.overlong_rows} rows ({share:.2f}%) are longer than max_length={self.max_length} "
                "tokens and were dropped"
            )
        return line


def check_text_columns(dataset, columns: list[str], source: str) -> None:
    """Raise :class:`RecipeError` unless ``dataset`` is non-empty and each of ``columns`` holds strings, no nulls.

    Reads the Arrow schema and null counts only, so it is cheap on any size of dataset.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from dart_trl.data import require_columns

    require_columns(dataset, columns, source)
    if len(dataset) == 0:
        raise RecipeError(f"{source}: the dataset is empty (0 rows); nothing to train on")
    table = dataset.data.table if hasattr(dataset.data, "table") else dataset.data
    for column in columns:
        array = table.column(column)
        if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
            raise RecipeError(f"{source}: column '{column}' must hold text, found type {array.type}")
        if array.null_count:
            first = pc.index(pc.is_null(array), True).as_py()
            raise RecipeError(
                f"{source}: column '{column}' is empty (null) in {array.null_count} row(s), first at row {first}"
            )


def drop_empty_rows(dataset, columns: list[str], num_proc: int | None = None):
    """Drop rows whose text in any of ``columns`` is empty or whitespace only; return the rest and the count."""

    def has_text(batch):
        return [
            all(text.strip() for text in texts) for texts in zip(*(batch[c] for c in columns), strict=True)
        ]

    kept = dataset.filter(has_text, batched=True, num_proc=num_proc, desc="Dropping empty rows")
    return kept, len(dataset) - len(kept)


def to_prompt_completion(
    dataset,
    query_column: str,
    response_column: str,
    template: str,
    eos_token: str,
    tokenizer=None,
    num_proc: int | None = None,
):
    """Map query/response rows to ``prompt`` (the filled template) and ``completion`` (response + EOS).

    Other columns are dropped. A response that already ends with EOS does not get a second one.
    """

    def build(batch):
        prompts = [format_prompt(template, q, tokenizer) for q in batch[query_column]]
        completions = [r if r.endswith(eos_token) else r + eos_token for r in batch[response_column]]
        return {PROMPT: prompts, COMPLETION: completions}

    return dataset.map(
        build,
        batched=True,
        remove_columns=dataset.column_names,
        num_proc=num_proc,
        desc="Applying the prompt template",
    )


def tokenize_prompt_completion(dataset, tokenizer, num_proc: int | None = None):
    """Add ``input_ids`` (prompt+completion) and ``completion_mask`` (1 on completion tokens), in batches.

    Mirrors TRL's own tokenization of prompt-completion rows: the completion starts where the tokens of
    the prompt alone and of prompt+completion diverge.
    """
    from trl.data_utils import common_prefix_length

    def tokenize(batch):
        prompt_ids = tokenizer(batch[PROMPT])["input_ids"]
        full_texts = [p + c for p, c in zip(batch[PROMPT], batch[COMPLETION], strict=True)]
        full_ids = tokenizer(full_texts)["input_ids"]
        masks = []
        for prompt, full in zip(prompt_ids, full_ids, strict=True):
            prompt_len = len(prompt) if full[: len(prompt)] == prompt else common_prefix_length(prompt, full)
            masks.append([0] * prompt_len + [1] * (len(full) - prompt_len))
        return {"input_ids": full_ids, "completion_mask": masks}

    return dataset.map(tokenize, batched=True, num_proc=num_proc, desc="Tokenizing prompt/completion")


def prepare_sft_dataset(
    dataset,
    tokenizer,
    *,
    source: str,
    query_column: str = "query",
    response_column: str = "response",
    template: str = "alpaca",
    max_length: int | None = 4096,
    drop_overlong: bool = True,
    num_proc: int | None = None,
) -> PreparedData:
    """Turn a query/response dataset into tokenized prompt/completion rows for ``SFTTrainer``.

    Rows with an empty (or whitespace-only) query or response are counted and dropped. Rows with more
    than ``max_length`` tokens are counted and, with ``drop_overlong``, dropped (a cut response loses its
    answer and its EOS). Raises :class:`RecipeError` for missing or non-text
    columns, an empty dataset, or when no row is left.
    """
    check_text_columns(dataset, [query_column, response_column], source)
    if tokenizer.eos_token is None:
        raise RecipeError(f"the tokenizer of this model has no eos_token; cannot end completions ({source})")
    source_rows, fingerprint = len(dataset), getattr(dataset, "_fingerprint", "")
    dataset, empty = drop_empty_rows(dataset, [query_column, response_column], num_proc)
    if empty == source_rows:
        raise RecipeError(
            f"{source}: all {source_rows} rows have an empty '{query_column}' or '{response_column}'; "
            "nothing to train on"
        )
    rows = to_prompt_completion(
        dataset, query_column, response_column, template, tokenizer.eos_token, tokenizer, num_proc
    )
    rows = tokenize_prompt_completion(rows, tokenizer, num_proc)
    overlong = 0
    if max_length is not None:
        lengths = rows.with_format("arrow")["input_ids"]
        import pyarrow.compute as pc

        too_long = pc.greater(pc.list_value_length(lengths), max_length)
        overlong = pc.sum(too_long).as_py() or 0
        if overlong and drop_overlong:
            rows = rows.filter(
                lambda batch: [len(ids) <= max_length for ids in batch["input_ids"]], batched=True
            )
    prepared = PreparedData(rows, source_rows, overlong, max_length, fingerprint, empty)
    if overlong and not drop_overlong:
        logger.warning(
            "%d of %d rows are longer than max_length=%d tokens; the packer will cut them (drop_overlong: false)",
            overlong,
            source_rows,
            max_length,
        )
    if prepared.train_rows == 0:
        reason = f"are longer than max_length={max_length} tokens"
        if empty:
            reason = f"are dropped: {empty} have an empty query or response, {overlong} {reason}"
        raise RecipeError(f"{source}: all {source_rows} rows {reason}; nothing to train on")
    return prepared
