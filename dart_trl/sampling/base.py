"""The sampler interface every generation backend implements, and its recipe arguments."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from dart_trl.sampling.registry import check_backend
from dart_trl.templates import turn_markers


@dataclass
class SamplingArguments:
    """Recipe keys for sampling completions (data synthesis and evaluation)."""

    backend: str = field(
        default="vllm",
        metadata={
            "help": "vllm: offline engine; openai: any OpenAI-compatible completions server "
            "(e.g. `vllm serve`); transformers: slow fallback without vLLM; or the import path of a "
            "Sampler class of your own."
        },
    )
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature; 0 is greedy."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling probability mass."})
    max_tokens: int = field(default=2048, metadata={"help": "Most new tokens per completion."})
    stop: list[str] | None = field(
        default=None,
        metadata={
            "help": "Strings that end a completion (not kept). Default: the prompt template's turn markers, "
            "as in the paper (alpaca: '### Instruction:', '### Response:'; deepseekmath: 'User:', "
            "'Assistant:'); [] for none (on the command line: --stop A B, or a bare --stop for none). "
            "The resolved recipe shows the stops in effect.",
        },
    )
    seed: int = field(
        default=42, metadata={"help": "Base random seed; each request derives its own from it."}
    )
    tensor_parallel_size: int = field(default=1, metadata={"help": "vLLM: GPUs per model replica."})
    gpu_memory_utilization: float = field(default=0.9, metadata={"help": "vLLM: share of GPU memory to use."})
    max_model_len: int | None = field(
        default=None, metadata={"help": "vLLM: context length (model's by default)."}
    )
    dtype: str = field(
        default="auto", metadata={"help": "vLLM/transformers: weight dtype (auto, bfloat16, float32)."}
    )
    enforce_eager: bool = field(
        default=False,
        metadata={"help": "vLLM: run the model eagerly, without compilation or CUDA graphs (starts faster)."},
    )
    enable_prefix_caching: bool = field(
        default=True, metadata={"help": "vLLM: reuse the KV cache of shared prefixes."}
    )
    base_url: str | None = field(
        default=None,
        metadata={"help": "openai: server URL, e.g. http://127.0.0.1:8000/v1 (key from OPENAI_API_KEY)."},
    )
    served_model_name: str | None = field(
        default=None, metadata={"help": "openai: model name the server knows (defaults to the model path)."}
    )
    max_concurrency: int = field(default=64, metadata={"help": "openai: requests in flight at once."})
    request_timeout: float = field(
        default=600.0, metadata={"help": "openai: seconds before a request is retried."}
    )
    max_retries: int = field(default=5, metadata={"help": "openai: retries per request (with backoff)."})
    batch_size: int = field(default=32, metadata={"help": "transformers: sequences generated together."})

    def resolve_stop(self, templates: Iterable[str]) -> list[str]:
        """Fill ``stop`` left at its default with the turn markers of the prompt ``templates``; return it."""
        if self.stop is None:
            self.stop = turn_markers(templates)
        return self.stop

    def __post_init__(self) -> None:
        check_backend(self.backend)
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 is greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {self.gpu_memory_utilization}")
        for key in ("max_tokens", "tensor_parallel_size", "max_concurrency", "batch_size"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be at least 1, got {getattr(self, key)}")
        if self.max_model_len is not None and self.max_model_len < 1:
            raise ValueError(f"max_model_len must be at least 1, got {self.max_model_len}")
        if self.request_timeout <= 0 or self.max_retries < 0:
            raise ValueError("request_timeout must be > 0 and max_retries >= 0")
        if self.stop is not None and not all(self.stop):
            raise ValueError(
                "stop strings must not be empty (an empty one would end every completion at once)"
            )
        if self.backend == "openai" and not self.base_url:
            raise ValueError("backend openai needs 'base_url', e.g. http://127.0.0.1:8000/v1")


@dataclass(frozen=True)
class Request:
    """One prompt to sample ``n`` completions for; ``seed`` makes the request reproducible."""

    prompt: str
    n: int = 1
    seed: int | None = None


@dataclass(frozen=True)
class Completion:
    """One sampled completion. ``finish_reason`` is ``stop`` (EOS or a stop string) or ``length``."""

    text: str
    finish_reason: str
    num_tokens: int | None = None


class Sampler(ABC):
    """Samples completions for batches of requests; use as a context manager to release the engine."""

    @abstractmethod
    def generate(self, requests: Sequence[Request]) -> list[list[Completion]]:
        """Return, for each request in order, its ``request.n`` completions."""

    def close(self) -> None:
        """Release the engine, server connections or model memory (nothing to release by default)."""
        return None

    def __enter__(self) -> Sampler:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
