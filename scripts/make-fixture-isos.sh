#!/usr/bin/env bash
# Build the small bootable ISOs the image and boot tests use, and fetch the boot images Debian ships.
#
#   scripts/make-fixture-isos.sh [OUT_DIR]        (default: build/fixtures/)
#
# Writes into OUT_DIR:
#   grub-hybrid.iso        grub-mkrescue: El Torito BIOS + UEFI (x64, and ia32 when grub-efi-ia32-bin is
#                          installed), GRUB hybrid MBR, GPT with the ESP; no HFS+/APM
#   grub-hfsplus.iso       the same as grub-mkrescue makes it by default: with an HFS+ hybrid and an APM
#   grub-offset.iso        grub-hybrid.iso with a partition offset (xorriso -partition_offset 16): a second
#                          ISO 9660 volume from block 16, as live-build writes by default; prints the marker
#   grub-appended.iso      its files with the same offset and the ESP appended after the ISO data (GPT
#                          partition 2, the El Torito EFI image too), as Ubuntu's ISOs; prints the marker
#   isolinux-hybrid.iso    ISOLINUX, isohybrid MBR (isohdpfx.bin), BIOS only
#   grub-rescue-cdrom.iso  from Debian's grub-rescue-pc package
#   ipxe.iso               from Debian's ipxe package
#   secureboot.iso         Secure Boot chain from Debian's signed packages: El Torito EFI image (FAT) with
#                          EFI/BOOT/BOOTX64.EFI = shim (shim-signed, signed by Microsoft's UEFI CA) and
#                          EFI/BOOT/grubx64.efi = Debian's signed CD GRUB (grub-efi-amd64-signed's
#                          gcdx64.efi.signed, trusted by shim), the same files in the ISO tree, a GPT
#                          ESP (the El Torito EFI image) for disks, as grub-mkrescue lays it out; BIOS
#                          boot by an unsigned GRUB El Torito image and GRUB hybrid MBR
#   shimx64.efi.signed, gcdx64.efi.signed  the two signed loaders, as Debian ships them
#   *.deb and *.deb.sha256 the packages those four came from
#
# The four built ISOs print to the serial console (115200 baud) "PACKBUILDER-MARKER: yes" when
# /PACK/marker.txt exists on the medium they booted from, else "PACKBUILDER-MARKER: no", then power off.
# The ISOLINUX one does it through a small GRUB core image that ISOLINUX loads as a Linux kernel
# (lnxboot.img + core.img), since ISOLINUX's own configuration cannot test for a file.
#
# Needs (Debian packages): grub-pc-bin grub-efi-amd64-bin [grub-efi-ia32-bin] grub-common xorriso
# mtools dosfstools isolinux syslinux-common, and apt-get to download Debian's packages.
set -euo pipefail

out=${1:-build/fixtures}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-946684800}
export LC_ALL=C

die() {
    echo "make-fixture-isos: $*" >&2
    exit 1
}

need_cmd() {  # need_cmd COMMAND PACKAGE
    command -v "$1" >/dev/null || die "$1 not found: install the Debian package $2"
}

need_file() {  # need_file PATH PACKAGE
    [ -e "$1" ] || die "$1 not found: install the Debian package $2"
}

need_cmd grub-mkrescue grub-common
need_cmd grub-mkimage grub-common
need_cmd xorriso xorriso
need_cmd mformat mtools
need_cmd mkfs.fat dosfstools
need_cmd dpkg-deb dpkg
need_cmd apt-get apt
need_file /usr/lib/grub/i386-pc/lnxboot.img grub-pc-bin
need_file /usr/lib/grub/i386-pc/boot_hybrid.img grub-pc-bin
need_file /usr/lib/grub/x86_64-efi/kernel.img grub-efi-amd64-bin
need_file /usr/lib/ISOLINUX/isolinux.bin isolinux
need_file /usr/lib/ISOLINUX/isohdpfx.bin isolinux
need_file /usr/lib/syslinux/modules/bios/ldlinux.c32 syslinux-common

