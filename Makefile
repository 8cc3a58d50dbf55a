# mmtad-ext: `make demo` and `make test` install what is missing, then run.
# Everything lives in the virtual environment $(VENV); nothing is installed by hand.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PIP_FLAGS := -q --disable-pip-version-check
DEMO_DIR ?= work_dirs/demo
# ActionFormer: +2.50 +- 0.87 average mAP over ETAD on this benchmark (3 seeds, BENCHMARKS.md s. 5);
# DEMO_CONFIG=configs/etad/etad_lstm_1xb8-16e_synthetic-tad-feature.py DEMO_EPOCHS=16 runs ETAD.
DEMO_CONFIG ?= configs/actionformer/actionformer_1xb8-30e_synthetic-tad-feature.py
DEMO_EPOCHS ?= 30
PYTEST_ARGS ?=

.PHONY: install deps demo test test-fast test-paper bench clean

# Third-party stack (idempotent; re-run when the requirements change), at the exact versions of
# requirements/constraints.txt (requirements.txt holds the ranges users install against). torch
# and setuptools come first; mmcv is built with its CPU ops against that torch (about 7 minutes
# the first time, then pip's wheel cache), and the build is checked through `import mmcv._ext`.
CONSTRAINTS := -c requirements/constraints.txt
$(VENV)/.deps-stamp: requirements.txt requirements/tests.txt requirements/blockdrop.txt requirements/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install $(PIP_FLAGS) $(CONSTRAINTS) --upgrade pip setuptools wheel
	$(PIP) install $(PIP_FLAGS) $(CONSTRAINTS) torch numpy
	$(PY) -c "import mmcv._ext" 2>/dev/null || \
		MMCV_WITH_OPS=1 MAX_JOBS=2 $(PIP) install $(PIP_FLAGS) $(CONSTRAINTS) --no-build-isolation mmcv
	$(PY) -c "import mmcv._ext" || (echo "mmcv was built without its ops" >&2; exit 1)
	$(PIP) install $(PIP_FLAGS) $(CONSTRAINTS) -r requirements.txt -r requirements/tests.txt \
		-r requirements/blockdrop.txt
	$(PY) -c "import torch, numpy; assert torch.__version__.startswith('2.13.0'), torch.__version__; assert numpy.__version__ == '1.26.4', numpy.__version__"
	touch $@

deps: $(VENV)/.deps-stamp

# The package itself: a regular (non-editable) install, so that mmengine finds the configs
# under mmtad_ext/.mim for `_base_ = 'mmtad_ext::...'`.
install: deps
	$(PIP) install $(PIP_FLAGS) --no-deps --no-build-isolation --force-reinstall .

demo: install
	$(PY) tools/make_synthetic_tad.py --out-dir data/synthetic_tad
	$(PY) tools/train.py $(DEMO_CONFIG) --work-dir $(DEMO_DIR)
	$(PY) tools/test.py $(DEMO_CONFIG) $(DEMO_DIR)/epoch_$(DEMO_EPOCHS).pth --work-dir $(DEMO_DIR)

# `make test` runs every test (as CI does) on $(TEST_WORKERS) pytest-xdist workers (one per
# core), the full-size paper configs on rehearsal data first (tests marked `paper`, minutes
# each); `make test-fast` leaves out the tests marked `slow` (tool subprocesses, torchrun, pip,
# kill/resume, trainings, paper configs: pytest.ini) and takes under a minute; `make
# test-paper` runs only the paper configs.
TEST_WORKERS ?= 2
test: install
	$(PY) -m pytest tests -n $(TEST_WORKERS) --maxschedchunk 1 $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest tests -m "not slow" $(PYTEST_ARGS)

test-paper: install
	$(PY) -m pytest tests -m paper -n $(TEST_WORKERS) --maxschedchunk 1 $(PYTEST_ARGS)

clean:
	rm -rf build *.egg-info mmtad_ext/.mim work_dirs
