# Two commands set up and use ketasim on a fresh machine:
#   make run    installs GSL and OpenBLAS if missing, builds in release mode, runs the main comparison and writes
#               its figure, tables and provenance into one page, $(OUT)/report.html
#   make test   installs GSL and OpenBLAS if missing, runs the whole test suite, the libRoadRunner and SALib
#               cross-checks, the Slurm tests on a one-node cluster it brings up and takes down, and
#               `ketasim report` pages loaded in headless chromium (installed when missing)
# Calibration (docs/CALIBRATION.md), not part of `make test`:
#   make calibrate  re-fits every file in models/calibration/ from models/data/ (STARTS, JOBS, GRADIENT), profiles the
#                   estimates, writes the fitted values into the model and docs/calibration/<name>.md
# Hardening (docs/HARDENING.md), not part of `make test`:
#   make fuzz   every libFuzzer harness in Fuzz/ for FUZZ_SECONDS (default 60) each on its seed corpus
#   make asan   the test suite under the address sanitizer
#   make tsan   the parallel sweep tests under the thread sanitizer
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
OUT ?= out

.PHONY: deps build run test bench clean fuzz asan tsan calibrate
FUZZ_SECONDS ?= 60

deps:
	@if ! printf '#include <gsl/gsl_odeiv2.h>\nint main(void) { return 0; }\n' | cc -x c - -lgsl -lopenblas -o /dev/null 2>/dev/null; then \
	  echo "ketasim: installing libgsl-dev and libopenblas-pthread-dev with apt-get"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libgsl-dev libopenblas-pthread-dev; \
	fi

build: deps
	$(SWIFT) build -c release --product ketasim

run: build
	./.build/release/ketasim compare --scenarios control,chronic_stress,stress_ketamine,stress_ketamine_rapamycin -o $(OUT) --plot --force
	./.build/release/ketasim report $(OUT) --force

test: deps
	$(SWIFT) test
	$(SWIFT) build --product ketasim
	scripts/crosscheck-default-model
	scripts/crosscheck-salib
	scripts/slurm-tests
	scripts/report-tests

calibrate: deps
	SWIFT=$(SWIFT) scripts/calibrate

fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) SWIFT=$(SWIFT) scripts/fuzz

# Own build folders: sanitized objects must not mix with the ordinary debug build.
# Leak detection off: the Swift runtime, Foundation and XCTest keep caches alive to the end, which
# LeakSanitizer reports as leaks and turns into exit status 1 of every ketasim the CLI tests run.
asan: deps
	ASAN_OPTIONS=detect_leaks=0 $(SWIFT) test --sanitize=address --build-path .build-asan

tsan: deps
	$(SWIFT) test --sanitize=thread --build-path .build-tsan --filter 'ParallelSweepTests|sweepOverAParameterOfAnEventModel'

bench: deps
	cd Benchmarks && $(SWIFT) package benchmark --format markdown

clean:
	rm -rf .build .build-asan .build-tsan Fuzz/.build Fuzz/.work $(OUT)
