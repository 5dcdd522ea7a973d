"""dart-trl: difficulty-aware math training on Hugging Face TRL."""

__version__ = "0.1.0"
