"""Tiny local models load like hub models: transformers, a TRL trainer and a real vLLM engine."""

from __future__ import annotations

import pytest

from dart_trl.demo.tiny import build_tiny_model
from dart_trl.sampling import LazySampler, Request, SamplingArguments, build_sampler
from dart_trl.templates import ALPACA, chat_tokenizer, format_prompt


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_tiny_model_loads_with_head_dim_64(tmp_path, arch):
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    path = build_tiny_model(tmp_path / arch, arch=arch, corpus="1 + 1 = 2. The answer is \\boxed{2}.\n" * 20)
    config = AutoConfig.from_pretrained(path)
    assert config.model_type == arch
    assert config.hidden_size // config.num_attention_heads == 64
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert tokenizer.eos_token_id is not None and tokenizer.pad_token_id not in (None, tokenizer.eos_token_id)
    text = "What is 17 * 3? \\frac{1}{2} ü 漢"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text  # byte-level: any text round-trips
    model = AutoModelForCausalLM.from_pretrained(path)
    assert model.config.vocab_size == len(tokenizer)
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert chat.endswith("### assistant:\n") and "hi" in chat


def test_tiny_model_trains_with_trl(tmp_path, tiny_model):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    rows = [
        {"prompt": format_prompt("alpaca", f"What is {i} + 1?"), "completion": f"The answer is {i + 1}."}
        for i in range(16)
    ]
    args = SFTConfig(
        output_dir=str(tmp_path / "out"),
        max_steps=3,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        report_to="none",
        bf16=False,
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
    )
    trainer = SFTTrainer(model=str(tiny_model), args=args, train_dataset=Dataset.from_list(rows))
    result = trainer.train()
    assert result.global_step == 3
    assert result.training_loss > 0


def test_alpaca_template_is_the_papers():
    prompt = format_prompt("alpaca", "Find {x}.")
    assert prompt == ALPACA.replace("{query}", "Find {x}.")
    assert prompt.startswith(
        "Below is an instruction that describes a task. Write a response that appropriately"
    )
    assert prompt.endswith("### Instruction:\nFind {x}.\n\n### Response:\n")
    with pytest.raises(ValueError, match="unknown prompt template"):
        format_prompt("alpacca", "q")


def test_transformers_sampler_generates(tiny_model):
    args = SamplingArguments(backend="transformers", max_tokens=8, temperature=1.0, batch_size=4)
    with build_sampler(str(tiny_model), args) as sampler:
        out = sampler.generate([Request("What is 2 + 2?", n=3, seed=1), Request("Say hi", n=2, seed=2)])
    assert [len(group) for group in out] == [3, 2]
    for completion in (c for group in out for c in group):
        assert completion.finish_reason in {"stop", "length"}
        assert 0 < completion.num_tokens <= 8 or completion.finish_reason == "stop"


def test_chat_prompts_are_the_models_chat_template_and_other_templates_load_no_tokenizer(tiny_model):
    assert chat_tokenizer("raw", str(tiny_model)) is None
    prompt = format_prompt("chat", "What is 2 + 2?", chat_tokenizer("chat", str(tiny_model)))
    # the tiny model's template (demo.tiny.CHAT_TEMPLATE), written out by hand
    assert prompt == "<|begin_of_text|>### user:\nWhat is 2 + 2?<|end_of_text|>\n### assistant:\n"


def test_lazy_sampler_builds_on_first_generate_and_closes(tiny_model):
    sampler = LazySampler(str(tiny_model), SamplingArguments(backend="transformers", max_tokens=4))
    assert sampler.sampler is None  # nothing loaded until there is something to sample
    sampler.close()  # closing an unbuilt sampler is a no-op
    (group,) = sampler.generate([Request("Say hi", n=2, seed=1)])
    assert len(group) == 2 and sampler.sampler is not None
    built = sampler.sampler
    assert sampler.build() is built  # built once
    sampler.close()
    assert sampler.sampler is None


@pytest.mark.vllm
@pytest.mark.slow
def test_vllm_engine_generates_from_tiny_model(tiny_model):
    args = SamplingArguments(backend="vllm", max_tokens=16, temperature=1.0, max_model_len=512, seed=0)
    with build_sampler(str(tiny_model), args) as sampler:
        out = sampler.generate(
            [Request("What is 2 + 2?", n=50, seed=7), Request("Compute 3 * 4.", n=5, seed=8)]
        )
        again = sampler.generate([Request("What is 2 + 2?", n=50, seed=7)])
        # Many seeded requests with long prompts: more prefill than one engine step holds.
        many = sampler.generate(
            [Request(format_prompt("alpaca", f"Add {i} and 3. " * 20), n=4, seed=i) for i in range(200)]
        )
    assert [len(group) for group in many] == [4] * 200
    assert [len(group) for group in out] == [50, 5]
    texts = [c.text for c in out[0]]
    assert len(set(texts)) > 40  # a random tiny model sampled at T=1 rarely repeats itself
    assert all(c.finish_reason in {"stop", "length"} and c.num_tokens <= 16 for c in out[0])
    assert [c.text for c in again[0]] == texts  # a request's seed makes it reproducible
