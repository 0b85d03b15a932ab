# The front door. Each target is a thin call into a stage's command-line entry (python -m ...),
# which also runs on its own. Environments are created on first use.

PYTHON      ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed

# Recipe and run folder for `make train` and friends.
RECIPE      ?= model/recipes/demo.yaml
RUN         ?= runs/demo

# Model and board for `make compile` / `make bitstream` (MODEL: a run folder or a .onnx file).
MODEL       ?= $(RUN)
BOARD       ?= zcu104
COMPILE_ARGS = $(strip $(MODEL) --board $(BOARD) $(if $(TARGET_FPS),--target-fps $(TARGET_FPS)) \
               $(if $(FOLDING),--folding $(FOLDING)) $(if $(BUDGET),--budget $(BUDGET)) $(if $(OUT),--out $(OUT)))

.PHONY: help setup demo test train bench compile bitstream yardstick clean

help:
	@echo "make demo     synthetic data -> train compact model -> evaluate -> export -> cost (runs/demo/)"
	@echo "make test     run the test suite (what CI runs)"
	@echo "make setup    create $(VENV) with the model, compile and test extras"
	@echo "make train    RECIPE=model/recipes/<name>.yaml RUN=runs/<name> [DATA=<file.h5>]"
	@echo "make bench    loader and generator throughput figures"
	@echo "make compile  MODEL=<run folder or .onnx> BOARD=zcu104 [TARGET_FPS=..|FOLDING=<json>] [BUDGET=lut=0.7]"
	@echo "              -> hw/builds/<model>-<board>/ (steps, folding.json, sources, report.md/json)"
	@echo "make bitstream  the same, then finn-plus's builder (needs Vivado; says what is missing otherwise)"
	@echo "make yardstick  finn-examples VGG10 w4a4 on ZCU104: its folding vs our estimates and search"

# One environment for model/ and compile/: finn-plus shares its pins with the training core.
# finn-plus goes in with --no-deps: it pins brevitas 0.13.0, which fails on torch 2.13.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[model,compile,test]"
	$(PY) -m pip install -q --no-deps "finn-plus==1.6.1"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(PY) -m model.pipeline $(RECIPE) --run $(RUN) $(if $(DATA),--data $(DATA))

train: $(STAMP)
	$(PY) -m model.pipeline $(RECIPE) --run $(RUN) $(if $(DATA),--data $(DATA))

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) scripts/bench_loader.py

compile: $(STAMP)
	$(PY) -m compile.build compile $(COMPILE_ARGS)

bitstream: $(STAMP)
	$(PY) -m compile.build bitstream $(COMPILE_ARGS)

yardstick: $(STAMP)
	$(PY) scripts/yardstick_vgg10.py

clean:
	rm -rf runs/demo data/synthetic-demo.h5
