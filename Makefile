# packbuilder: set-up, tests, benchmarks, distribution.
# `make install` then `make test` on a fresh Debian/Ubuntu machine (see README.md).

PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
# System tools used by the tests, the image writers and the benchmarks (aria2: bench_fetch.py's reference),
# installed when run as root on Debian/Ubuntu.
APT_PACKAGES ?= gpgv gnupg openssl mtools dosfstools fdisk p7zip-full innoextract msitools xorriso unzip zip aria2 chromium

.PHONY: install install-system install-python test lint unit bench dist clean

install: install-system install-python

install-system:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); \
	else \
		echo "not root or no apt-get: install these yourself if missing: $(APT_PACKAGES)"; \
	fi

install-python:
	$(PIP) install -q -e '.[test]'

test: lint unit

lint:
	$(PYTHON) -m ruff check packbuilder tests bench $(wildcard scripts)
	$(PYTHON) -m mypy
	$(PYTHON) -m packbuilder manifest lint manifests

unit:
	$(PYTHON) -m pytest -q

bench:
	$(PYTHON) bench/run.py

dist:
	$(PIP) wheel --no-deps -w dist .

clean:
	rm -rf dist build .pytest_cache .mypy_cache .ruff_cache
