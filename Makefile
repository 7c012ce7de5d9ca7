# The two commands of the README, and the targets they build on.
#   make repro   set up everything, then run the pipeline (dvc repro)
#   make test    set up everything, then run the test suite
# Run `make help` for the rest.

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV)/bin)
# dvc.yaml runs `python -m stages.…`: the virtual environment's python must come first.
export PATH := $(BIN):$(PATH)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian's package of the dataset; params.yaml lists its directory among the download sources.
DEBIAN_DATASET := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
KERAS_CACHE := $(HOME)/.keras/datasets/fashion-mnist/train-images-idx3-ubyte.gz

BASE ?= main
PRESET ?= cnn
# make remote-local: where this clone's own remote lives (outside the repository).
REMOTE_DIR ?= $(HOME)/.cache/dvc-remotes/fashion-mnist

.PHONY: help setup data-source qemu repro test test-slow report preset presets bench lint lock \
	clean remote-local remote-s3 push pull worker

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

setup: $(VENV)/.installed data-source ## create .venv with the locked dependencies; make sure the data is at hand

$(VENV)/.installed: requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
		{ echo "error: $(PYTHON) is not Python 3.11; run make PYTHON=python3.11 …" >&2; exit 1; }
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
		echo "python3-venv is missing; installing it with apt-get"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv && \
		$(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	@touch $@

data-source: ## without a local copy of Fashion-MNIST, install Debian's package of it (if apt exists)
	@if [ -f "$(DEBIAN_DATASET)" ] || [ -f "$(KERAS_CACHE)" ]; then \
		echo "Fashion-MNIST: local copy found"; \
	elif command -v apt-get >/dev/null; then \
		echo "Fashion-MNIST: no local copy; installing Debian's dataset-fashion-mnist"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist; \
	else \
		echo "Fashion-MNIST: no local copy and no apt-get; the download stage will try HTTP"; \
	fi

qemu: ## on x86-64, install Debian's qemu-user if qemu-x86_64 is missing: tests emulate other CPUs
	@if [ "$$(uname -m)" != x86_64 ]; then \
		echo "qemu: not an x86-64 machine; the emulated-CPU tests are skipped"; \
	elif command -v qemu-x86_64 >/dev/null; then \
		echo "qemu: qemu-x86_64 found"; \
	elif command -v apt-get >/dev/null; then \
		echo "qemu: qemu-x86_64 missing; installing Debian's qemu-user"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq qemu-user; \
	else \
		echo "qemu: qemu-x86_64 missing and no apt-get; install QEMU's user mode by hand" >&2; \
		exit 1; \
	fi

repro: setup ## run the pipeline: only the stages whose code, data or params changed
	$(BIN)/dvc repro

test: setup ## run the test suite (unit tests and a real `dvc repro` on tiny data), not the slow tests
	$(BIN)/python -m pytest -m "not slow"

test-slow: setup qemu ## run the slow tests: S3, DVC queue, distributed training, emulated CPUs
	$(BIN)/python -m pytest -m slow

report: setup ## compare the workspace with BASE (default main): report/report.md, report/plots/
	$(BIN)/python -m tools.report --base $(BASE) --out report

preset: setup ## run PRESET (cnn, dense128-adam or mlp-sgd) as a DVC experiment named after it
	$(BIN)/python -m tools.presets run $(PRESET)

presets: setup ## run every preset in a temporary copy; write metrics/presets.json and a table
	$(BIN)/python -m tools.presets measure

remote-local: setup ## make REMOTE_DIR this clone's default remote (in .dvc/config.local: not committed)
	$(BIN)/dvc remote add --local --default --force local $(abspath $(REMOTE_DIR))

remote-s3: setup ## make URL=s3://bucket/path [ENDPOINT=…] the team's default remote (.dvc/config)
	@case "$(URL)" in s3://?*) ;; *) echo "error: name the bucket: make remote-s3 URL=s3://bucket/path" >&2; exit 2;; esac
	$(BIN)/dvc remote add --default --force team $(URL)
	$(if $(ENDPOINT),$(BIN)/dvc remote modify team endpointurl $(ENDPOINT))
	@echo "Commit .dvc/config to share the remote. Credentials never go there: README, 'Working as a team'."

push: setup ## send outputs and the run-cache to the default remote (dvc push --run-cache)
	$(BIN)/python -m tools.remote push

pull: setup ## fetch outputs and the run-cache from the default remote (dvc pull --run-cache)
	$(BIN)/python -m tools.remote pull

worker: setup ## this machine's share of multi-worker training (TF_CONFIG set; README "Distributed training")
	$(BIN)/python -m tools.worker

bench: setup ## measure what users wait for (about 10 minutes, not in the tests): metrics/bench.json
	$(BIN)/python -m bench.bench

lint: setup ## check formatting and lint with ruff
	$(BIN)/ruff format --check stages tools bench tests
	$(BIN)/ruff check stages tools bench tests

lock: ## re-resolve pyproject.toml's pins into requirements.lock, in a throw-away venv
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet $$($(PYTHON) -c 'import tomllib; \
		p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
		print(" ".join(p["dependencies"] + p["optional-dependencies"]["dev"]))')
	{ echo "# Generated by \`make lock\` from pyproject.toml: every package, pinned."; \
	  .lock-venv/bin/python -m pip freeze; } > requirements.lock
	rm -rf .lock-venv

clean: ## delete the virtual environment and caches (not data/ nor DVC's cache)
	rm -rf $(VENV) .pytest_cache .ruff_cache dvc_plots report
