"""Sampling from an OpenAI-compatible completions server such as ``vllm serve``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence

from dart_trl.sampling.base import Completion, Request, Sampler, SamplingArguments


class OpenAISampler(Sampler):
    """Sends each request to ``/v1/completions`` with ``n``; at most ``max_concurrency`` in flight.

    The client retries connection errors, 429s and 5xx with exponential backoff (``max_retries``).
    """

    def __init__(self, model: str, args: SamplingArguments):
        if not args.base_url:
            raise ValueError("the openai backend needs base_url, e.g. http://127.0.0.1:8000/v1")
        self.model = args.served_model_name or model
        self.args = args

    async def _generate(self, requests: Sequence[Request]) -> list[list[Completion]]:
        from openai import AsyncOpenAI

        args = self.args
        client = AsyncOpenAI(
            base_url=args.base_url,
            api_key=os.environ.get("OPENAI_API_KEY", "EMPTY"),
            max_retries=args.max_retries,
            timeout=args.request_timeout,
        )
        limit = asyncio.Semaphore(args.max_concurrency)

        async def one(request: Request) -> list[Completion]:
            async with limit:
                response = await client.completions.create(
                    model=self.model,
                    prompt=request.prompt,
                    n=request.n,
                    temperature=args.temperature,
                    top_p=args.top_p,
                    max_tokens=args.max_tokens,
                    stop=args.stop or None,
                    seed=request.seed,
                )
            choices = sorted(response.choices, key=lambda c: c.index)
            return [Completion(c.text, c.finish_reason or "stop", None) for c in choices]

        try:
            return list(await asyncio.gather(*(one(r) for r in requests)))
        finally:
            await client.close()

    def generate(self, requests: Sequence[Request]) -> list[list[Completion]]:
        """Send all requests concurrently and wait for every answer."""
        if not requests:
            return []
        return asyncio.run(self._generate(requests))
