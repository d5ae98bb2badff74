# The two commands of the README. Both install missing Debian packages first.
#   make run   - build (Release) and run hearth's main job on the embedded defaults
#   make test  - build (Release) and run every test but the `slow` label
PRESET ?= release
BIN := build/$(PRESET)/hearth
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps configure build run test test-slow fuzz asan clean

all: build

deps:
	@bash scripts/setup-deps.sh

configure: deps
	@cmake --preset $(PRESET) >/dev/null

build: configure
	@cmake --build --preset $(PRESET) -j $(JOBS)

# Serves the sample model on http://127.0.0.1:11434 (OpenAI and Ollama APIs; docs/server.md).
run: build
	$(BIN) serve --models-dir models --model stories260K

test: build
	ctest --preset $(PRESET) -LE slow

test-slow: build
	ctest --preset $(PRESET) -L slow

asan:
	@$(MAKE) test PRESET=asan

fuzz: deps
	@cmake --preset fuzz >/dev/null && cmake --build --preset fuzz -j $(JOBS)

clean:
	rm -rf build
