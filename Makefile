# The two commands of the README, and the targets they build on.
#   make repro   set up everything, then run the pipeline (dvc repro)
#   make test    set up everything, then run the test suite
# Run `make help` for the rest: every target has a `##` line, and belongs to one group below.

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV)/bin)
# dvc.yaml runs `python -m stages.…`: the virtual environment's python must come first.
export PATH := $(BIN):$(PATH)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# apt-get that waits up to 10 minutes for the package lock, which another apt or dpkg (the
# unattended upgrades after a boot) may hold, instead of failing at once; it says so first.
APT_GET := $(SUDO) apt-get -o DPkg::Lock::Timeout=600
APT_WAIT_NOTE := echo "apt-get: if another apt or dpkg (unattended-upgrades) holds the package lock, waiting for it, up to 10 minutes"
# Debian's package of the dataset; dataset.yaml lists its directory among the sources.
DEBIAN_DATASET := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
KERAS_CACHE := $(HOME)/.keras/datasets/fashion-mnist/train-images-idx3-ubyte.gz

BASE ?= main
PRESET ?= cnn
# make remote-local: where this clone's own remote lives (outside the repository).
REMOTE_DIR ?= $(HOME)/.cache/dvc-remotes/fashion-mnist

.PHONY: help setup setup-dev hooks data-source browser qemu repro test test-slow report docs generate \
	preset presets frontier bench lint lock clean remote-local remote-s3 push pull worker

# `make help`'s groups, in its order; a target in none is listed last, under "Ungrouped".
HELP_GROUPS := Daily use=repro test test-slow report preset presets frontier docs;\
	Working as a team=remote-local remote-s3 push pull worker;\
	Maintenance=help setup setup-dev data-source browser qemu bench lint generate hooks lock clean

help: ## list the targets, grouped, one line each
	@awk -F':.*## ' -v groups='$(HELP_GROUPS)' ' \
		/^[a-z0-9-]+:.*## / { line[$$1] = $$2; order[++n] = $$1 } \
		END { \
			count = split(groups, group, ";"); \
			for (g = 1; g <= count; g++) { \
				split(group[g], parts, "="); sub(/^ +/, "", parts[1]); printf "%s:\n", parts[1]; \
				members = split(parts[2], target, " "); \
				for (t = 1; t <= members; t++) { \
					printf "  make %-13s %s\n", target[t], line[target[t]]; done[target[t]] = 1 } } \
			for (i = 1; i <= n; i++) if (!(order[i] in done)) { \
				if (!other++) print "Ungrouped:"; printf "  make %-13s %s\n", order[i], line[order[i]] } \
		}' $(MAKEFILE_LIST)

setup: $(VENV)/.runtime data-source ## create .venv with the runtime lock (hashes checked); make sure the data is at hand

setup-dev: setup $(VENV)/.dev ## add the tools to test, lint and build the docs (requirements/dev.lock)

