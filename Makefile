# packbuilder: set-up, tests, benchmarks, distribution.
# `make install` then `make test` on a fresh Debian/Ubuntu machine (see README.md).

PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
# System tools used by the tests, the image writers and the benchmarks (aria2: bench_fetch.py's reference),
# installed when run as root on Debian/Ubuntu.
APT_PACKAGES ?= gpgv gnupg openssl mtools dosfstools fdisk p7zip-full innoextract msitools xorriso squashfs-tools unzip zip aria2 chromium
# Compressed images and block maps: publish runs xz (multithreaded, reproducible); the tests decompress with
# xz and zstd and write our images with bmaptool (bmap-tools) to check our block maps.
APT_PACKAGES += xz-utils zstd bmap-tools
# usb-live images: SYSLINUX's mtools installer (syslinux) and the persistence volume (e2fsprogs).
APT_PACKAGES += syslinux e2fsprogs
# Boot tests: the fixture ISOs (scripts/make-fixture-isos.sh) and QEMU with SeaBIOS and OVMF.
APT_PACKAGES += grub-pc-bin grub-efi-amd64-bin grub-efi-ia32-bin grub-common isolinux syslinux-utils syslinux-common \
	ovmf qemu-system-x86
# GPT tests: sgdisk -v checks the headers and CRCs the gpt module writes (tests/test_gpt.py).
APT_PACKAGES += gdisk
# Launcher tests: Windows programs under Wine, stand-ins cross-compiled with mingw-w64 (64- and 32-bit).
APT_PACKAGES += wine wine64 gcc-mingw-w64
# Menu tests: node runs the HTA's script; npm installs axe-core (accessibility checks in Chromium).
# npm comes with NodeSource's nodejs, where Debian's npm package conflicts: installed only when missing.
APT_PACKAGES += nodejs

.PHONY: install install-system install-python install-npm locale pot test lint unit fixtures bench dist binary test-dist test-live clean \
	install-build-tools matrix lock image images bundle unbundle publish release

install: install-system install-python install-npm

# axe-core for the menu's accessibility test, in a local folder (build/ is not committed).
NPM_DIR = build/npm
AXE = $(NPM_DIR)/node_modules/axe-core/axe.min.js
install-npm: $(AXE)

$(AXE):
	npm install --no-save --no-audit --no-fund --prefix $(NPM_DIR) axe-core@4

install-system:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get -o DPkg::Lock::Timeout=900 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq $(APT_PACKAGES) \
		&& { command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq npm; }; \
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
unit: fixtures locale $(AXE)
	$(PYTHON) -m pytest -q --ignore=tests/test_dist.py

# Small bootable ISOs and Debian's boot images for the image and QEMU boot tests. One run of the
# script makes them all; skipped while they are all there and newer than the script. Debian's
# grub-rescue-pc, ipxe, shim-signed and grub-efi-amd64-signed (Secure Boot fixture) are fetched by
# the script with `apt-get download`, checked against the archive index, never installed.
FIXTURES_DIR = build/fixtures
FIXTURES = $(addprefix $(FIXTURES_DIR)/,grub-hybrid.iso grub-hfsplus.iso isolinux-hybrid.iso grub-rescue-cdrom.iso ipxe.iso \
	secureboot.iso shimx64.efi.signed gcdx64.efi.signed)

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

# The image farm: every image the catalog declares (`packbuilder catalog matrix`), built one by one
# here or one job each in CI (.github/workflows/images.yml calls these same targets), then published.
#   make images                          all of them, on this machine (downloads shared in the cache)
#   make image PACK=vieux-pc PROFILE=windows-xp-x86 [FORMAT=usb] [OUTPUT=name.img]
#   make publish BASE_URL=https://asso.example.org/cles/ [SIGN_KEY=key.asc] [TRACKERS="udp://..."]
PACKBUILDER ?= $(PYTHON) -m packbuilder
MATRIX ?= build/matrix.json
LOCKS_DIR ?= build/locks
IMAGES_DIR ?= build/images
SITE_DIR ?= build/site
FORMAT ?= usb
OUTPUT ?= $(PACK)-$(PROFILE)$(if $(filter iso,$(FORMAT)),-live.iso,.img)
LOCK = $(LOCKS_DIR)/$(PACK)-$(PROFILE).lock
# What building images needs (installers unpacked, FAT and ISO written), without the test tools.
APT_BUILD_PACKAGES ?= gpgv p7zip-full innoextract msitools mtools dosfstools xorriso squashfs-tools syslinux e2fsprogs

