# harden: developer entry points. `make` (or `make help`) lists the targets.
#
# The engine: `make engine` finds or starts a Docker-API engine and writes build/engine.env (DOCKER_HOST,
# PYTHON_BASE_IMAGE), which is included below, so later targets talk to the same engine and build on the
# same base. Variables can be overridden on the command line, e.g. `make build-python-deps BUILD_GPU_DEPS=1`.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

ENGINE_ENV := build/engine.env
-include $(ENGINE_ENV)
export DOCKER_HOST

PYTHON ?= python3
VENV ?= .venv
HARDEN ?= $(VENV)/bin/harden

PYTHON_VERSION ?= 3.11
PYTHON_BASE_IMAGE ?= python:$(PYTHON_VERSION)-slim
BASE_IMAGE_TAG ?= spark-k8s-python-base:$(PYTHON_VERSION)
DEPS_IMAGE ?= spark-k8s-python-deps
DEPS_IMAGE_TAG ?= $(DEPS_IMAGE):latest
BUILD_ICEBERG_DEPS ?= 1
BUILD_GPU_DEPS ?= 0
# CA bundle and optional index handed to the deps builder stage only (see dockerfiles/python-deps/build-secrets).
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
PIP_INDEX_URL ?=
PIP_EXTRA_INDEX_URL ?=
REPORT_DIR ?= reports/$(DEPS_IMAGE)
# 0 skips the `make harden` hook after build-python-deps (the integration tests build images this way).
HARDEN_HOOK ?= 1
PYTEST_ARGS ?=

# The docker CLI if present, else podman as a remote client of the same engine. Classic (non-BuildKit)
# builds: podman's Docker API has no BuildKit, and the secrets travel in the build context instead.
# podman builds OCI images by default, which drop HEALTHCHECK: ask it for the Docker format.
ifneq ($(shell command -v docker 2>/dev/null),)
DOCKER ?= docker
DOCKER_BUILD_FLAGS ?=
else
DOCKER ?= podman --remote --url "$$DOCKER_HOST"
DOCKER_BUILD_FLAGS ?= --format docker
endif
export DOCKER_BUILDKIT := 0

DEPS_CONTEXT := build/context/python-deps
# The independent data image (bench/images/data-stack): other versions, other layout, not the project's image.
DATA_STACK_TAG ?= data-stack:latest
DATA_STACK_CONTEXT := build/context/data-stack

.PHONY: help all venv engine engine-stop base-image build-python-base build-python-deps images harden \
	lock-deps test test-unit test-prereqs musl-python clean _build-python-base _build-python-deps _test \
	build-data-stack _build-data-stack build-data-stack-plain _build-data-stack-plain bench-registry bench-images

help: ## List the targets
	@echo "harden — make targets (variables: make VAR=value TARGET; see the top of the Makefile):"
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-20s %s\n", $$1, $$2}'

all: build-python-deps ## Engine, base image, spark-k8s-python-deps, then `harden image` (reports/spark-k8s-python-deps)

venv: $(VENV)/.installed ## Create .venv with harden installed editable, dev extra included

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	@touch $@

engine: ## Find or start a Docker-API engine (podman service if needed); prints DOCKER_HOST, writes build/engine.env
	@scripts/engine.sh start

engine-stop: ## Stop the podman service `make engine` started (only the pid in its pidfile)
	@scripts/engine.sh stop

base-image: engine ## Make sure the Python base image exists (local debootstrap import when no registry answers)
	@. $(ENGINE_ENV) && echo "base-image: $${PYTHON_BASE_IMAGE:-<none>}" >&2

# The targets below run after `engine` may have (re)written build/engine.env, so they re-enter make to read it.
build-python-base: base-image ## Build spark-k8s-python-base:3.11 FROM the resolved base image
	@$(MAKE) _build-python-base

