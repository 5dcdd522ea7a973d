#!/bin/bash
# Multi-node SFT with DeepSpeed ZeRO-3: one `accelerate launch` per node, started by srun.
#
# Variables (export them or put them before sbatch):
#   RECIPE              recipe to train (required), e.g. recipes/sft_llama3_70b_prop2diff.yaml
#   GPUS_PER_NODE       GPUs on each node (default 8)
#   ACCELERATE_CONFIG   accelerate config (default launch/accelerate/zero3.yaml)
#   MASTER_PORT         rendezvous port on the first node (default 29500)
#   EXTRA_ARGS          recipe overrides, e.g. "--output_dir /scratch/me/sft-70b --save_steps 100"
#   VENV                virtual environment to activate (default .venv in the repository)
# The node count comes from Slurm (sbatch --nodes=N); the recipe's global batch assumes N x GPUS_PER_NODE GPUs.
#
# Example (Llama3-70B on 4 nodes x 8 GPUs = 32 GPUs, as the DART-Math card):
#   RECIPE=recipes/sft_llama3_70b_prop2diff.yaml sbatch --nodes=4 launch/slurm/sft_multinode.sh
# A stopped job resubmitted with the same output_dir resumes from its last checkpoint.
#
#SBATCH --job-name=dart-sft
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=32
#SBATCH --exclusive
#SBATCH --output=logs/%x-%j.out

set -euo pipefail

: "${RECIPE:?set RECIPE to the recipe to train, e.g. recipes/sft_llama3_70b_prop2diff.yaml}"
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
ACCELERATE_CONFIG=${ACCELERATE_CONFIG:-launch/accelerate/zero3.yaml}
MASTER_PORT=${MASTER_PORT:-29500}
EXTRA_ARGS=${EXTRA_ARGS:-}
REPO_DIR=${SLURM_SUBMIT_DIR:-$(pwd)}
VENV=${VENV:-$REPO_DIR/.venv}

cd "$REPO_DIR"
mkdir -p logs
# shellcheck disable=SC1091
source "$VENV/bin/activate"

NUM_NODES=${SLURM_NNODES:-1}
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
NUM_PROCESSES=$((NUM_NODES * GPUS_PER_NODE))
echo "SFT ${RECIPE}: ${NUM_NODES} nodes x ${GPUS_PER_NODE} GPUs, rendezvous ${MASTER_ADDR}:${MASTER_PORT}"

export ACCELERATE_CONFIG NUM_NODES NUM_PROCESSES MASTER_ADDR MASTER_PORT RECIPE EXTRA_ARGS
# Single quotes: SLURM_NODEID (the machine rank) is expanded on each node by the shell srun starts there.
# shellcheck disable=SC2016
srun --kill-on-bad-exit=1 bash -c 'accelerate launch \
  --config_file "$ACCELERATE_CONFIG" \
  --num_machines "$NUM_NODES" \
  --num_processes "$NUM_PROCESSES" \
  --machine_rank "$SLURM_NODEID" \
  --main_process_ip "$MASTER_ADDR" \
  --main_process_port "$MASTER_PORT" \
  -m dart_trl.sft "$RECIPE" $EXTRA_ARGS'