# The modules the marker check needs; search loads every partition map, so all of them are there.
partmaps=$(tr '\n' ' ' </usr/lib/grub/i386-pc/partmap.lst)
modules="normal echo test halt serial terminal search search_fs_file search_fs_uuid search_label configfile iso9660 fat $partmaps"

write_marker_cfg() {  # write_marker_cfg FILE [COMMAND]: serial console, COMMAND, the marker test, power off
    cat >"$1" <<EOF
set timeout=0
serial --unit=0 --speed=115200
terminal_output serial console
terminal_input serial console
${2:-}
EOF
    cat >>"$1" <<'EOF'
if [ -f /PACK/marker.txt ]; then echo "PACKBUILDER-MARKER: yes"; else echo "PACKBUILDER-MARKER: no"; fi
halt
EOF
}

# --- grub-mkrescue ISOs -------------------------------------------------------------------------
# grub-mkrescue's own embedded config sets root to the ISO (by its UUID) and loads /boot/grub/grub.cfg;
# the search below keeps root on the medium holding that file even if the UUID lookup fell back.
mkdir -p "$work/grub/boot/grub"
write_marker_cfg "$work/grub/boot/grub/grub.cfg" 'search --file --set=root /boot/grub/grub.cfg'

# grub-mkrescue always adds an HFS+ hybrid and an Apple partition map for Intel Macs; this wrapper
# drops those options so that grub-hybrid.iso is the plain BIOS + UEFI + GPT layout.
cat >"$work/xorriso-no-hfsplus" <<'EOF'
#!/usr/bin/env bash
set -euo pipefail
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        -hfsplus) shift ;;
        -apm-block-size) shift 2 ;;
        -hfsplus-file-creator-type) shift 4 ;;
        -hfs-bless-by) shift 3 ;;
        *) args+=("$1"); shift ;;
    esac
done
exec xorriso "${args[@]}"
EOF
chmod +x "$work/xorriso-no-hfsplus"

mkrescue() {  # mkrescue OUT [--xorriso=WRAPPER]
    local iso=$1
    shift
    grub-mkrescue "$@" -o "$work/$iso" --locales= --fonts= --themes= --install-modules="$modules" \
        "$work/grub" -- -volid PACKBUILDER_GRUB >"$work/$iso.log" 2>&1 \
        || { cat "$work/$iso.log" >&2; die "grub-mkrescue failed for $iso"; }
    mv "$work/$iso" "$out/$iso"
    echo "built $out/$iso"
}
mkrescue grub-hybrid.iso --xorriso="$work/xorriso-no-hfsplus"
mkrescue grub-hfsplus.iso

# grub-offset.iso: grub-hybrid.iso with xorriso's -partition_offset 16 (live-build's default, as in
# Debian's live images): a second superblock at block 32, the start of a volume whose trees count
# blocks from block 16, where the GPT's data partitions start. grub-mkrescue passes no xorriso option
# before its own, so a wrapper puts it right after "-as mkisofs".
cat >"$work/xorriso-offset" <<EOF
#!/usr/bin/env bash
exec "$work/xorriso-no-hfsplus" "\$1" "\$2" -partition_offset 16 "\${@:3}"
EOF
chmod +x "$work/xorriso-offset"
mkrescue grub-offset.iso --xorriso="$work/xorriso-offset"

# grub-appended.iso: the same files and partition offset with the ESP appended after the ISO data as
# GPT partition 2, which is also the El Torito EFI image (-e --interval:appended_partition_2:all::, as
# xorriso's manual shows), a protective MBR and GRUB's MBR code: the layout xorriso reports for
# Ubuntu's desktop ISOs (not checked here against one). The volume keeps grub-offset.iso's date, which
# is the UUID the EFI GRUB of its ESP searches for.
xorriso -osirrox on -indev "$out/grub-offset.iso" -extract / "$work/appended" >"$work/appended.log" 2>&1 \
    || { cat "$work/appended.log" >&2; die "xorriso could not extract grub-offset.iso"; }
