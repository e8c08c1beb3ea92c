# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create .venv and install the project with its dev extras first.

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip -q --disable-pip-version-check
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test bench validate stress browser clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -c constraints.txt torch 2>&1 | { grep -v 'is ignored' || true; }
	$(PIP) install -c constraints.txt -e '.[dev,onnx,ray]' --config-settings editable_mode=compat 2>&1 | { grep -v 'is ignored' || true; }
	$(BIN)/python -c "import harness, torch, sentence_transformers, onnxruntime, ray.data; assert '+cpu' in torch.__version__, torch.__version__"
# Bytecode for the editable install, as a regular install has it: where PYTHONDONTWRITEBYTECODE
# is set, every command would otherwise compile each harness module it imports, every time.
	$(BIN)/python -m compileall -q harness
	@if $(BIN)/python -m pip list 2>/dev/null | grep -qi '^nvidia-'; then echo 'CUDA packages were installed: refusing'; exit 1; fi
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/harness demo

test: $(STAMP) browser
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	$(BIN)/python bench/run.py

validate: $(STAMP)
	$(BIN)/python bench/validate_gates.py
	$(BIN)/python bench/validate_sequential.py
	$(BIN)/python bench/validate_sequential_demo.py

# The long versions of the reliability proofs: 2,000 requests through the fault server,
# 20 kills of replay and of scoring, larger budgets and corpora.
stress: $(STAMP)
	HARNESS_STRESS=1 $(BIN)/python -m pytest -q -p no:cacheprovider --timeout 3600 tests/test_reliability_*.py

# Headless Chromium for the report's browser tests (Debian package, no download by playwright).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

clean:
	rm -rf $(VENV) *.egg-info
