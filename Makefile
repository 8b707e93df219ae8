# Vani: `make run` starts everything for development, `make test` runs the tests.
# Options: PORT=8001 make run; make run RUN_ARGS="--register --workers 2"; make test PYTEST_ARGS="-k calendly"
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test install install-dev migrate worker clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: $(VENV)/.installed
	$(BIN)/python run.py $(RUN_ARGS)

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

migrate: $(VENV)/.installed
	$(BIN)/flask --app run db upgrade

worker: $(VENV)/.installed
	$(BIN)/flask --app run vani worker

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