chmod -R u+w "$work/appended"
mv "$work/appended/efi.img" "$work/appended-esp.img"
rm -f "$work/appended/boot.catalog"
date=$(xorriso -indev "$out/grub-offset.iso" -report_el_torito as_mkisofs 2>/dev/null \
    | sed -n "s/^--modification-date='\([0-9]*\)'$/\1/p")
xorriso -as mkisofs -o "$work/grub-appended.iso" -R -J -V PACKBUILDER_APPENDED --modification-date="$date" \
    --grub2-mbr /usr/lib/grub/i386-pc/boot_hybrid.img --protective-msdos-label -partition_cyl_align off \
    -partition_offset 16 --mbr-force-bootable -iso_mbr_part_type a2a0d0ebe5b9334487c068b6b72699c7 \
    -append_partition 2 28732ac11ff8d211ba4b00a0c93ec93b "$work/appended-esp.img" -appended_part_as_gpt \
    -c boot.catalog -b boot/grub/i386-pc/eltorito.img -no-emul-boot -boot-load-size 4 -boot-info-table \
    --grub2-boot-info -eltorito-alt-boot -e --interval:appended_partition_2:all:: -no-emul-boot \
    "$work/appended" >"$work/appended.log" 2>&1 \
    || { cat "$work/appended.log" >&2; die "xorriso failed for grub-appended.iso"; }
mv "$work/grub-appended.iso" "$out/grub-appended.iso"
echo "built $out/grub-appended.iso"

# --- ISOLINUX + isohybrid MBR -----------------------------------------------------------------
root="$work/isolinux"
mkdir -p "$root/isolinux" "$root/boot/grub"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$root/isolinux/"
cat >"$root/isolinux/isolinux.cfg" <<'EOF'
serial 0 115200
prompt 0
timeout 0
default marker
label marker
  linux /boot/grub.lnx
EOF
write_marker_cfg "$root/boot/grub/packbuilder-marker.cfg"
# The core image's early config runs in GRUB's rescue parser (no "if"): find the medium, then enter
# normal mode on the marker config.
cat >"$work/early.cfg" <<'EOF'
search --file --set=root /boot/grub/packbuilder-marker.cfg
set prefix=($root)/boot/grub
normal ($root)/boot/grub/packbuilder-marker.cfg
EOF
# shellcheck disable=SC2086  # $modules is a word list
grub-mkimage -O i386-pc -o "$work/core.img" -c "$work/early.cfg" -p /boot/grub biosdisk $modules
cat /usr/lib/grub/i386-pc/lnxboot.img "$work/core.img" >"$root/boot/grub.lnx"
xorriso -as mkisofs -o "$work/isolinux-hybrid.iso" -V PACKBUILDER_ISOLINUX -R -J \
    -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table \
    -isohybrid-mbr /usr/lib/ISOLINUX/isohdpfx.bin "$root" >"$work/isolinux.log" 2>&1 \
    || { cat "$work/isolinux.log" >&2; die "xorriso failed for isolinux-hybrid.iso"; }
mv "$work/isolinux-hybrid.iso" "$out/isolinux-hybrid.iso"
echo "built $out/isolinux-hybrid.iso"