_build-python-base:
	$(DOCKER) build --force-rm $(DOCKER_BUILD_FLAGS) \
		--build-arg BASE_IMAGE=$(PYTHON_BASE_IMAGE) \
		--build-arg PYTHON_VERSION=$(PYTHON_VERSION) \
		--label io.harden.build-inputs=$$(scripts/build-inputs.sh dockerfiles/python-base) \
		-t $(BASE_IMAGE_TAG) dockerfiles/python-base

images: ## Build both example images, no hardening (what the integration tests use)
	@$(MAKE) build-python-deps HARDEN_HOOK=0

build-python-deps: build-python-base ## Build spark-k8s-python-deps (multi-stage venv), then run `make harden`
	@$(MAKE) _build-python-deps
	@if [ "$(HARDEN_HOOK)" = 1 ]; then $(MAKE) harden; else echo "build-python-deps: HARDEN_HOOK=0, not hardening" >&2; fi

_build-python-deps:
	@rm -rf $(DEPS_CONTEXT) && mkdir -p $(dir $(DEPS_CONTEXT))
	@cp -R dockerfiles/python-deps $(DEPS_CONTEXT)
	@if [ -f "$(CA_BUNDLE)" ]; then cp "$(CA_BUNDLE)" $(DEPS_CONTEXT)/build-secrets/ca-certificates.crt; \
		else echo "build-python-deps: no CA bundle at $(CA_BUNDLE); pip uses the base image's CAs" >&2; fi
	@if [ -n "$(PIP_INDEX_URL)$(PIP_EXTRA_INDEX_URL)" ]; then \
		{ echo "[global]"; \
		  if [ -n "$(PIP_INDEX_URL)" ]; then echo "index-url = $(PIP_INDEX_URL)"; fi; \
		  if [ -n "$(PIP_EXTRA_INDEX_URL)" ]; then echo "extra-index-url = $(PIP_EXTRA_INDEX_URL)"; fi; \
		} > $(DEPS_CONTEXT)/build-secrets/pip.conf; fi
	$(DOCKER) build --force-rm $(DOCKER_BUILD_FLAGS) \
		--build-arg BASE_IMAGE=$(BASE_IMAGE_TAG) \
		--build-arg BUILD_ICEBERG_DEPS=$(BUILD_ICEBERG_DEPS) \
		--build-arg BUILD_GPU_DEPS=$(BUILD_GPU_DEPS) \
		--label io.harden.build-inputs=$$(scripts/build-inputs.sh dockerfiles/python-deps) \
		--label io.harden.base-image-id=$$($(DOCKER) image inspect --format '{{.Id}}' $(BASE_IMAGE_TAG)) \
		-t $(DEPS_IMAGE_TAG) $(DEPS_CONTEXT)

harden: $(if $(filter $(VENV)/bin/harden,$(HARDEN)),venv) ## Harden spark-k8s-python-deps with the project's harden (reports in reports/spark-k8s-python-deps)
	@if [ ! -x "$(HARDEN)" ] || ! "$(HARDEN)" image --help >/dev/null 2>&1; then \
		echo "harden: would run: $(HARDEN) image $(DEPS_IMAGE) --report-dir $(REPORT_DIR)" >&2; \
		echo "harden: error: \`harden image\` is not available ($(HARDEN) missing or without the image command; try \`make venv\`)" >&2; \
		exit 1; fi
	$(HARDEN) image $(DEPS_IMAGE) --report-dir $(REPORT_DIR)

build-data-stack: base-image ## Build the independent data image (bench/images/data-stack: NumPy 2, pandas 3, no PySpark)
	@$(MAKE) _build-data-stack

