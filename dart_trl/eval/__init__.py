"""Benchmarks (``dart-trl eval``) and side-by-side comparison of evaluation runs (``dart-trl compare``)."""
