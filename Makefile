# Two commands on a fresh machine with Python 3.11:  make run  |  make test
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
PORT ?= 8501
# glibc malloc: large tensors stay on the heap instead of a fresh mmap each batch (scoring ~1.5x
# faster on the CPU, see core/malloc_tuning.py and bench/bench_malloc.py); read at process start.
export MALLOC_MMAP_THRESHOLD_ ?= 268435456
export MALLOC_TRIM_THRESHOLD_ ?= 1073741824
export MALLOC_ARENA_MAX ?= 2

.PHONY: setup testset run test browser api bench evaluate clean-cache

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

# The default test set: the labelled data's stratified validation split (seed 0, symlinks
# only), made once when the data set is at hand; otherwise the dashboard asks for a test set.
DATASET ?= ../shared/datasets/ciplab_train
testset: setup
	@if [ ! -e data/test_images ] && [ -d "$(DATASET)" ]; then \
	  echo "making data/test_images: the validation split of $(DATASET) (data/ciplab_split, seed 0)"; \
	  ( $(BIN)/python -m core split --data "$(DATASET)" --out data/ciplab_split --val-fraction 0.1 --seed 0 \
	    && ln -sfn ciplab_split/val data/test_images ) \
	  || echo "warning: could not make data/test_images from $(DATASET); the dashboard will ask for a test set"; \
	elif [ ! -e data/test_images ]; then \
	  echo "note: no data/test_images and no $(DATASET): the dashboard will ask for a test set"; fi

run: setup testset
	$(BIN)/python -m streamlit run streamlit_app.py --server.port $(PORT) --server.headless true

# The end-to-end browser test drives Debian's chromium; install it when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: could not install chromium"; }

test: setup browser
	$(BIN)/python -m pytest -q -rs -p no:cacheprovider

evaluate: setup
	$(BIN)/python -m core evaluate

api: setup
	$(BIN)/python -m core.api --host $${API_HOST:-127.0.0.1} --port $${API_PORT:-8000}

bench: setup
	for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean-cache:
	rm -rf .cache
