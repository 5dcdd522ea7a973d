"""Weights & Biases: runs that carry the resolved recipe and git commit, and reading back what a run logged."""
