"""Prompt templates shared by data synthesis, SFT and evaluation.

A template is a string with one ``{query}`` slot (filled by plain replacement, so braces in the
query are safe). ``chat`` is special: it uses the tokenizer's own chat template.

A template's turn markers are its query and response prompts, stripped (``### Instruction:`` and
``### Response:`` for alpaca). As in the paper's sampling, they are the default stop strings of
``generate`` and ``eval``: a completion that runs on into an invented next turn ends there instead of
putting that turn (and its ``\\boxed{}``) into the data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

ALPACA = (
    "Below is an instruction that describes a task. Write a response that appropriately completes "
    "the request.\n\n### Instruction:\n{query}\n\n### Response:\n"
)

TEMPLATES: dict[str, str] = {
    # DART-Math's SFT and evaluation template.
    "alpaca": ALPACA,
    # DeepSeekMath-RL's template, used to synthesise DART-Math data.
    "deepseekmath": (
        "User: {query}\nPlease reason step by step, and put your final answer within \\boxed{}.\n\nAssistant:"
    ),
    # Qwen2.5-Math style chat prompt, asking for a boxed answer.
    "qwen-boxed": (
        "<|im_start|>system\nPlease reason step by step, and put your final answer within \\boxed{}.<|im_end|>\n"
        "<|im_start|>user\n{query}<|im_end|>\n<|im_start|>assistant\n"
    ),
    # The query as it is.
    "raw": "{query}",
}

# The query and response prompts of each template, stripped: where a turn starts (None: no markers).
TURN_MARKERS: dict[str, tuple[str, ...]] = {
    "alpaca": ("### Instruction:", "### Response:"),
    "deepseekmath": ("User:", "Assistant:"),
    "qwen-boxed": ("<|im_start|>user", "<|im_start|>assistant"),
    "raw": (),
}

CHAT = "chat"
TemplateName = Literal["alpaca", "deepseekmath", "qwen-boxed", "raw", "chat"]


def template_names() -> list[str]:
    """Names accepted by :func:`format_prompt` (the recipe type :data:`TemplateName`)."""
    return list(get_args(TemplateName))


def format_prompt(template: str, query: str, tokenizer=None) -> str:
    """Fill ``template`` (a name from :data:`TEMPLATES`, or ``chat``) with ``query``.

    ``chat`` renders a single user turn with ``tokenizer``'s chat template and the generation prompt.
    """
    if template == CHAT:
        if tokenizer is None:
            raise ValueError("the 'chat' template needs a tokenizer")
        messages = [{"role": "user", "content": query}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if template not in TEMPLATES:
        raise ValueError(f"unknown prompt template {template!r}; choose from {template_names()}")
    return TEMPLATES[template].replace("{query}", query)


def chat_tokenizer(template: str | None, model: str):
    """The tokenizer of ``model`` when ``template`` is ``chat`` (its chat template renders the prompts),
    else None."""
    if template != CHAT:
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model)


def turn_markers(templates: Iterable[str]) -> list[str]:
    """The turn markers of ``templates`` (in order, without repeats): the default stop strings of a run
    that uses them. ``raw`` and ``chat`` have none (a chat model ends its turn with its EOS token)."""
    markers: list[str] = []
    for template in templates:
        markers += [m for m in TURN_MARKERS.get(template, ()) if m not in markers]
    return markers


assert set(TURN_MARKERS) == set(TEMPLATES), "every template declares its turn markers"
assert all(m in TEMPLATES[t] for t, ms in TURN_MARKERS.items() for m in ms), "markers come from the template"
assert set(template_names()) == {*TEMPLATES, CHAT}, "TemplateName must list every template"
