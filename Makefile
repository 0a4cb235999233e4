# Two entry points: `make demo` and `make test`. Everything they need is installed here.
# `make test-fast`: the checks and the tests not marked slow, qemu or interop, for a quick loop.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DTLS   := $(VENV)/.dtls
NODE_PEER := tests/interop/node

.PHONY: demo test test-fast check system-deps bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Debian packages (as root): libcoap's clients for the interop tests, autoconf and automake to
# build DTLSSocket (CoAPs), the Arm toolchain and QEMU for the firmware stubs, PostgreSQL (the
# store tests start their own server), chromium and its driver (the dashboard's tests); and the
# npm peer the interop tests talk to.
APT_DEPS := libcoap3-bin autoconf automake gcc-arm-none-eabi picolibc-arm-none-eabi \
	qemu-system-arm postgresql chromium chromium-driver
system-deps:
	@if [ "$$(id -u)" = 0 ] && ! (command -v coap-client-notls && command -v autoreconf \
	    && command -v automake && command -v arm-none-eabi-gcc \
	    && command -v qemu-system-arm && test -e /usr/lib/picolibc/arm-none-eabi/picolibc.specs \
	    && command -v psql && ls /usr/lib/postgresql/*/bin/initdb \
	    && command -v chromium && command -v chromedriver) \
	    >/dev/null; then \
	  apt-get update -q && apt-get install -y -q --no-install-recommends $(APT_DEPS); fi
	@if ! command -v npm >/dev/null; then \
	  apt-get update -q && apt-get install -y -q --no-install-recommends nodejs npm; fi
	npm ci --prefix $(NODE_PEER) --no-audit --no-fund --loglevel=error

demo: $(STAMP)
	$(BIN)/mlaas demo

check: $(STAMP)
	$(BIN)/ruff check lwm2m_mlaas tests benchmarks
	$(BIN)/mypy
	$(BIN)/mypy benchmarks
	$(BIN)/lint-imports --no-cache

$(DTLS): $(STAMP) system-deps
	$(BIN)/pip install --quiet -e '.[test,dtls]'
	touch $(DTLS)

test: $(STAMP) system-deps $(DTLS) check
	$(BIN)/pytest -n 2

# the DTLS extra (and the system packages it is built with) only if it is not installed yet
test-fast: $(STAMP) check
	@test -e $(DTLS) || $(MAKE) $(DTLS)
	$(BIN)/pytest -n 2 -m "not slow and not qemu and not interop"

bench: $(STAMP) system-deps
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/registration.py
	$(BIN)/python benchmarks/compile.py
	$(BIN)/python benchmarks/ota.py
	$(BIN)/python benchmarks/native.py

clean:
	rm -rf $(VENV) $(NODE_PEER)/node_modules
