"""Packing efficiency and SFT data-preparation time on a DART-like length mix.

1. Real-token share per ``max_length`` pack: TRL's best-fit-decreasing packer (``trl.pack_dataset``,
   strategy ``bfd``, as ``SFTTrainer`` calls it) against the reference next-fit packing (rows taken in
   order, a new pack opened whenever the next row does not fit). Target: >= 99% for BFD.
2. Data preparation time per 10k rows, scaled to 590k rows (the size of DART-Math-Uniform):
   ``dart_trl.sft.data.prepare_sft_dataset`` (template, EOS, tokenization, overlong rows) plus what
   ``SFTTrainer`` does after it (labels, BFD packing), timed on the tiny tokenizer of
   ``dart_trl.demo.tiny`` with synthetic text whose token counts follow the same mix. Target: <= 10 min.

The length mix is synthetic (no hub access): prompt (Alpaca template + query) ~100 tokens, response
~480 tokens, log-normal with a long tail. Run: ``python benchmarks/packing.py [--rows N]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DART_ROWS = 590_000


def length_mix(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Prompt and response token lengths: log-normal, medians 95 and 400, response mean ~480, long tail."""
    rng = np.random.default_rng(seed)
    prompt = np.clip(rng.lognormal(np.log(95), 0.35, rows), 45, 1500).astype(int)
    response = np.clip(rng.lognormal(np.log(400), 0.6, rows), 20, 12000).astype(int)
    return prompt, response


def next_fit(lengths: np.ndarray, max_length: int) -> int:
    """Number of packs the reference next-fit packing makes (rows in order; a new pack when one doesn't fit)."""
    packs, room = 0, 0
    for length in lengths:
        if length > room:
            packs, room = packs + 1, max_length
        room -= length
    return packs


def bfd_packs(lengths: np.ndarray, max_length: int) -> int:
    """Number of packs TRL's BFD packer makes, run on token rows of these lengths the way SFTTrainer runs it."""
    import datasets
    from trl import pack_dataset

    ids = [np.zeros(n, dtype=np.int32) for n in lengths]
    table = datasets.Dataset.from_dict({"input_ids": ids, "labels": ids})
    packed = pack_dataset(table, max_length, "bfd")
    return len(packed)


def packing_report(rows: int, max_length: int) -> None:
    """Print the real-token share of BFD and next-fit packs."""
    prompt, response = length_mix(rows)
    lengths = prompt + response
    overlong = lengths > max_length
    kept = lengths[~overlong]
    tokens = int(kept.sum())
    print(
        f"length mix: {rows} rows, prompt mean {prompt.mean():.0f}, response mean {response.mean():.0f} "
        f"(median {np.median(response):.0f}, p99 {np.percentile(response, 99):.0f}); "
        f"{overlong.sum()} rows ({100 * overlong.mean():.2f}%) over {max_length} dropped"
    )
    for name, packs in (
        ("BFD (trl.pack_dataset)", bfd_packs(kept, max_length)),
        ("next-fit", next_fit(kept, max_length)),
    ):
        share = tokens / (packs * max_length)
        print(f"  {name:<24} {packs:>7} packs of {max_length}: real-token share {100 * share:.2f}%")


def synthetic_rows(rows: int, tokenizer, seed: int = 1) -> list[dict]:
    """Query/response text whose token counts under ``tokenizer`` follow :func:`length_mix`."""
    from dart_trl.demo.tiny import DEFAULT_CORPUS
    from dart_trl.templates import format_prompt

    rng = np.random.default_rng(seed)
    words = DEFAULT_CORPUS.split()
    sample = " ".join(rng.choice(words, 4000))
    tokens_per_word = len(tokenizer(sample)["input_ids"]) / 4000
    template_tokens = len(tokenizer(format_prompt("alpaca", ""))["input_ids"])
    prompt, response = length_mix(rows, seed)
    pool = rng.choice(words, 200_000)
    out = []
    for p, r in zip(prompt, response, strict=True):
        q_words = max(1, int((p - template_tokens) / tokens_per_word))
        r_words = max(1, int(r / tokens_per_word))
        start = int(rng.integers(0, len(pool) - q_words - r_words))
        out.append(
            {
                "query": " ".join(pool[start : start + q_words]),
                "response": " ".join(pool[start + q_words : start + q_words + r_words]),
            }
        )
    return out


def prep_report(rows: int, max_length: int) -> None:
    """Time SFT data preparation on ``rows`` synthetic rows and scale it to 590k rows."""
    import datasets
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from dart_trl.demo.tiny import build_tiny_model
    from dart_trl.sft.data import prepare_sft_dataset

    datasets.disable_progress_bars()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_model(Path(tmp) / "tiny", max_length=max_length)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        table = datasets.Dataset.from_list(synthetic_rows(rows, tokenizer))
        start, cpu_start = time.perf_counter(), time.process_time()
        prepared = prepare_sft_dataset(table, tokenizer, source="synthetic", max_length=max_length)
        ours, ours_cpu = time.perf_counter() - start, time.process_time() - cpu_start
        lengths = np.array([len(ids) for ids in prepared.dataset["input_ids"]])
        args = SFTConfig(
            output_dir=str(Path(tmp) / "out"),
            max_length=max_length,
            packing=True,
            use_cpu=True,
            bf16=False,
            report_to="none",
        )
        start, cpu_start = time.perf_counter(), time.process_time()
        trainer = SFTTrainer(
            model=str(model_dir), args=args, train_dataset=prepared.dataset, processing_class=tokenizer
        )
        trl_part, trl_cpu = time.perf_counter() - start, time.process_time() - cpu_start
        packs = len(trainer.train_dataset)
    total, cpu = ours + trl_part, ours_cpu + trl_cpu
    scale = DART_ROWS / rows
    print(
        f"data preparation, {rows} synthetic rows (tiny byte-level BPE tokenizer; tokens/row mean "
        f"{lengths.mean():.0f}, {prepared.overlong_rows} overlong dropped) -> {packs} packs:"
    )
    print(
        f"  template + EOS + tokenize + overlong check (dart_trl.sft.data): {ours:6.1f} s wall, {ours_cpu:6.1f} s CPU"
    )
    print(
        f"  SFTTrainer init: labels + BFD packing (+ tiny model load):   {trl_part:6.1f} s wall, {trl_cpu:6.1f} s CPU"
    )
    print(
        f"  per 10k rows {total * 10_000 / rows:6.1f} s wall; scaled to {DART_ROWS} rows: "
        f"{total * scale / 60:5.1f} min wall, {cpu * scale / 60:5.1f} min of CPU time (target <= 10 min on 2 cores)"
    )


def main(argv: list[str] | None = None) -> int:
    """Run both measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="rows in the packing-efficiency length mix")
    parser.add_argument("--prep-rows", type=int, default=10_000, help="rows timed for data preparation")
    parser.add_argument("--max-length", type=int, default=4096)
    args = parser.parse_args(argv)
    packing_report(args.rows, args.max_length)
    prep_report(args.prep_rows, args.max_length)
    return 0


if __name__ == "__main__":
    sys.exit(main())
