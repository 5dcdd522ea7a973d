"""Tiny local models for tests and the CPU demo (no hub access needed).

``build_tiny_model`` trains a byte-level BPE tokenizer on a little text and saves it with a randomly
initialised Llama or Qwen2 model of head_dim 64 (vLLM's CPU attention rejects smaller heads). The
result loads with ``AutoModelForCausalLM``, TRL's trainers and a vLLM engine like any hub model.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

BOS, EOS, PAD = "<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"

# A simple chat template: role headers, EOS after each turn, and an assistant header as the prompt.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '### ' + message['role'] + ':\\n' + message['content'] + eos_token + '\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '### assistant:\\n' }}{% endif %}"
)

DEFAULT_CORPUS = """\
Below is an instruction that describes a task. Write a response that appropriately completes the request.

### Instruction:
What is 12 + 30?

### Response:
We add the numbers: 12 + 30 = 42. The answer is $\\boxed{42}$.
Compute 7 * 8 - 5. First 7 * 8 = 56, then 56 - 5 = 51. The answer is 51.
Solve for x: 3x + 4 = 19. Subtract 4: 3x = 15, so x = 5. Therefore x = \\boxed{5}.
Simplify \\frac{18}{24}. Divide by 6 to get \\frac{3}{4}. Final answer: \\boxed{\\frac{3}{4}}.
The sum of the interior angles of a triangle is 180 degrees. 25% of 80 is 20.
Find the remainder when 100 is divided by 7. 100 = 14 * 7 + 2, so the remainder is 2.
Let's think step by step. The answer is 0 1 2 3 4 5 6 7 8 9 10 100 1000.
Please reason step by step, and put your final answer within \\boxed{}.
"""


def train_tokenizer(corpus: Iterable[str], vocab_size: int = 512):
    """Train a byte-level BPE tokenizer on ``corpus`` and wrap it as a ``PreTrainedTokenizerFast``.

    Every byte is in the alphabet, so any text encodes; BOS/EOS/PAD are special tokens and the
    tokenizer carries :data:`CHAT_TEMPLATE`.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[BOS, EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(corpus), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        clean_up_tokenization_spaces=False,
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def tiny_config(arch: str, tokenizer, hidden_size: int = 128, num_layers: int = 2, max_length: int = 2048):
    """Return a Llama or Qwen2 config with head_dim 64 sized for ``tokenizer``."""
    from transformers import LlamaConfig, Qwen2Config

    if hidden_size % 64:
        raise ValueError(f"hidden_size must be a multiple of 64 (head_dim 64), got {hidden_size}")
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=hidden_size // 64,
        num_key_value_heads=hidden_size // 64,
        max_position_embeddings=max_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    if arch == "llama":
        return LlamaConfig(head_dim=64, **common)
    if arch == "qwen2":
        return Qwen2Config(**common)
    raise ValueError(f"arch must be 'llama' or 'qwen2', got {arch!r}")


def build_tiny_model(
    out_dir: str | os.PathLike,
    arch: str = "llama",
    corpus: Iterable[str] | str | None = None,
    vocab_size: int = 512,
    hidden_size: int = 128,
    num_layers: int = 2,
    max_length: int = 2048,
    seed: int = 0,
) -> Path:
    """Build a tiny random causal LM with its own tokenizer and save both to ``out_dir``.

    ``corpus`` is the text the tokenizer is trained on (a string or an iterable of strings; a small
    math-flavoured text by default). Returns ``out_dir`` as a ``Path``.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    if corpus is None:
        corpus = DEFAULT_CORPUS
    if isinstance(corpus, str):
        corpus = corpus.splitlines(keepends=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sizes = dict(hidden_size=hidden_size, num_layers=num_layers, max_length=max_length)
    # AutoTokenizer picks the tokenizer class from the model type (Qwen2's adds a token of its own), so
    # reload the saved tokenizer the way every consumer will and size the model from that one.
    train_tokenizer(corpus, vocab_size=vocab_size).save_pretrained(out)
    tiny_config(arch, AutoTokenizer.from_pretrained(out), **sizes).save_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    config = tiny_config(arch, tokenizer, **sizes)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_answering_model(path: str | Path, texts: list[str], steps: int = 40, seed: int = 0) -> Path:
    """A tiny one-layer Llama at ``path`` trained (``steps`` full-batch steps, about 15 s on 2 cores) to
    write ``texts`` (each followed by EOS): a sampler whose answers are sometimes right, for tests and
    benchmarks. Returns ``path``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = build_tiny_model(path, corpus="\n".join(texts * 3), num_layers=1, seed=seed)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    batch = tokenizer(
        [t + tokenizer.eos_token for t in texts], return_tensors="pt", padding=True, add_special_tokens=False
    )
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    torch.manual_seed(seed)
    for _ in range(steps):
        model(**batch, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return Path(path)


ADDITIONS = [(2, 3), (4, 5), (10, 7), (6, 6)]  # what build_addition_model learns to answer
UNSEEN_ADDITIONS = [(123, 456), (77, 88)]  # two more queries, which it never solves
_ANSWER_PHRASES = ["The answer is \\boxed{%d}.", "So we get \\boxed{%d}.", "Sum: \\boxed{%d}"]


def addition_question(a: int, b: int) -> str:
    """The prompt of the query ``a + b``."""
    return f"Q: {a}+{b}=?\nA:"


def build_addition_model(path: str | Path) -> Path:
    """A tiny Llama at ``path`` trained (:func:`build_answering_model`) to answer :data:`ADDITIONS` in
    three phrasings, so some of its samples are right and some are not."""
    texts = [f"{addition_question(a, b)} " + p % (a + b) for a, b in ADDITIONS for p in _ANSWER_PHRASES]
    return build_answering_model(path, texts)


def write_addition_recipe(path: str | Path, model: str | Path, **overrides) -> Path:
    """A DARS-Prop2Diff recipe written to ``path`` (its pool, the additions of :data:`ADDITIONS` and
    :data:`UNSEEN_ADDITIONS` with query ids ``add-A-B``, to ``pool.jsonl`` beside it): vLLM sampling 4
    completions per engine call into ``out/`` beside it, seed 7; ``overrides`` replace or add keys."""
    import json

    import yaml

    path = Path(path)
    pool = path.parent / "pool.jsonl"
    rows = [
        {"id": f"add-{a}-{b}", "question": addition_question(a, b), "answer": str(a + b)}
        for a, b in ADDITIONS + UNSEEN_ADDITIONS
    ]
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = {
        "model_name_or_path": str(model),
        "strategy": "prop2diff",
        "k_p": 6,
        "max_trials": 48,
        "probe_samples": 4,
        "chunk_samples": 4,
        "pools": [{"source": str(pool), "name": "add", "id": "id", "query": "question", "answer": "answer"}],
        "prompt_template": "raw",
        "output_dir": str(path.parent / "out"),
        "backend": "vllm",
        "temperature": 1.0,
        "max_tokens": 16,
        "max_model_len": 256,
        "seed": 7,
        **overrides,
    }
    path.write_text(yaml.safe_dump(recipe))
    return path
