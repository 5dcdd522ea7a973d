"""Known query difficulty from a pool-info file.

The format is that of ``hkust-nlp/dart-math-pool-math-query-info``: one row per query with
``query_id`` and ``pass_rate`` (and ``tot_n_samples`` / ``tot_n_corrects``, used when ``pass_rate``
is absent). Pass rates are clipped to [0, 1]; rows with no samples are ignored.
"""

from __future__ import annotations

import math

from dart_trl.config import RecipeError


def load_pass_rates(source: str, split: str = "train") -> dict[str, float]:
    """Map query id -> pass rate from a pool-info file or Hub dataset."""
    from dart_trl.data import load_table

    table = load_table(source, split=split)
    columns = set(table.column_names)
    if "query_id" not in columns:
        raise RecipeError(f"pool_info {source}: needs a 'query_id' column; columns found: {sorted(columns)}")
    if "pass_rate" in columns:
        rates = zip(table["query_id"], table["pass_rate"], strict=True)
    elif {"tot_n_samples", "tot_n_corrects"} <= columns:
        rates = (
            (qid, c / n if n else None)
            for qid, n, c in zip(
                table["query_id"], table["tot_n_samples"], table["tot_n_corrects"], strict=True
            )
        )
    else:
        raise RecipeError(
            f"pool_info {source}: needs 'pass_rate' or 'tot_n_samples' + 'tot_n_corrects'; "
            f"columns found: {sorted(columns)}"
        )
    out: dict[str, float] = {}
    for qid, rate in rates:
        if rate is None or (isinstance(rate, float) and math.isnan(rate)):
            continue
        out[str(qid)] = min(1.0, max(0.0, float(rate)))
    return out
