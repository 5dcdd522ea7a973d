"""DARS data synthesis: difficulty-aware rejection sampling (VRT, Uniform, Prop2Diff).

Modules, one job each:

- ``config``: the recipe's ``DarsArguments``;
- ``pools``: query pools declared in the recipe, loaded into :class:`~dart_trl.dars.pools.Query` rows;
- ``fields``: reading a column or a dotted path into a nested one (dicts stored as text too);
- ``difficulty``: pass rates from pool-info tables (``hkust-nlp/dart-math-pool-math-query-info``
  format), joined to the pools by id or query text, with the join's coverage;
- ``strategies``: per-query targets, stop rules and the size of each round's requests, free of I/O;
- ``store``: the output directory: append-only raw-sample shards, ``state.json``, resume;
- ``synthesis``: the sampling loop (sample, grade, append, re-plan);
- ``finalize``: the final dataset, ``query_info.parquet`` and the dataset card;
- ``report``: terminal progress and W&B logging (per round, Figure-1 plot at the end);
- ``plan``: the ``--plan`` estimate; ``merge``: combining ``--shard`` outputs.
"""