# --- Debian's own boot images -------------------------------------------------------------------
# apt-get download checks each .deb against the signed archive index; its sha256 is recorded beside it
# and compared with the one apt-cache shows for that version.
fetch_deb_iso() {  # fetch_deb_iso PACKAGE PATH_IN_PACKAGE
    local pkg=$1 inner=$2 deb want got
    (cd "$work" && apt-get download -q "$pkg" >"$work/$pkg.log" 2>&1) \
        || { cat "$work/$pkg.log" >&2; die "apt-get download $pkg failed (run apt-get update first?)"; }
    deb=$(cd "$work" && ls "${pkg}"_*.deb)
    got=$(sha256sum "$work/$deb" | cut -d' ' -f1)
    want=$(apt-cache show --no-all-versions "$pkg" | sed -n 's/^SHA256: //p' | head -n1)
    [ -z "$want" ] || [ "$want" = "$got" ] || die "$deb: sha256 $got, the archive index says $want"
    dpkg-deb -x "$work/$deb" "$work/$pkg-root"
    rm -f "$out/${pkg}"_*.deb "$out/${pkg}"_*.deb.sha256
    cp "$work/$deb" "$out/$deb"
    echo "$got  $deb" >"$out/$deb.sha256"
    cp "$work/$pkg-root/$inner" "$out/$(basename "$inner")"
    echo "fetched $out/$(basename "$inner") from $deb"
}
fetch_deb_iso grub-rescue-pc usr/lib/grub-rescue/grub-rescue-cdrom.iso
fetch_deb_iso ipxe usr/lib/ipxe/ipxe.iso

# --- Secure Boot: Debian's shim and signed GRUB -------------------------------------------------
# Nothing signed is built or changed here: the two loaders are copied as Debian ships them. Debian's
# CD GRUB (gcdx64) has the prefix /boot/grub on the device it started from and an embedded config that
# sources $prefix/x86_64-efi/grub.cfg, else $prefix/grub.cfg (after searching /.disk/info when the
# prefix is missing); seen under OVMF: prefix (cd0)/boot/grub from a CD and from the ISO as a USB disk.
# It has serial, echo, test, search and halt built in (no module is loaded under Secure Boot), so the
# marker config serves both the signed EFI GRUB and the BIOS one. OVMF copies its console to the serial
# port, so the EFI boot prints each line twice (console and serial); the marker test reads the first.
fetch_deb_iso shim-signed usr/lib/shim/shimx64.efi.signed
fetch_deb_iso grub-efi-amd64-signed usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed
sb="$work/secureboot"
mkdir -p "$sb/EFI/BOOT" "$sb/boot/grub" "$sb/.disk"
cp "$work/shim-signed-root/usr/lib/shim/shimx64.efi.signed" "$sb/EFI/BOOT/BOOTX64.EFI"
cp "$work/grub-efi-amd64-signed-root/usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed" "$sb/EFI/BOOT/grubx64.efi"
echo "packbuilder Secure Boot fixture" >"$sb/.disk/info"
write_marker_cfg "$sb/boot/grub/grub.cfg"
# The El Torito EFI image: a FAT ESP just large enough for the two loaders (1 MiB + 3.7 MiB).
mkfs.fat -C -n SECUREBOOT -i 5042534b "$work/efi.img" 6144 >/dev/null
mmd -i "$work/efi.img" ::/EFI ::/EFI/BOOT
mcopy -i "$work/efi.img" "$sb/EFI/BOOT/BOOTX64.EFI" "$sb/EFI/BOOT/grubx64.efi" ::/EFI/BOOT/
cp "$work/efi.img" "$sb/boot/grub/efi.img"
# BIOS: GRUB's El Torito core image with the marker config's modules, prefix /boot/grub on the CD.
# shellcheck disable=SC2086  # $modules is a word list
grub-mkimage -O i386-pc-eltorito -o "$sb/boot/grub/bios.img" -p /boot/grub biosdisk $modules
xorriso -as mkisofs -o "$work/secureboot.iso" -V PACKBUILDER_SECUREBOOT -R -J \
    --grub2-mbr /usr/lib/grub/i386-pc/boot_hybrid.img \
    -b boot/grub/bios.img -no-emul-boot -boot-load-size 4 -boot-info-table --grub2-boot-info \
    -eltorito-alt-boot -e boot/grub/efi.img -no-emul-boot -efi-boot-part --efi-boot-image --protective-msdos-label \
    "$sb" >"$work/secureboot.log" 2>&1 \
    || { cat "$work/secureboot.log" >&2; die "xorriso failed for secureboot.iso"; }
mv "$work/secureboot.iso" "$out/secureboot.iso"
echo "built $out/secureboot.iso"
