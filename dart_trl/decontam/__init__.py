"""Benchmark decontamination: find training rows that contain benchmark questions, and drop them.

``matching`` normalises text and matches word n-grams against an index of benchmark questions;
``questions`` reads the benchmarks through the eval registry (cached per benchmark file); ``guard``
is the opt-in check of ``generate``, ``sft`` and ``grpo``; ``job`` is ``dart-trl decontaminate``.
"""
