#!/usr/bin/env bash
# Merge step of launch/slurm/dars_array.sh: combines every <output_dir>/shard-*-of-*/ into
# <output_dir> (raw samples, dataset/train.parquet, query_info.parquet, W&B summary). CPU only.
#
#   sbatch --dependency=afterok:<array job id> launch/slurm/dars_merge.sh RECIPE [--key value ...]
#
# Variables (environment):
#   DART_TRL     command that runs dart-trl (default: dart-trl from the active environment)
#   VENV         virtual environment to activate first (optional)
#SBATCH --job-name=dars-merge
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=4
#SBATCH --mem=32G
#SBATCH --time=02:00:00
#SBATCH --output=logs/%x_%j.log
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: sbatch $0 RECIPE [--key value ...]" >&2
  exit 2
fi
if [[ -n "${VENV:-}" ]]; then
  # shellcheck disable=SC1091
  source "${VENV}/bin/activate"
fi
DART_TRL="${DART_TRL:-dart-trl}"
mkdir -p logs
exec ${DART_TRL} generate "$@" --merge
