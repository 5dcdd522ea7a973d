"""Sampling with ``transformers``' ``generate``: slow, but needs nothing beyond the core install."""

from __future__ import annotations

from collections.abc import Sequence

from dart_trl.sampling.base import Completion, Request, Sampler, SamplingArguments


class TransformersSampler(Sampler):
    """Generates in left-padded batches of ``batch_size`` sequences on the model's device."""

    def __init__(self, model: str, args: SamplingArguments):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.args = args
        self.tokenizer = AutoTokenizer.from_pretrained(model, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = "auto" if args.dtype == "auto" else getattr(torch, args.dtype)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=dtype).to(device).eval()

    def generate(self, requests: Sequence[Request]) -> list[list[Completion]]:
        """Expand each request into ``n`` sequences, generate them in batches, and regroup."""
        import torch

        flat = [(i, r.prompt) for i, r in enumerate(requests) for _ in range(r.n)]
        results: list[list[Completion]] = [[] for _ in requests]
        if requests and requests[0].seed is not None:
            torch.manual_seed(requests[0].seed)
        for start in range(0, len(flat), self.args.batch_size):
            batch = flat[start : start + self.args.batch_size]
            for (index, _), completion in zip(
                batch, self._generate_batch([p for _, p in batch]), strict=True
            ):
                results[index].append(completion)
        return results

    def _generate_batch(self, prompts: list[str]) -> list[Completion]:
        import torch

        args, tok = self.args, self.tokenizer
        inputs = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            self.model.device
        )
        sample = args.temperature > 0
        with torch.no_grad():
            output = self.model.generate(
                **inputs,
                max_new_tokens=args.max_tokens,
                do_sample=sample,
                temperature=args.temperature if sample else None,
                top_p=args.top_p if sample else None,
                stop_strings=args.stop or None,
                tokenizer=tok,
                pad_token_id=tok.pad_token_id,
            )
        new_tokens = output[:, inputs["input_ids"].shape[1] :].tolist()
        return [self._to_completion(tokens) for tokens in new_tokens]

    def _to_completion(self, tokens: list[int]) -> Completion:
        eos = self.tokenizer.eos_token_id
        pad = self.tokenizer.pad_token_id
        ended = eos in tokens
        if ended:
            tokens = tokens[: tokens.index(eos)]
        while tokens and tokens[-1] == pad:
            tokens = tokens[:-1]
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        for stop in self.args.stop or []:
            if stop in text:
                text, ended = text[: text.index(stop)], True
        finish = "stop" if ended or len(tokens) < self.args.max_tokens else "length"
        return Completion(text, finish, len(tokens))
