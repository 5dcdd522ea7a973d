"""Sampling backends by name: the recipe key ``backend`` picks one, or names a Sampler class by import path."""

from __future__ import annotations

from dart_trl.config.plugins import import_object, is_import_path

# name -> "module:Class"; imported only when used (vLLM takes seconds to import).
BACKENDS: dict[str, str] = {
    "vllm": "dart_trl.sampling.vllm_backend:VLLMSampler",
    "openai": "dart_trl.sampling.openai_backend:OpenAISampler",
    "transformers": "dart_trl.sampling.transformers_backend:TransformersSampler",
}


def check_backend(name: str) -> None:
    """Raise ValueError when ``name`` is neither a registered backend nor an import path."""
    if name not in BACKENDS and not is_import_path(name):
        raise ValueError(
            f"unknown sampling backend '{name}'; choose from {list(BACKENDS)} or give an import path"
        )


def sampler_class(name: str) -> type:
    """The Sampler class of backend ``name`` (imports it)."""
    from dart_trl.sampling.base import Sampler

    cls = import_object(BACKENDS.get(name, name))
    if not (isinstance(cls, type) and issubclass(cls, Sampler)):
        raise ValueError(f"sampling backend '{name}' is not a dart_trl.sampling.Sampler subclass")
    return cls
