"""Detached OpenPGP signatures, checked by an installed verifier (gpgv or sqv).

packbuilder does not implement OpenPGP: it hands the file, the signature and the one public
key the manifest names to ``gpgv`` (or ``sqv``) and checks that the signing key is the one
whose fingerprint the manifest gives. It fails closed: no verifier, no key, or a bad
signature all stop the build with exit code 4.
"""

from __future__ import annotations

import base64
import re
import tempfile
from pathlib import Path

from packbuilder import tools
from packbuilder.errors import VerificationError
from packbuilder.i18n import _


def dearmor(data: bytes) -> bytes:
    """ASCII-armored OpenPGP data -> binary (gpgv's --keyring wants binary keys)."""
    text = data.decode("ascii", errors="replace")
    match = re.search(r"-----BEGIN PGP [A-Z ]+-----\r?\n(.*?)-----END PGP [A-Z ]+-----", text, re.S)
    if not match:
        return data  # already binary
    body = match.group(1)
    # Skip the armor headers (up to the first empty line), and the CRC line ("=XXXX").
    if "\n\n" in body.replace("\r\n", "\n"):
        body = body.replace("\r\n", "\n").split("\n\n", 1)[1]
    lines = [line.strip() for line in body.splitlines() if line.strip() and not line.startswith("=")]
    return base64.b64decode("".join(lines))


def verify_detached(data: Path, signature: Path, key_file: Path, fingerprint: str, what: str) -> str:
    """Check ``signature`` over ``data`` with ``key_file``; return the verifier used."""
    fingerprint = fingerprint.replace(" ", "").upper()
    if not key_file.is_file():
        raise VerificationError(
            _("{what}: public key {key} is missing").format(what=what, key=key_file),
            hint=_("the catalog's keys/ folder must hold it"),
        )
    need = _("{what}: its signature must be checked").format(what=what)
    verifier = tools.require_any("gpgv", "sqv", what=need, error=VerificationError)
    with tempfile.TemporaryDirectory(prefix="packbuilder-sig-") as tmp:
        keyring = Path(tmp) / "key.gpg"
        keyring.write_bytes(dearmor(key_file.read_bytes()))
        if verifier == "gpgv":
            proc = tools.run(
                ["gpgv", "--homedir", tmp, "--status-fd", "1", "--keyring", keyring, signature, data],
                check=False,
                env={"GNUPGHOME": tmp},
            )
            status = proc.stdout.decode(errors="replace")
            signers = {
                f
                for line in status.splitlines()
                if line.startswith("[GNUPG:] VALIDSIG")
                for f in (line.split()[2], line.split()[-1])
            }
        else:
            proc = tools.run(["sqv", "--keyring", keyring, signature, data], check=False)
            signers = {line.strip().upper() for line in proc.stdout.decode(errors="replace").splitlines() if line.strip()}
    if proc.returncode != 0 or not signers:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        raise VerificationError(
            _("{what}: bad OpenPGP signature ({verifier}: {detail})").format(
                what=what, verifier=verifier, detail=detail[-1] if detail else _("no valid signature")
            ),
            hint=_("do not use this file; check the manifest's signature URL and key"),
        )
    if fingerprint not in signers:
        raise VerificationError(
            _("{what}: signed by {signers}, not by the expected key {fingerprint}").format(
                what=what, signers=", ".join(sorted(signers)), fingerprint=fingerprint
            ),
            hint=_("the signature is valid but made by another key: check the manifest's key_fingerprint"),
        )
    return verifier
