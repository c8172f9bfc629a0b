# azemu — set up, run, test.  Everything installs into .venv; nothing by hand.
#
#   make demo      set up, then run the main job (programs on each kernel, the getpid experiment)
#   make test      set up, then run the test suite (fast; what CI runs)
#   make test-all  also the slow end-to-end tests
#   make bench     the benchmarks, results for benchmarks/README.md
#   make conformance  CPython's regression tests natively and under azemu (MODES=lwk for one mode)
#   make guests    rebuild guest_bins/ (needs gcc and musl-gcc)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test test-all bench conformance guests testdeps benchdeps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test,plot]'
	touch $@

setup: $(STAMP)

# Optional test dependency: Debian's static busybox, unpacked into .cache/
# (tests that need it are skipped when the registry cannot be reached).
testdeps:
	@sh tests/fetch_busybox.sh .cache/busybox || true
	@sh tests/install_tools.sh || true

demo: setup
	$(BIN)/azemu exec hello
	$(BIN)/azemu exec musl/args one "two words"
	$(BIN)/azemu info glibc/hello
	@$(BIN)/azemu exec crash_null || echo "(exit status $$?: killed by SIGSEGV, as natively)"
	$(BIN)/azemu exec /bin/ls -l guest_bins
	$(BIN)/azemu exec --mode lwk --stats getpid_loop
	$(BIN)/azemu exec --mode unikernel --stats libos/glibc/getpid_loop
	$(BIN)/azemu exec --mode unikernel --cores 4 libos/glibc/threads 4
	$(BIN)/python benchmarks/syscall_floor.py --repeat 3
	$(BIN)/azemu exec --cores 4 lost_update
	mkdir -p .cache
	$(BIN)/azemu run --out .cache three
	$(BIN)/azemu bench getpid --plot .cache/getpid.png

test: setup testdeps
	$(BIN)/python -m pytest -q

test-all: setup testdeps
	$(BIN)/python -m pytest -q -m ''

# Optional benchmark peer: Debian's qemu-user (rows left out without it).
benchdeps:
	@sh benchmarks/install_tools.sh || true

bench: setup benchdeps
	$(BIN)/python benchmarks/syscall_floor.py --json benchmarks/results/syscall_floor.json
	$(BIN)/azemu calibrate
	$(BIN)/azemu bench getpid --repeat 7 --json benchmarks/results/getpid.json --plot benchmarks/results/getpid.png
	$(BIN)/python benchmarks/offload.py --json benchmarks/results/offload.json
	$(BIN)/python benchmarks/multikernel.py --json benchmarks/results/multikernel.json
	$(BIN)/python benchmarks/scaling.py --json benchmarks/results/scaling.json --plot benchmarks/results/scaling.png
	$(BIN)/python benchmarks/startup.py --json benchmarks/results/startup.json
	$(BIN)/python benchmarks/startup.py --repeat 10 --load 4 --json benchmarks/results/startup_busy.json
	$(BIN)/python benchmarks/record.py

# The external conformance suite (docs/conformance.md): Debian's CPython
# regression tests, installed by testdeps, every module compared per mode.
MODES ?= linux,lwk,unikernel
conformance: setup testdeps
	mkdir -p .cache
	$(BIN)/azemu conformance --mode $(MODES) --json .cache/conformance.json

guests:
	$(MAKE) -C guest_bins

clean:
	rm -rf $(VENV) .cache .pytest_cache
