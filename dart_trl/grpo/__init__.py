"""Difficulty-staged GRPO (``dart-trl grpo``) and the difficulty levels it trains on (``dart-trl levels``)."""