_build-data-stack:
	@rm -rf $(DATA_STACK_CONTEXT) && mkdir -p $(dir $(DATA_STACK_CONTEXT))
	@cp -R bench/images/data-stack $(DATA_STACK_CONTEXT)
	@if [ -f "$(CA_BUNDLE)" ]; then cp "$(CA_BUNDLE)" $(DATA_STACK_CONTEXT)/build-secrets/ca-certificates.crt; fi
	$(DOCKER) build --force-rm $(DOCKER_BUILD_FLAGS) \
		--build-arg BASE_IMAGE=$(PYTHON_BASE_IMAGE) \
		--label io.harden.build-inputs=$$(scripts/build-inputs.sh bench/images/data-stack) \
		-t $(DATA_STACK_TAG) $(DATA_STACK_CONTEXT)

build-data-stack-plain: base-image ## Build the same data stack the plain way (compiler, pip cache, apt lists: bench/images/data-stack-plain)
	@$(MAKE) _build-data-stack-plain

_build-data-stack-plain:
	@rm -rf build/context/data-stack-plain && mkdir -p build/context
	@cp -R bench/images/data-stack-plain build/context/data-stack-plain
	@if [ -f "$(CA_BUNDLE)" ]; then cp "$(CA_BUNDLE)" build/context/data-stack-plain/build-secrets/ca-certificates.crt; fi
	$(DOCKER) build --force-rm $(DOCKER_BUILD_FLAGS) \
		--build-arg BASE_IMAGE=$(PYTHON_BASE_IMAGE) \
		--label io.harden.build-inputs=$$(scripts/build-inputs.sh bench/images/data-stack-plain) \
		-t data-stack-plain:latest build/context/data-stack-plain

lock-deps: ## Re-resolve dockerfiles/python-deps/constraints.txt (CPython 3.11, x86_64)
	scripts/lock-deps.sh

test: venv test-prereqs musl-python images ## Every test, engine-backed ones included (installs the venv and the engine first)
	@$(MAKE) _test

_test:
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-unit: venv test-prereqs musl-python ## Only the tests that need no engine (unit, cli)
	$(VENV)/bin/python -m pytest -m "not engine" $(PYTEST_ARGS)

test-prereqs: ## Install what the tests need when missing (bwrap, musl, busybox, docker-registry, skopeo, umoci, openssl, qemu-user-static + binfmt, Python .debs for amd64/arm64; see the script)
	@bash scripts/test-prereqs.sh

musl-python: test-prereqs ## Build the musl CPython the Alpine verification test runs (once, cached; 5-10 min; see the script)
	@bash scripts/musl-python.sh

.PHONY: bench bench-quick
BENCH_ARGS ?=
bench: venv images bench-images ## Image benchmark: harden vs I/O floor, verification, memory, naive recipe, policies, scaling, data-stack-plain, base vs distroless (~1 h idle; BENCH_ARGS=--no-naive-verify when busy) → bench/results/
	$(VENV)/bin/python bench/image_bench.py --deps-image $(DEPS_IMAGE_TAG) --deps-policy $(DEPS_IMAGE) \
		--base-image $(BASE_IMAGE_TAG) $(BENCH_ARGS)

bench-quick: venv images ## Smoke run of the image benchmark: one sample, deps and base only, results to build/bench-quick
	$(VENV)/bin/python bench/image_bench.py --quick --deps-image $(DEPS_IMAGE_TAG) --deps-policy $(DEPS_IMAGE) \
		--base-image $(BASE_IMAGE_TAG) --results-dir build/bench-quick $(BENCH_ARGS)

bench-images: ## Build data-stack-plain when missing (make bench BENCH_ARGS='--parts all' also needs make build-data-stack)
	@$(DOCKER) image inspect data-stack-plain:latest >/dev/null 2>&1 || $(MAKE) build-data-stack-plain

bench-registry: venv test-prereqs images ## Registry → harden → registry vs skopeo copy, gzip vs zstd (~15 min) → bench/results/*.registry.md
	$(VENV)/bin/python bench/registry_bench.py --image $(DEPS_IMAGE_TAG) --policy $(DEPS_IMAGE)

clean: ## Remove build/ (the build contexts and engine.env); images and the engine stay
	rm -rf build
