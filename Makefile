# tunemesh — every entry point a person or CI needs. `make demo` and `make test` do all set-up themselves.
SHELL := /bin/bash
PNPM_VERSION := 10.34.8
export ONNXRUNTIME_NODE_INSTALL ?= skip
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: setup install build proto proto-check wasm-kernels lint typecheck test demo up clean bench

setup:
	@bash scripts/setup.sh $(PNPM_VERSION)

install: setup

build: setup
	pnpm run build

proto: setup
	pnpm --filter @tunemesh/proto run generate

# Generated code is committed; this fails when it differs from what the generator makes now.
proto-check: proto
	@if [ -n "$$(git status --porcelain -- proto/src/gen)" ]; then \
	  git status --short -- proto/src/gen >&2; \
	  echo "proto/src/gen is stale: run 'make proto' and commit the result" >&2; exit 1; fi

# The engine's WebAssembly kernels from their .wat sources (optim/wasm-kernels.test.ts fails when they are stale).
wasm-kernels: setup
	node --import tsx scripts/wasm-kernels.ts

lint: setup
	pnpm exec biome check .

# Typecheck everything the build does not compile (tests, bench), then run every test against the sources.
typecheck: setup
	pnpm exec tsc -p tsconfig.json --noEmit

test: build typecheck
	pnpm exec vitest run

demo: build
	node scripts/demo.mjs

up: build
	node scripts/up.mjs

bench: build
	node --conditions=tunemesh-source --import tsx bench/run.ts

clean:
	rm -rf node_modules */*/node_modules */*/dist proto/dist *.tsbuildinfo
