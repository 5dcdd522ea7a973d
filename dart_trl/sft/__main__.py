"""``python -m dart_trl.sft RECIPE.yaml`` (what ``accelerate launch -m dart_trl.sft`` runs)."""

import sys

from dart_trl.config import run_guarded
from dart_trl.processes import run_rank
from dart_trl.sft.train import main

if __name__ == "__main__":
    run_rank(lambda: run_guarded("sft", main, sys.argv[1:]))
