# The front door. Each target is a thin call into a stage's command-line entry (python -m ...),
# which also runs on its own. Environments are created on first use.

PYTHON      ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
# The driver's environment: numpy < 2 for finn-plus-driver, no torch (as on the board).
DRIVER_VENV ?= .venv-driver
DPY         := $(DRIVER_VENV)/bin/python
DSTAMP      := $(DRIVER_VENV)/.installed

# Recipe and run folder for `make train` and friends.
RECIPE      ?= model/recipes/demo.yaml
RUN         ?= runs/demo

# Model and board for `make compile` / `make bitstream` (MODEL: a run folder or a .onnx file).
MODEL       ?= $(RUN)
BOARD       ?= zcu104
COMPILE_ARGS = $(strip $(MODEL) --board $(BOARD) $(if $(TARGET_FPS),--target-fps $(TARGET_FPS)) \
               $(if $(FOLDING),--folding $(FOLDING)) $(if $(BUDGET),--budget $(BUDGET)) $(if $(OUT),--out $(OUT)))

# `make deploy`: BOARD=<[user@]host[:port]> runs on that PYNQ board over ssh; unset (or `emulate`, or a
# board type such as zcu104) runs the emulated deployment and prints what it would do on a board.
DEPLOY_BOARD = $(if $(filter command line environment,$(origin BOARD)),$(BOARD),emulate)
DEPLOY_ARGS  = $(strip $(MODEL) --board $(DEPLOY_BOARD) $(if $(BUILD),--build $(BUILD)) \
               $(if $(DATA),--data $(DATA)) $(if $(BOARD_DATA),--board-data $(BOARD_DATA)) \
               $(if $(PER_BLOCK),--per-block $(PER_BLOCK)) $(if $(SNRS),--snrs $(SNRS)) $(if $(OUT),--out $(OUT)))

# `make sweep`: a sweep spec (sweeps/*.yaml); its study, trials and table go to runs/sweeps/<spec name>.
SPEC        ?= sweeps/compare.yaml

.PHONY: help setup driver-setup demo test train sweep bench compile rtlsim synth bitstream deploy yardstick clean

help:
	@echo "make demo     synthetic data -> train compact model -> evaluate -> export -> cost (runs/demo/)"
	@echo "make test     run the test suite (what CI runs)"
	@echo "make setup    create $(VENV) with the model, compile and test extras"
	@echo "make train    RECIPE=model/recipes/<name>.yaml RUN=runs/<name> [DATA=<file.h5>]"
	@echo "make sweep    SPEC=sweeps/<name>.yaml -> runs/sweeps/<name>/ (results.md, pareto.png); run it on"
	@echo "              several machines with STORAGE=<SQL URL> to share one Optuna study"
	@echo "make bench    loader and generator throughput figures"
	@echo "make compile  MODEL=<run folder or .onnx> BOARD=zcu104 [TARGET_FPS=..|FOLDING=<json>] [BUDGET=lut=0.7]"
	@echo "              -> hw/builds/<model>-<board>/ (steps, folding.json, sources, report.md/json)"
	@echo "make rtlsim   MODEL=<run folder, .onnx or build folder> [FRAMES=8]: the stitched accelerator's RTL in"
	@echo "              Verilator: bit-exact against the golden output, FIFOs sized, measured cycles per frame"
	@echo "make synth    MODEL=<run folder, .onnx or build folder> [PER_LAYER=1]: that RTL through Yosys for the"
	@echo "              board's FPGA family: LUT, LUTRAM, SRL, FF, CARRY, DSP, BRAM, URAM counted beside the estimate"
	@echo "              [BY_LAYER=1]: each layer in its own Yosys process (designs too large for one), summed"
	@echo "make bitstream  the same, then finn-plus's builder (needs Vivado; says what is missing otherwise)"
	@echo "make deploy   MODEL=<run folder> [BOARD=<user@host> | rtlsim] [BUILD=<build folder>] [DATA=<file.h5>]"
	@echo "              [PER_BLOCK=K] [SNRS=30,10] -> hardware (or emulation) against software report"
	@echo "make driver-setup  create $(DRIVER_VENV) (numpy<2, finn-plus-driver; the board's environment)"
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

# The driver's environment, separate from .venv: finn-plus-driver needs numpy < 2.
$(DSTAMP): pyproject.toml
	$(PYTHON) -m venv $(DRIVER_VENV)
	$(DPY) -m pip install -q --upgrade pip
	$(DPY) -m pip install -q -e ".[driver]"
	touch $(DSTAMP)

driver-setup: $(DSTAMP)

demo: $(STAMP)
	$(PY) -m model.pipeline $(RECIPE) --run $(RUN) $(if $(DATA),--data $(DATA))

train: $(STAMP)
	$(PY) -m model.pipeline $(RECIPE) --run $(RUN) $(if $(DATA),--data $(DATA))

test: $(STAMP) $(DSTAMP)
	$(PY) -m pytest -q
	AMC_COMPILE_PYTHON=$(abspath $(PY)) $(DPY) -m pytest -q tests/driver

sweep: $(STAMP)
	$(PY) -m model.sweep run $(SPEC) --out runs/sweeps/$(basename $(notdir $(SPEC))) $(if $(STORAGE),--storage $(STORAGE))

bench: $(STAMP)
	$(PY) scripts/bench_loader.py
	$(PY) scripts/bench_synth.py
	$(PY) scripts/bench_synthesis.py
	$(PY) -m research.critic_synth --variant round2 default --per-block 8 --threads 1

compile: $(STAMP)
	$(PY) -m compile.build compile $(COMPILE_ARGS)

rtlsim: $(STAMP)
	$(PY) -m compile.build rtlsim $(COMPILE_ARGS) $(if $(FRAMES),--frames $(FRAMES))

synth: $(STAMP)
	$(PY) -m compile.build synth $(COMPILE_ARGS) $(if $(PER_LAYER),--per-layer) $(if $(BY_LAYER),--by-layer)

bitstream: $(STAMP)
	$(PY) -m compile.build bitstream $(COMPILE_ARGS)

deploy: $(STAMP) $(DSTAMP)
	AMC_COMPILE_PYTHON=$(abspath $(PY)) $(DPY) -m driver.deploy $(DEPLOY_ARGS)

yardstick: $(STAMP)
	$(PY) scripts/yardstick_vgg10.py

clean:
	rm -rf runs/demo data/synthetic-demo.h5
