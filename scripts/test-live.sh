#!/usr/bin/env bash
# Boot test of the live layer (make test-live; maintainers only, not part of make test).
#
# 1. Builds a minimal Debian 12 (bookworm) amd64 live ISO with live-build: live-boot, systemd and a
#    kernel, nothing else; its isolinux menu starts the live system after a second, with the kernel
#    console on the serial port; a systemd service of the image prints on ttyS0 whether the live
#    layer's folders (/opt/packbuilder/, /etc/skel/Documents/) are in the running system, with a
#    listing, then powers off.
# 2. Runs `packbuilder build LOCK --offline --format iso --base THAT.iso` for a tiny lock with one
#    AppImage-like file and a guide (a test catalog overlay and cache, as tests/test_iso.py does).
# 3. Boots the output in QEMU (SeaBIOS, CD, 1 GiB, TCG) and reads the serial console.
# 4. Runs `packbuilder build LOCK --offline --format usb-live --persistence 128M` on the same base and
#    boots the key twice as a USB disk (writable): first under OVMF (UEFI, the base's GRUB with a
#    one-second timeout and the serial console), where the check finds the layer and, started by the
#    key's first menu entry « Avec sauvegarde (persistance) », writes a file; then under SeaBIOS, where
#    the file written in the first session must still be there.
# 5. Runs `packbuilder build LOCK --offline --format iso --iso-engine pycdlib` on the same base
#    (live-build's layout: a partition offset, whose inner volume live-boot may mount from the key's
#    partition 1) and boots it as a USB disk under OVMF: the layer must be there too.
#
# Prints "test-live: PASS" or "test-live: FAIL ..." last and exits 0 or 1.
#
# Must run as root: live-build (debootstrap, chroot, mounts) needs it. Installs what it needs with
# apt-get (live-build, debootstrap, squashfs-tools, xorriso, qemu-system-x86). The Debian mirror is
# the one of this machine's apt sources (read with `apt-get indextargets`); TEST_LIVE_MIRROR and
# TEST_LIVE_MIRROR_SECURITY override it.
#
# Usage: scripts/test-live.sh [WORK_DIR]   (default build/test-live)
# Environment:
#   TEST_LIVE_TIMEOUT   seconds the boot may take (default 900)
#   TEST_LIVE_ACCEL     QEMU accelerator (default tcg; kvm where available is much faster)
#   TEST_LIVE_REBUILD=1 build the base ISO again (else WORK_DIR/base.iso is kept while its recipe, the
#                       live-build part of this script, and the mirror are unchanged)
#   TEST_LIVE_BOOTLOADERS  live-build's --bootloaders (default syslinux,grub-efi, as Debian's own
#                       live images: BIOS and UEFI, GPT, and an Apple partition map; syslinux alone
#                       makes a BIOS-only base with an isohybrid MBR only)
#   TEST_LIVE_CONTROL=1 also boot the base itself first, which must say "no" (a check that can fail)
#   PYTHON              the Python that runs packbuilder (default python3)
#
# Time (2 cores, TCG): the base ISO about 12 minutes (debootstrap, apt, mksquashfs), kept and
# reused while its recipe is unchanged; packbuilder a few seconds; each boot about 2 minutes.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRIPT="$ROOT/scripts/test-live.sh"
WORK=$(mkdir -p "${1:-$ROOT/build/test-live}" && cd "${1:-$ROOT/build/test-live}" && pwd)
PYTHON=${PYTHON:-python3}
TIMEOUT=${TEST_LIVE_TIMEOUT:-900}
ACCEL=${TEST_LIVE_ACCEL:-tcg}
BOOTLOADERS=${TEST_LIVE_BOOTLOADERS:-syslinux,grub-efi}
BASE="$WORK/base.iso"
OUT="$WORK/out.iso"
EPOCH=1700000000
APPIMAGE_NAME="Tool-1.0-x86_64.AppImage"
PACKAGES=(live-build debootstrap squashfs-tools xorriso qemu-system-x86 ovmf mtools dosfstools e2fsprogs)

STEP="start"
RESULT=""
START=$SECONDS

