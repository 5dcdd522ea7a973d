"""``python -m dart_trl.grpo RECIPE.yaml`` (what ``accelerate launch -m dart_trl.grpo`` runs)."""

import sys

from dart_trl.config import run_guarded
from dart_trl.grpo.train import main
from dart_trl.processes import run_rank

if __name__ == "__main__":
    run_rank(lambda: run_guarded("grpo", main, sys.argv[1:]))