# Two hashed locks (`make lock`): what the pipeline runs on, and that plus the tools to develop it.
# `--require-hashes`: every file pip installs must be the one the lock names, byte for byte.
RUNTIME_LOCK := requirements/runtime.lock
DEV_LOCK := requirements/dev.lock

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
		{ echo "error: $(PYTHON) is not Python 3.11; run make PYTHON=python3.11 …" >&2; exit 1; }
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
		echo "python3-venv is missing; installing it with apt-get"; \
		$(APT_WAIT_NOTE); $(APT_GET) update -qq && $(APT_GET) install -y -qq python3-venv && \
		$(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: $(RUNTIME_LOCK) | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet --require-hashes -r $(RUNTIME_LOCK)
	@touch $@

$(VENV)/.dev: $(DEV_LOCK) $(VENV)/.runtime
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	@touch $@

data-source: ## without a local copy of Fashion-MNIST, install Debian's package of it (if apt exists)
	@if [ -f "$(DEBIAN_DATASET)" ] || [ -f "$(KERAS_CACHE)" ]; then \
		echo "Fashion-MNIST: local copy found"; \
	elif command -v apt-get >/dev/null; then \
		echo "Fashion-MNIST: no local copy; installing Debian's dataset-fashion-mnist"; \
		$(APT_WAIT_NOTE); $(APT_GET) update -qq && $(APT_GET) install -y -qq dataset-fashion-mnist; \
	else \
		echo "Fashion-MNIST: no local copy and no apt-get; the download stage will try HTTP"; \
	fi

# Debian's Chromium, for the test that opens the report page in a real browser (tests/test_report.py).
browser: ## install Debian's chromium if no chromium is on the PATH (for the browser test)
	@command -v chromium >/dev/null || { \
		echo "chromium: not found; installing Debian's chromium package with apt-get"; \
		$(APT_WAIT_NOTE); $(APT_GET) update -qq && $(APT_GET) install -y -qq chromium; }

# QEMU's user mode, for the tests that train on emulated CPUs (tests/test_numerics.py).
qemu: ## on x86-64, install Debian's qemu-user if qemu-x86_64 is missing: tests emulate other CPUs
	@if [ "$$(uname -m)" != x86_64 ]; then \
		echo "qemu: not an x86-64 machine; the emulated-CPU tests are skipped"; \
	elif command -v qemu-x86_64 >/dev/null; then \
		echo "qemu: qemu-x86_64 found"; \
	elif command -v apt-get >/dev/null; then \
		echo "qemu: qemu-x86_64 missing; installing Debian's qemu-user"; \
		$(APT_WAIT_NOTE); $(APT_GET) update -qq && $(APT_GET) install -y -qq qemu-user; \
	else \
		echo "qemu: qemu-x86_64 missing and no apt-get; install QEMU's user mode by hand" >&2; \
		exit 1; \
	fi

repro: setup ## run the pipeline: only the stages whose code, data or params changed
	$(BIN)/dvc repro

test: setup-dev ## run the tests but the slow ones: units, `dvc repro` on tiny data, docs
	$(BIN)/python -m pytest -m "not slow"

test-slow: setup-dev browser qemu ## run the slow tests: S3, DVC queue, distributed training, emulated CPUs, a browser
	$(BIN)/python -m pytest -m slow

# REVS="main exp-a workspace": any revisions DVC takes, the base first; without it, BASE and the workspace.
report: setup ## compare the workspace with BASE (default main), or REVS: report/index.html offline, report.md
	$(BIN)/python -m tools.report $(or $(REVS),$(BASE)) --out report

# NO_MKDOCS_2_WARNING: mkdocs-material's banner about its successor, printed on every build.
docs: setup-dev ## build the documentation site into site/ with `mkdocs build --strict` (offline)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

preset: setup ## run PRESET (cnn, cnn-fast, dense128-adam, mlp-sgd, quick) as an experiment of its name
	$(BIN)/python -m tools.presets run $(PRESET)

presets: setup ## run every preset but quick in a temporary copy; write metrics/presets.json, a table
	$(BIN)/python -m tools.presets measure

frontier: setup ## queue frontier/candidates.yaml, run it one at a time, write metrics/frontier.json
	$(BIN)/python -m tools.frontier queue
	$(BIN)/python -m tools.frontier run
	$(BIN)/python -m tools.frontier collect

remote-local: setup ## make REMOTE_DIR this clone's default remote (in .dvc/config.local: not committed)
	$(BIN)/dvc remote add --local --default --force local $(abspath $(REMOTE_DIR))

remote-s3: setup ## make URL=s3://bucket/path [ENDPOINT=…] the team's default remote (.dvc/config)
	@case "$(URL)" in s3://?*) ;; *) echo "error: name the bucket: make remote-s3 URL=s3://bucket/path" >&2; exit 2;; esac
	$(BIN)/dvc remote add --default --force team $(URL)
	$(if $(ENDPOINT),$(BIN)/dvc remote modify team endpointurl $(ENDPOINT))
	@echo "Commit .dvc/config to share the remote. Credentials never go there: docs/team.md."

push: setup ## send the outputs to the default remote (dvc push)
	$(BIN)/python -m tools.remote push

pull: setup ## fetch the outputs from the default remote (dvc pull)
	$(BIN)/python -m tools.remote pull

worker: setup ## this machine's share of multi-worker training (TF_CONFIG set; docs/team.md)
	$(BIN)/python -m tools.worker

# repro first: the throughput step of bench.py trains on this checkout's data/prepared/train.npz.
bench: repro ## measure what users wait for (long; not in the tests): metrics/bench.json, its doc
	$(BIN)/python -m bench.bench
	$(BIN)/python -m tools.generated

generate: setup ## rewrite what is generated: the schemas, docs/params.md, the rerun table, record tables, bench figures
	$(BIN)/python -m tools.generated

lint: setup-dev ## check formatting and lint with ruff (CI runs it; so does the git hook)
	$(BIN)/ruff format --check stages tools bench tests
	$(BIN)/ruff check stages tools bench tests

hooks: setup-dev ## install the git hooks of .pre-commit-config.yaml: ruff, and DVC's own
	$(BIN)/pre-commit install

lock: setup-dev ## re-resolve pyproject.toml's pins into the two hashed locks (uv pip compile)
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11.7 --generate-hashes --quiet \
		--custom-compile-command "make lock" -o $(RUNTIME_LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra dev -c $(RUNTIME_LOCK) --python-version 3.11.7 \
		--generate-hashes --quiet --custom-compile-command "make lock" -o $(DEV_LOCK)

clean: ## delete the virtual environment and caches (not data/ nor DVC's cache)
	rm -rf $(VENV) .pytest_cache .ruff_cache dvc_plots report site