install-build-tools:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get -o DPkg::Lock::Timeout=900 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq $(APT_BUILD_PACKAGES); \
	else \
		echo "not root or no apt-get: install these yourself if missing: $(APT_BUILD_PACKAGES)"; \
	fi

matrix:
	@mkdir -p $(dir $(MATRIX))
	$(PACKBUILDER) catalog matrix --json > $(MATRIX)

# The lock comes first: CI keys its download cache on it.
lock:
	@test -n "$(PACK)" -a -n "$(PROFILE)" || { echo "usage: make lock PACK=pack-id PROFILE=profile-id"; exit 2; }
	@mkdir -p $(LOCKS_DIR)
	$(PACKBUILDER) plan $(PACK) --profile $(PROFILE) --lock $(LOCK)

image: lock
	@mkdir -p $(IMAGES_DIR)
	$(PACKBUILDER) build $(LOCK) --format $(FORMAT) -o $(IMAGES_DIR)/$(OUTPUT)

images: matrix
	$(PYTHON) -c 'import json, sys; [print(j["pack"], j["profile"], j["format"], j["output"]) for j in json.load(sys.stdin)["include"]]' < $(MATRIX) \
	| while read -r pack profile format output; do \
		$(MAKE) --no-print-directory image PACK="$$pack" PROFILE="$$profile" FORMAT="$$format" OUTPUT="$$output" || exit $$?; \
	done

# CI moves each image between jobs as a sparse tar: a key image is mostly free space (a hole in the
# file), and GNU tar stores and restores only its data, so the gathering runner's disk holds the
# images' data, not their full sizes.
TRANSFER_DIR ?= build/transfer
bundle:
	@mkdir -p $(TRANSFER_DIR)
	tar -C $(IMAGES_DIR) --sparse -cf $(TRANSFER_DIR)/$(OUTPUT).tar $(OUTPUT)

unbundle:
	@mkdir -p $(IMAGES_DIR)
	for t in $(TRANSFER_DIR)/*.tar; do tar -C $(IMAGES_DIR) --sparse -xf "$$t" && rm "$$t" || exit 1; done

# The images' .sha256 files are not published: SHA256SUMS replaces them.
publish:
	$(PACKBUILDER) publish $(sort $(wildcard $(IMAGES_DIR)/*.img $(IMAGES_DIR)/*.iso $(IMAGES_DIR)/*.zip)) -o $(SITE_DIR) \
		$(if $(BASE_URL),--base-url $(BASE_URL)) $(if $(SIGN_KEY),--sign $(SIGN_KEY)) $(foreach t,$(TRACKERS),--tracker $(t))

# A GitHub release (gh, with GH_TOKEN) of the published site: the pages as a tarball, index.json,
# SHA256SUMS (+ .sig), the torrents, and the images under GitHub's 2 GiB limit per file (the larger
# ones are served by the site itself and reached through their torrent's web seed).
RELEASE_MAX_BYTES ?= 2000000000
release:
	@test -n "$(TAG)" || { echo "usage: make release TAG=images-2026-03 [TARGET=commit]"; exit 2; }
	tar -C $(SITE_DIR) --exclude=./images --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
		-czf $(dir $(SITE_DIR))site-pages.tar.gz .
	gh release create "$(TAG)" $(if $(TARGET),--target "$(TARGET)") --title "$(TAG)" --notes "packbuilder images: see index.json" \
		$(dir $(SITE_DIR))site-pages.tar.gz $(SITE_DIR)/index.json \
		$$(find $(SITE_DIR)/images -maxdepth 1 -type f -size -$(RELEASE_MAX_BYTES)c | sort)

clean:
	rm -rf dist build .pytest_cache .mypy_cache .ruff_cache