finish() {
    local rc=$?
    if [ -z "$RESULT" ]; then
        echo "test-live: FAIL at step \"$STEP\" (exit $rc, $((SECONDS - START)) s)" >&2
        exit 1
    fi
}
trap finish EXIT

step() {
    STEP=$1
    echo "== $1 ($((SECONDS - START)) s)"
}

fail() {
    RESULT=fail
    echo "test-live: FAIL: $*" >&2
    exit 1
}

# --- 1. tools ------------------------------------------------------------------------------------

step "tools"
[ "$(id -u)" = 0 ] || fail "run as root (live-build needs debootstrap, chroot and mounts): sudo make test-live"
command -v apt-get >/dev/null || fail "apt-get not found: this test needs a Debian or Ubuntu machine"
apt-get -o DPkg::Lock::Timeout=900 update -qq
missing=()
for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq "${missing[@]}"
fi

# The Debian archive and security sites this machine's apt sources use (their bookworm suites first).
targets=$(apt-get indextargets --format '$(SITE)|$(RELEASE)|$(ORIGIN)|$(LABEL)' 'Target-Of: deb' 'Component: main' | sort -u)
pick() {  # pick LABEL: the site of a Debian suite with that label, a bookworm one first
    printf '%s\n' "$targets" | awk -F'|' -v label="$1" '
        $3 == "Debian" && $4 == label && $2 !~ /-(updates|backports|proposed-updates)$/ {
            if ($2 ~ /^bookworm/) { print $1; found = 1; exit }
            if (other == "") other = $1
        }
        END { if (!found && other != "") print other }'
}
MIRROR=${TEST_LIVE_MIRROR:-$(pick Debian)}
MIRROR_SECURITY=${TEST_LIVE_MIRROR_SECURITY:-$(pick Debian-Security)}
[ -n "$MIRROR" ] || fail "no Debian mirror in this machine's apt sources: set TEST_LIVE_MIRROR"
echo "mirror: $MIRROR; security: ${MIRROR_SECURITY:-none}"

# --- 2. the base: a minimal Debian live ISO ------------------------------------------------------

