# `make test` and `make demo` are all the set-up a fresh machine needs: both create .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?=
PYTEST_ARGS ?=

.PHONY: venv test test-slow test-all demo clean

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[torch,test,onnx,openvino,video,web]'
	touch $(STAMP)

venv: $(STAMP)

# pytest exits 5 when it collected nothing: that is a broken suite, not a pass.
PYTEST = $(BIN)/python -m pytest tests $(PYTEST_ARGS)
NOT_EMPTY = rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

# The default set: everything but the tests marked slow (pytest.ini).
test: $(STAMP)
	$(PYTEST); $(NOT_EMPTY)

# Only the tests marked slow: `make test` then `make test-slow` runs every test once (what .ci/run does).
test-slow: $(STAMP)
	$(PYTEST) -m slow; $(NOT_EMPTY)

# Everything in one run, including the tests marked slow.
test-all: $(STAMP)
	$(PYTEST) -m ""; $(NOT_EMPTY)

demo: $(STAMP)
	$(BIN)/deblurkeras demo $(if $(DATA),--data $(DATA),)

clean:
	rm -rf $(VENV) build *.egg-info demo_out
