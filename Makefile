# nabla — the two set-up commands and a few conveniences.
#   make demo    install what is missing, build, run the main demo
#   make test    install what is missing, build, run the tests (plain and ASan+UBSan)
#   make bench   build and run the benchmarks (long; not part of test)
# Debian packages are installed with apt-get when run as root; otherwise the
# exact command to run is printed.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

# What the build and tests need (Debian 12 package names).
PACKAGES      = build-essential cmake pkg-config libcmocka-dev zlib1g-dev libcjson-dev openmpi-bin libopenmpi-dev
BENCH_PACKAGES = libopenblas-dev python3-torch python3-numpy dataset-fashion-mnist
DEMO_PACKAGES = dataset-fashion-mnist

.PHONY: all demo test bench deps bench-deps build build-asan clean install

all: build

deps:
	@./scripts/ensure-packages $(PACKAGES)

bench-deps:
	@./scripts/ensure-packages $(PACKAGES) $(BENCH_PACKAGES)

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DNABLA_SANITIZE=ON -DNABLA_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# The README's first command: Fashion-MNIST, MLP 784-256-128-10, 5 epochs;
# the model, metrics.csv and curves.svg land in runs/fmnist-mlp/.
demo: build
	@./scripts/ensure-packages $(DEMO_PACKAGES)
	./$(BUILD)/nabla train

test: build build-asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

bench: bench-deps build
	cmake --build $(BUILD) --target bench -j $(JOBS)
	./bench/run-all $(BUILD)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