build_base() {
    local lb="$WORK/lb"
    if [ -d "$lb/config" ]; then  # an earlier run: unmount and remove its chroot, keep the package cache
        (cd "$lb" && lb clean >/dev/null 2>&1) || true
        rm -rf "$lb/config"
    fi
    mkdir -p "$lb"
    cd "$lb"
    local security=(--security false)
    if [ -n "$MIRROR_SECURITY" ]; then
        security=(--security true --mirror-chroot-security "$MIRROR_SECURITY" --mirror-binary-security "$MIRROR_SECURITY")
    fi
    # minbase: only Priority: required packages; live-build adds live-boot, live-config, systemd-sysv
    # and the kernel. No recommends, no firmware, no installer, no memtest, no apt indices.
    lb config \
        --distribution bookworm --architecture amd64 --binary-images iso-hybrid --bootloaders "$BOOTLOADERS" \
        --bootappend-live "boot=live components console=ttyS0,115200" \
        --debian-installer none --apt-recommends false --apt-indices false --memtest none \
        --firmware-binary false --firmware-chroot false --archive-areas main \
        --debootstrap-options "--variant=minbase" \
        --mirror-bootstrap "$MIRROR" --mirror-chroot "$MIRROR" --mirror-binary "$MIRROR" \
        "${security[@]}" >"$WORK/lb-config.log" 2>&1

    # isolinux: live-build's own menu (config/bootloaders/ replaces files one by one) with a
    # one-second timeout instead of none, so the live system starts by itself.
    mkdir -p config/bootloaders/isolinux
    sed 's/^timeout 0$/timeout 10/' /usr/share/live/build/bootloaders/isolinux/isolinux.cfg >config/bootloaders/isolinux/isolinux.cfg
    grep -q '^timeout 10$' config/bootloaders/isolinux/isolinux.cfg || fail "live-build's isolinux.cfg has no 'timeout 0' line to change"
    # GRUB (UEFI): live-build's config.cfg (sourced before the menu) sets no timeout, so its menu waits;
    # a one-second timeout and the serial console let the live system start by itself under OVMF, the
    # first entry (on a key with persistence: the « Avec sauvegarde » one) being the default.
    mkdir -p config/bootloaders/grub-pc
    cp /usr/share/live/build/bootloaders/grub-pc/config.cfg config/bootloaders/grub-pc/config.cfg
    cat >>config/bootloaders/grub-pc/config.cfg <<'EOF'

set timeout=1
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
EOF

    # The check, run once the system is up: answers on the serial port, then powers off.
    local inc=config/includes.chroot
    mkdir -p "$inc/usr/local/sbin" "$inc/etc/systemd/system/multi-user.target.wants"
    cat >"$inc/usr/local/sbin/packbuilder-layer-check" <<'EOF'
#!/bin/sh
# Says on the serial console whether packbuilder's live layer is in the running system.
if [ -d /opt/packbuilder ] && [ -d /etc/skel/Documents ]; then answer=yes; else answer=no; fi
{
    echo "PACKBUILDER-LISTING-BEGIN"
    cat /proc/cmdline
    ls -l /run/live/medium/live/ 2>&1
    grep -E ' (overlay|squashfs) ' /proc/mounts
    ls -lR /opt/packbuilder /etc/skel/Documents 2>&1
    ls -l /usr/share/applications/ 2>&1 | grep packbuilder
    grep -E ' (/run/live/persistence|/run/live/medium)' /proc/mounts
    echo "PACKBUILDER-LISTING-END"
    echo "PACKBUILDER-LAYER: $answer"
    # With persistence on the kernel command line: a file saved in the first session must be there in
    # the next one (live-boot keeps / in the key's "persistence" volume).
    saved=/var/lib/packbuilder-saved.txt
    if grep -qw persistence /proc/cmdline; then
        if [ -f "$saved" ]; then
            echo "PACKBUILDER-PERSIST: found $(cat "$saved")"
        else
            echo "session $(cat /proc/sys/kernel/random/boot_id)" >"$saved"
            sync
            echo "PACKBUILDER-PERSIST: written"
        fi
    else
        echo "PACKBUILDER-PERSIST: off"
    fi
} >/dev/ttyS0 2>&1
sleep 2
systemctl --no-block poweroff
EOF
    chmod 0755 "$inc/usr/local/sbin/packbuilder-layer-check"
    cat >"$inc/etc/systemd/system/packbuilder-layer-check.service" <<'EOF'
[Unit]
Description=Report whether packbuilder's live layer is mounted, then power off
After=local-fs.target systemd-user-sessions.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/packbuilder-layer-check

[Install]
WantedBy=multi-user.target
EOF
    ln -sf ../packbuilder-layer-check.service "$inc/etc/systemd/system/multi-user.target.wants/packbuilder-layer-check.service"

    echo "lb build: log in $WORK/lb-build.log"
    if ! lb build >"$WORK/lb-build.log" 2>&1; then
        tail -n 40 "$WORK/lb-build.log" >&2
        fail "lb build failed (log: $WORK/lb-build.log)"
    fi
    local iso
    iso=$(ls "$lb"/*.iso 2>/dev/null | head -n 1) || true
    [ -n "$iso" ] && [ -f "$iso" ] || { tail -n 40 "$WORK/lb-build.log" >&2; fail "lb build made no ISO (log: $WORK/lb-build.log)"; }
    mv "$iso" "$BASE.tmp"
    (lb clean >/dev/null 2>&1) || true  # the chroot and binary trees go; the package cache stays
    cd "$WORK"
    mv "$BASE.tmp" "$BASE"
}

step "base ISO (live-build)"
# Kept between runs while this section of the script (the base's recipe), the mirror and the
# bootloaders are unchanged.
recipe=$( (sed -n '/^# --- 2\./,/^# --- 3\./p' "$SCRIPT"; echo "$MIRROR $MIRROR_SECURITY $BOOTLOADERS") | sha256sum | cut -d' ' -f1)
if [ "${TEST_LIVE_REBUILD:-0}" != 1 ] && [ -f "$BASE" ] && [ "$(cat "$BASE.recipe" 2>/dev/null)" = "$recipe" ]; then
    echo "reusing $BASE (TEST_LIVE_REBUILD=1 builds it again)"
else
    rm -f "$BASE" "$BASE.recipe"
    build_base
    echo "$recipe" >"$BASE.recipe"
fi
echo "base: $BASE ($(stat -c %s "$BASE") bytes)"

# --- 3. packbuilder build --format iso -----------------------------------------------------------

step "packbuilder build --format iso"
PACK="$WORK/pack"
rm -rf "$PACK" "$OUT" "$OUT.sha256"
mkdir -p "$PACK"
cd "$ROOT"
"$PYTHON" - "$PACK" "$APPIMAGE_NAME" <<'EOF'
"""A catalog with one overlay (a marker and a guide), a cache holding the AppImage, a lock."""
import hashlib
import sys
from pathlib import Path

from packbuilder.fetch.cache import Cache
from packbuilder.plan.lock import lock_bytes
from packbuilder.model.lock import Lock

work, name = Path(sys.argv[1]), sys.argv[2]
appimage = b"\x7fELF" + bytes(range(256)) * 64
digest = hashlib.sha256(appimage).hexdigest()
overlay = work / "catalog" / "overlays" / "marker"
(overlay / "Docs").mkdir(parents=True)
(work / "catalog" / "manifests").mkdir()
(overlay / "marker.txt").write_text("marker\n")
(overlay / "Docs" / "guide.html").write_text("<p>Guide</p>\n")
source = work / "Tool.AppImage"
source.write_bytes(appimage)
assert Cache(work / "cache").add_file(source, "sha256", digest, {"url": "test"})
lock = Lock.model_validate(
    {
        "pack": {"id": "live", "name": {"fr": "Pack libre", "en": "Free pack"}, "label": "PACK", "locale": "fr",
                 "overlays": ["marker"]},
        "profile": {"id": "linux-64", "name": {"fr": "Linux", "en": "Linux"}, "os": "linux", "arch": "x86_64",
                    "ram_mb": 1024, "key_mb": 64, "firmware": ["bios", "uefi64"]},
        "capacity_bytes": 64_000_000,
        "items": [
            {
                "app": "tool", "name": "Tool", "category": "utilities", "license": "GPL-3.0-or-later",
                "homepage": "https://tool.example.org/", "source_code": "https://tool.example.org/src",
                "summary": {"fr": "Un outil", "en": "A tool"}, "version": "1.0", "platform": "linux",
                "arch": "x86_64", "kind": "appimage", "url": "https://tool.example.org/Tool.AppImage",
                "sha256": digest, "checksum_source": "test fixture", "size": len(appimage),
                "dest": f"AppImages/{name}", "reason": "tool 1.0: newest release",
            }
        ],
    }
)
(work / "live.lock").write_bytes(lock_bytes(lock))
EOF
env -u PACKBUILDER_CATALOG SOURCE_DATE_EPOCH=$EPOCH "$PYTHON" -m packbuilder \
    --catalog "$PACK/catalog/manifests" --cache "$PACK/cache" \
    build "$PACK/live.lock" --offline --format iso --base "$BASE" -o "$OUT" \
    || fail "packbuilder build --format iso failed"
[ -f "$OUT" ] || fail "packbuilder wrote no $OUT"
xorriso -indev "$OUT" -find /live -name 'zz-packbuilder.squashfs' 2>/dev/null | grep -q zz-packbuilder \
    || fail "$OUT has no /live/zz-packbuilder.squashfs"

# --- 4. boot in QEMU -----------------------------------------------------------------------------

# Boots $1 from CD (or with $3 = "disk": as a writable USB key; with $4 = "uefi": under OVMF) and
# leaves the serial console text in $2; returns when the answer lines came and the guest powered off,
# or QEMU exited, or after $TIMEOUT seconds.
boot() {
    local image=$1 log=$2 medium=${3:-cd} firmware=${4:-bios} pid deadline
    local args=(-drive "file=$image,format=raw,readonly=on,if=ide,index=2,media=cdrom")
    if [ "$medium" = disk ]; then
        args=(-device qemu-xhci,id=xhci -drive "file=$image,format=raw,if=none,id=key"
              -device usb-storage,bus=xhci.0,drive=key,removable=on)
    fi
    if [ "$firmware" = uefi ]; then
        local code vars
        for code in /usr/share/OVMF/OVMF_CODE_4M.fd /usr/share/OVMF/OVMF_CODE.fd; do
            vars=${code/CODE/VARS}
            [ -f "$code" ] && [ -f "$vars" ] && break
        done
        [ -f "$code" ] || fail "OVMF not found under /usr/share/OVMF: install the Debian package ovmf"
        cp "$vars" "$log.vars"
        args+=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=$code" -drive "if=pflash,format=raw,unit=1,file=$log.vars")
    fi
    : >"$log"
    qemu-system-x86_64 -accel "$ACCEL" -m 1024 -smp 1 -nographic -monitor none -parallel none \
        -serial "file:$log" -nic none -no-reboot -boot menu=off "${args[@]}" \
        </dev/null >"$log.qemu" 2>&1 &
    pid=$!
    deadline=$((SECONDS + TIMEOUT))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
        if grep -aq 'PACKBUILDER-PERSIST: ' "$log"; then
            # the answers came: give the guest time to power off by itself (the key's files are synced)
            local grace=$((SECONDS + 120))
            while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $grace ]; do sleep 1; done
            break
        fi
        sleep 2
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    [ -s "$log" ] || { cat "$log.qemu" >&2; return 1; }
}

answer() {  # the answer on the console $1: yes, no, or nothing
    { tr -d '\r' <"$1" | grep -ao 'PACKBUILDER-LAYER: \(yes\|no\)' | head -n 1 | cut -d' ' -f2; } || true
}

if [ "${TEST_LIVE_CONTROL:-0}" = 1 ]; then
    step "boot the base (control: must say no)"
    boot "$BASE" "$WORK/base-serial.log" || fail "QEMU did not start: $(cat "$WORK/base-serial.log.qemu")"
    control=$(answer "$WORK/base-serial.log")
    echo "base says: ${control:-nothing}"
    [ "$control" = no ] || fail "the base alone should say 'PACKBUILDER-LAYER: no', said '${control:-nothing}' (console: $WORK/base-serial.log)"
fi

step "boot the output (BIOS, CD, TCG)"
LOG="$WORK/serial.log"
boot "$OUT" "$LOG" || fail "QEMU did not start: $(cat "$LOG.qemu")"
tr -d '\r' <"$LOG" | sed -n '/PACKBUILDER-LISTING-BEGIN/,/PACKBUILDER-LAYER: /p'
said=$(answer "$LOG")
if [ -z "$said" ]; then
    tr -d '\r' <"$LOG" | tail -n 30 >&2
    fail "no answer on the serial console within $TIMEOUT s (console: $LOG)"
fi
[ "$said" = yes ] || fail "the running system does not have /opt/packbuilder/ and /etc/skel/Documents/ (console: $LOG)"
listing=$(tr -d '\r' <"$LOG" | sed -n '/PACKBUILDER-LISTING-BEGIN/,/PACKBUILDER-LISTING-END/p')
grep -q "$APPIMAGE_NAME" <<<"$listing" || fail "the AppImage is not in /opt/packbuilder/ (console: $LOG)"
grep -q "guide.html" <<<"$listing" || fail "the guide is not in /etc/skel/Documents/ (console: $LOG)"


# --- 5. usb-live key with persistence, booted under OVMF then SeaBIOS ----------------------------

step "packbuilder build --format usb-live --persistence"
KEY="$WORK/key.img"
rm -f "$KEY" "$KEY.sha256"
env -u PACKBUILDER_CATALOG SOURCE_DATE_EPOCH=$EPOCH "$PYTHON" -m packbuilder \
    --catalog "$PACK/catalog/manifests" --cache "$PACK/cache" \
    build "$PACK/live.lock" --offline --format usb-live --base "$BASE" --size 1G --persistence 128M -o "$KEY" \
    || fail "packbuilder build --format usb-live failed"
[ -f "$KEY" ] || fail "packbuilder wrote no $KEY"

persist() {  # what the check said of persistence on the console $1: written, found ..., off, or nothing
    { tr -d '\r' <"$1" | grep -ao 'PACKBUILDER-PERSIST: .*' | head -n 1 | cut -d' ' -f2-; } || true
}

step "boot the key (UEFI, USB disk, TCG): the layer, and a file saved with persistence"
KEYLOG="$WORK/key-uefi-serial.log"
boot "$KEY" "$KEYLOG" disk uefi || fail "QEMU did not start: $(cat "$KEYLOG.qemu")"
tr -d '\r' <"$KEYLOG" | sed -n '/PACKBUILDER-LISTING-BEGIN/,/PACKBUILDER-PERSIST: /p'
said=$(answer "$KEYLOG")
[ -n "$said" ] || { tr -d '\r' <"$KEYLOG" | tail -n 30 >&2; fail "the key said nothing under OVMF within $TIMEOUT s (console: $KEYLOG)"; }
[ "$said" = yes ] || fail "the live system started from the key lacks the layer's folders (console: $KEYLOG)"
listing=$(tr -d '\r' <"$KEYLOG" | sed -n '/PACKBUILDER-LISTING-BEGIN/,/PACKBUILDER-LISTING-END/p')
grep -q "$APPIMAGE_NAME" <<<"$listing" || fail "the AppImage is not in /opt/packbuilder/ on the key (console: $KEYLOG)"
grep -q "guide.html" <<<"$listing" || fail "the guide is not in /etc/skel/Documents/ on the key (console: $KEYLOG)"
first=$(persist "$KEYLOG")
[ "$first" = written ] || fail "the key's first boot entry did not start with persistence, or saved nothing: '${first:-nothing}' (console: $KEYLOG)"

step "boot the key again (BIOS, USB disk, TCG): the saved file"
KEYLOG2="$WORK/key-bios-serial.log"
boot "$KEY" "$KEYLOG2" disk bios || fail "QEMU did not start: $(cat "$KEYLOG2.qemu")"
tr -d '\r' <"$KEYLOG2" | grep -a 'PACKBUILDER-\(LAYER\|PERSIST\)' || true
[ "$(answer "$KEYLOG2")" = yes ] || fail "the key's second session (SeaBIOS) lacks the layer (console: $KEYLOG2)"
second=$(persist "$KEYLOG2")
case "$second" in
    found*) ;;
    *) fail "the file saved in the first session is not there after a reboot: '${second:-nothing}' (console: $KEYLOG2)" ;;
esac

# --- 6. the appending engine on live-build's partition-offset layout -------------------------------

step "packbuilder build --format iso --iso-engine pycdlib"
PYOUT="$WORK/out-pycdlib.iso"
rm -f "$PYOUT" "$PYOUT.sha256"
env -u PACKBUILDER_CATALOG SOURCE_DATE_EPOCH=$EPOCH "$PYTHON" -m packbuilder \
    --catalog "$PACK/catalog/manifests" --cache "$PACK/cache" \
    build "$PACK/live.lock" --offline --format iso --iso-engine pycdlib --base "$BASE" -o "$PYOUT" \
    || fail "packbuilder build --format iso --iso-engine pycdlib failed"

step "boot the pycdlib engine's ISO (UEFI, USB disk, TCG)"
PYLOG="$WORK/pycdlib-uefi-serial.log"
boot "$PYOUT" "$PYLOG" disk uefi || fail "QEMU did not start: $(cat "$PYLOG.qemu")"
tr -d '\r' <"$PYLOG" | grep -a ' /run/live/medium \|PACKBUILDER-LAYER' || true
[ "$(answer "$PYLOG")" = yes ] || fail "the pycdlib engine's ISO lacks the layer in the running system (console: $PYLOG)"
listing=$(tr -d '\r' <"$PYLOG" | sed -n '/PACKBUILDER-LISTING-BEGIN/,/PACKBUILDER-LISTING-END/p')
grep -q "$APPIMAGE_NAME" <<<"$listing" || fail "the AppImage is not in /opt/packbuilder/ (console: $PYLOG)"

RESULT=pass
echo "test-live: PASS: the live layer's files are in the running system from the ISO (both engines) and" \
    "from the key (OVMF and SeaBIOS), and a file saved with persistence survives a reboot ($((SECONDS - START)) s)"
