"""Whether a UEFI loader (a PE/COFF image) carries an Authenticode signature, and whose.

Secure Boot firmware starts a loader only if its Authenticode signature chains to a key in the
firmware's ``db`` (or, after shim, to shim's built-in key). A remaster must keep such a loader byte for
byte: any change to the signed parts, even GRUB's built-in prefix, breaks the signature and the
firmware refuses the loader ("Access Denied" on OVMF).

Read here (Microsoft PE/COFF specification, "The Attribute Certificate Table"):

- the DOS header's ``e_lfanew`` (offset 0x3C) leads to the ``PE\\0\\0`` signature and the COFF header;
- the optional header (PE32 magic 0x10B, PE32+ 0x20B) ends with data directories, entry 4 being the
  certificate table, whose "address" is a file offset, not an RVA;
- the table holds 8-byte aligned ``WIN_CERTIFICATE`` records: length (u32), revision (u16, 0x0200),
  type (u16, 2 = PKCS#7 SignedData), then the DER data.

Each signer is named when the ``cryptography`` package is importable (the test extra has it): the
certificate of the PKCS#7 bag that issued no other certificate of the bag (the leaf; Authenticode bags
hold the signer and its intermediates). Without it only the presence of a signature is reported.
Nothing is verified here: the firmware decides, this only tells what is there.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from packbuilder import tools
from packbuilder.i18n import _
from packbuilder.image.inspect import BootLayout

SECURITY_DIRECTORY = 4
WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002
WIN_CERT_REVISION_2_0 = 0x0200
PE32, PE32_PLUS = 0x10B, 0x20B
UEFI_LOADER_X64 = "EFI/BOOT/BOOTX64.EFI"
MAX_LOADER_BYTES = 64 << 20  # a loader is a few MiB; do not read a whole bogus image into memory


@dataclass(frozen=True)
class Signer:
    subject: str  # the signing certificate's subject (RFC 4514)
    issuer: str


@dataclass(frozen=True)
class Signature:
    """The Authenticode state of one PE image."""

    pe: bool  # a PE/COFF image at all
    signed: bool  # at least one non-empty WIN_CERTIFICATE of type PKCS#7 SignedData
    # One per signature whose signer could be read (shim 16 carries two: Microsoft's 2011 and 2023 CAs).
    signers: tuple[Signer, ...] = ()

    def describe(self) -> str:
        if not self.pe:
            return _("not a PE/COFF image")
        if not self.signed:
            return _("not signed")
        if not self.signers:
            return _("signed (Authenticode; signer not read)")
        signers = "; ".join(_("{subject} (issuer {issuer})").format(subject=s.subject, issuer=s.issuer) for s in self.signers)
        return _("signed by {signers}").format(signers=signers)


def read_signature(data: bytes) -> Signature:
    """The Authenticode state of a PE image given as bytes."""
    certificates = _certificate_table(data)
    if certificates is None:
        return Signature(pe=False, signed=False)
    signed = False
    signers = []
    for cert_type, der in _win_certificates(certificates):
        if cert_type == WIN_CERT_TYPE_PKCS_SIGNED_DATA and der:
            signed = True
            signer = _signer(der)
            if signer is not None:
                signers.append(signer)
    return Signature(pe=True, signed=signed, signers=tuple(signers))


def _certificate_table(data: bytes) -> bytes | None:
    """The bytes of the certificate table (b"" when the directory is empty), None for a non-PE file."""
    if len(data) < 0x40 or data[:2] != b"MZ":
        return None
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    if pe + 24 > len(data) or data[pe : pe + 4] != b"PE\0\0":
        return None
    optional = pe + 24
    optional_size = struct.unpack_from("<H", data, pe + 20)[0]
    if optional + 2 > len(data):
        return None
    magic = struct.unpack_from("<H", data, optional)[0]
    if magic not in (PE32, PE32_PLUS):
        return None
    count_at = optional + (92 if magic == PE32 else 108)  # NumberOfRvaAndSizes, then the directories
    if count_at + 4 > min(len(data), optional + optional_size):
        return None
    count = struct.unpack_from("<I", data, count_at)[0]
    entry = count_at + 4 + 8 * SECURITY_DIRECTORY
    if count <= SECURITY_DIRECTORY or entry + 8 > min(len(data), optional + optional_size):
        return b""
    offset, size = struct.unpack_from("<II", data, entry)
    if offset == 0 or size == 0 or offset + size > len(data):
        return b""
    return data[offset : offset + size]


def _win_certificates(table: bytes) -> list[tuple[int, bytes]]:
    """(type, data) of each WIN_CERTIFICATE of a certificate table."""
    found = []
    pos = 0
    while pos + 8 <= len(table):
        length, revision, cert_type = struct.unpack_from("<IHH", table, pos)
        if length < 8 or pos + length > len(table):
            break
        if revision == WIN_CERT_REVISION_2_0:
            found.append((cert_type, table[pos + 8 : pos + length]))
        pos += (length + 7) & ~7  # records are 8-byte aligned
    return found


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the DER element at ``pos``; ValueError if cut."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _bag_certificates(der: bytes) -> list[bytes]:
    """The DER certificates of a PKCS#7 SignedData (RFC 2315: ContentInfo { contentType,
    [0] SignedData { version, digestAlgorithms, contentInfo, [0] IMPLICIT certificates, ... } }).
    Walked here because Authenticode's inner content (SpcIndirectDataContent) is one that some
    versions of cryptography's PKCS#7 loader refuse."""
    _tag, pos, _end = _tlv(der, 0)  # ContentInfo SEQUENCE
    _tag, _start, pos = _tlv(der, pos)  # contentType OID: skipped
    _tag, pos, _end = _tlv(der, pos)  # [0] EXPLICIT
    _tag, pos, end = _tlv(der, pos)  # SignedData SEQUENCE
    for _field in range(3):  # version, digestAlgorithms, contentInfo
        _tag, _start, pos = _tlv(der, pos)
    tag, pos, certs_end = _tlv(der, pos)
    if tag != 0xA0 or certs_end > end:
        return []
    certs = []
    while pos < certs_end:
        _tag, _start, cert_end = _tlv(der, pos)
        certs.append(der[pos:cert_end])
        pos = cert_end
    return certs


def _signer(der: bytes) -> Signer | None:
    """The bag's leaf certificate, None when it cannot be read."""
    try:
        from cryptography import x509
    except ImportError:  # optional: presence is still reported
        return None
    try:
        certs = [x509.load_der_x509_certificate(c) for c in _bag_certificates(der)]
    except ValueError:
        return None
    issuers = {c.issuer.rfc4514_string() for c in certs}
    leaves = [c for c in certs if c.subject.rfc4514_string() not in issuers] or certs
    if not leaves:
        return None
    return Signer(subject=leaves[0].subject.rfc4514_string(), issuer=leaves[0].issuer.rfc4514_string())


def uefi_loader_signature(iso: Path, layout: BootLayout) -> Signature | None:
    """The signature of ``\\EFI\\BOOT\\BOOTX64.EFI`` in the ISO's El Torito EFI image (read with mtools),
    None when the ISO has no EFI boot image or none holds that loader."""
    if not layout.efi_entries:
        return None
    offset = layout.efi_entries[0].load_rba * 2048
    proc = tools.run(
        ["mcopy", "-n", "-i", f"{iso}@@{offset}", f"::/{UEFI_LOADER_X64}", "-"],
        env={"MTOOLS_SKIP_CHECK": "1"},
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout:
        return None
    return read_signature(proc.stdout[:MAX_LOADER_BYTES])
