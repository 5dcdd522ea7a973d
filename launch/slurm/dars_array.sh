#!/usr/bin/env bash
# DARS data synthesis as a Slurm job array: task i of N samples shard i/N of the query pool into
# <output_dir>/shard-<i>-of-<N>/ (resumable: resubmitting a task continues where it stopped); the
# merge step (launch/slurm/dars_merge.sh) combines the shards into <output_dir>.
#
# Submit N tasks and the merge step that waits for them:
#   jid=$(sbatch --parsable --array=0-7 launch/slurm/dars_array.sh recipes/dars_prop2diff.yaml)
#   sbatch --dependency=afterok:${jid} launch/slurm/dars_merge.sh recipes/dars_prop2diff.yaml
#
# Arguments: RECIPE [--key value ...]   recipe file and recipe overrides, passed to every task.
# Variables (environment):
#   NUM_SHARDS   number of shards N (default: the array size, SLURM_ARRAY_TASK_COUNT)
#   SHARD_INDEX  this task's shard i (default: SLURM_ARRAY_TASK_ID)
#   DART_TRL     command that runs dart-trl (default: dart-trl from the active environment)
#   VENV         virtual environment to activate first (optional)
#SBATCH --job-name=dars
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=64G
#SBATCH --time=24:00:00
#SBATCH --output=logs/%x_%A_%a.log
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: sbatch --array=0-<N-1> $0 RECIPE [--key value ...]" >&2
  exit 2
fi
if [[ -n "${VENV:-}" ]]; then
  # shellcheck disable=SC1091
  source "${VENV}/bin/activate"
fi
NUM_SHARDS="${NUM_SHARDS:-${SLURM_ARRAY_TASK_COUNT:?set NUM_SHARDS or submit with --array}}"
SHARD_INDEX="${SHARD_INDEX:-${SLURM_ARRAY_TASK_ID:?set SHARD_INDEX or submit with --array}}"
DART_TRL="${DART_TRL:-dart-trl}"

mkdir -p logs
echo "dars shard ${SHARD_INDEX}/${NUM_SHARDS} on $(hostname): ${*}"
exec ${DART_TRL} generate "$@" --shard "${SHARD_INDEX}/${NUM_SHARDS}"
