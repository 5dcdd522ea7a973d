#!/bin/bash
# Staged GRPO on a Slurm cluster: the first node serves generation with `trl vllm-serve`, the other
# nodes train with `dart-trl grpo` (accelerate launch, TRL's GRPOTrainer with vllm_mode: server).
#
#   sbatch --nodes 2 launch/slurm/grpo_vllm_server.sh recipes/grpo_staged.yaml [--key value ...]
#
# Variables (environment; defaults in brackets):
#   MODEL          model the vLLM server loads first [the recipe's model_name_or_path]; the trainer pushes
#                  its weights to the server before every generation, so one server serves every stage
#   VLLM_TP        tensor-parallel size of the server [1]
#   VLLM_DP        data-parallel size of the server [GPUS_PER_NODE / VLLM_TP]
#   VLLM_PORT      HTTP port of the server [8000]
#   GROUP_PORT     port of the weight-sync communicator (GRPOConfig vllm_group_port) [51216]
#   GPUS_PER_NODE  GPUs per node [8]
#   ACCELERATE_CONFIG  accelerate config of the trainer nodes [launch/accelerate/zero2.yaml]
#   VENV           virtual environment to activate [.venv]
#   WANDB_PROJECT  W&B project [dart-trl]
# The job is rerunnable: resubmit the same command after a preemption or timeout; finished stages are
# skipped and the interrupted one resumes from its last checkpoint.
#
#SBATCH --job-name=dart-grpo
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --exclusive
#SBATCH --output=logs/%x-%j.out

set -euo pipefail

RECIPE=${1:?usage: sbatch --nodes N launch/slurm/grpo_vllm_server.sh RECIPE.yaml [--key value ...]}
shift
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
VLLM_TP=${VLLM_TP:-1}
VLLM_DP=${VLLM_DP:-$((GPUS_PER_NODE / VLLM_TP))}
VLLM_PORT=${VLLM_PORT:-8000}
GROUP_PORT=${GROUP_PORT:-51216}
ACCELERATE_CONFIG=${ACCELERATE_CONFIG:-launch/accelerate/zero2.yaml}
export WANDB_PROJECT=${WANDB_PROJECT:-dart-trl}
# shellcheck disable=SC1091
source "${VENV:-.venv}/bin/activate"
mkdir -p logs

mapfile -t NODES < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
if [ "${#NODES[@]}" -lt 2 ]; then
  echo "need at least 2 nodes: 1 for vLLM, the rest for training" >&2
  exit 2
fi
SERVER=${NODES[0]}
TRAINERS=("${NODES[@]:1}")
NUM_TRAINERS=${#TRAINERS[@]}
MAIN_TRAINER=${TRAINERS[0]}
MODEL=${MODEL:-$(python -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['model_name_or_path'])" "$RECIPE")}

# Validate the recipe (keys, stage datasets, rewards) before any GPU time is spent.
dart-trl grpo "$RECIPE" "$@" --check

echo "vLLM server on $SERVER (tp=$VLLM_TP dp=$VLLM_DP); trainers: ${TRAINERS[*]}"
srun --nodes=1 --ntasks=1 --nodelist="$SERVER" \
  trl vllm-serve --model "$MODEL" --tensor_parallel_size "$VLLM_TP" --data_parallel_size "$VLLM_DP" \
  --host 0.0.0.0 --port "$VLLM_PORT" &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT

# Every trainer node runs `accelerate launch -m dart_trl.grpo` with its machine rank.
srun --nodes="$NUM_TRAINERS" --ntasks="$NUM_TRAINERS" --nodelist="$(IFS=,; echo "${TRAINERS[*]}")" \
  bash -c "accelerate launch --config_file '$ACCELERATE_CONFIG' \
    --num_machines $NUM_TRAINERS --num_processes $((NUM_TRAINERS * GPUS_PER_NODE)) \
    --machine_rank \$SLURM_PROCID --main_process_ip $MAIN_TRAINER --main_process_port 29500 \
    -m dart_trl.grpo '$RECIPE' $* \
    --use_vllm true --vllm_mode server --vllm_server_host $SERVER --vllm_server_port $VLLM_PORT \
    --vllm_group_port $GROUP_PORT"
