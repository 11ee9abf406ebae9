# packbuilder: set-up, tests, benchmarks, distribution.
# `make install` then `make test` on a fresh Debian/Ubuntu machine (see README.md).

PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
# System tools used by the tests, the image writers and the benchmarks (aria2: bench_fetch.py's reference),
# installed when run as root on Debian/Ubuntu.
APT_PACKAGES ?= gpgv gnupg openssl mtools dosfstools fdisk p7zip-full innoextract msitools xorriso squashfs-tools unzip zip aria2 chromium
# usb-live images: SYSLINUX's mtools installer (syslinux) and the persistence volume (e2fsprogs).
APT_PACKAGES += syslinux e2fsprogs
# Boot tests: the fixture ISOs (scripts/make-fixture-isos.sh) and QEMU with SeaBIOS and OVMF.
APT_PACKAGES += grub-pc-bin grub-efi-amd64-bin grub-efi-ia32-bin grub-common isolinux syslinux-utils syslinux-common \
	ovmf qemu-system-x86

.PHONY: install install-system install-python locale pot test lint unit fixtures bench dist binary test-dist test-live clean

install: install-system install-python

install-system:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get -o DPkg::Lock::Timeout=900 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq $(APT_PACKAGES); \
	else \
		echo "not root or no apt-get: install these yourself if missing: $(APT_PACKAGES)"; \
	fi

install-python:
	$(PIP) install -q -e '.[test]'
	$(MAKE) locale

# Translations: the .po files are in the repository, the .mo files gettext reads are built (hatch_build.py).
locale:
	$(PYTHON) hatch_build.py

# After changing messages: extract them, merge them into each .po, then translate the new ones.
pot:
	$(PYTHON) -m babel.messages.frontend extract -F babel.cfg -k N_ --no-location --sort-output --omit-header --no-wrap \
		-o packbuilder/locale/packbuilder.pot .
	$(PYTHON) -m babel.messages.frontend update -i packbuilder/locale/packbuilder.pot -d packbuilder/locale -D packbuilder \
		--no-fuzzy-matching --ignore-obsolete --no-wrap

test: lint unit test-dist

lint:
	$(PYTHON) -m ruff check packbuilder tests bench $(wildcard scripts)
	$(PYTHON) -m mypy
	$(PYTHON) -m packbuilder manifest lint manifests

# tests/test_dist.py runs the frozen binary: test-dist builds it first and runs it there.
unit: fixtures locale
	$(PYTHON) -m pytest -q --ignore=tests/test_dist.py

# Small bootable ISOs and Debian's boot images for the image and QEMU boot tests. One run of the
# script makes them all; skipped while they are all there and newer than the script.
FIXTURES_DIR = build/fixtures
FIXTURES = $(addprefix $(FIXTURES_DIR)/,grub-hybrid.iso grub-hfsplus.iso isolinux-hybrid.iso grub-rescue-cdrom.iso ipxe.iso)

fixtures: $(FIXTURES)

$(FIXTURES) &: scripts/make-fixture-isos.sh
	bash scripts/make-fixture-isos.sh $(FIXTURES_DIR)

bench:
	$(PYTHON) bench/run.py

dist: binary
	$(PIP) wheel --no-deps -w dist .

# dist/packbuilder: one executable file, no Python needed (packbuilder.spec; about a minute).
binary: locale
	$(PYTHON) -m PyInstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build/pyinstaller packbuilder.spec

# Runs the binary built just now with an empty environment; fails (never skips) if it is missing.
test-dist: binary
	PACKBUILDER_BINARY=dist/packbuilder $(PYTHON) -m pytest -q -p no:cacheprovider tests/test_dist.py

# Maintainers, as root, not part of `test`: a minimal Debian live ISO built with live-build, packbuilder's
# live layer added, booted in QEMU; its serial console must show the layer's files in the running
# system (scripts/test-live.sh; about 15 minutes the first time, the base ISO is then kept in build/test-live).
test-live:
	bash scripts/test-live.sh

clean:
	rm -rf dist build .pytest_cache .mypy_cache .ruff_cache
