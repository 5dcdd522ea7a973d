"""``dart-trl env`` and ``dart-trl doctor``: what a node has installed, and whether the pipeline runs on it."""
