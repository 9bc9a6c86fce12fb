"""Secrets in an archive: sealed under the user's passphrase, never written in clear; and the
Fernet encryption Airflow itself keeps them under in a metadata database.

The passphrase becomes a key through scrypt (OWASP's parameters: N=2**17, r=8, p=1), and the
secrets, one JSON document, are sealed with AES-SIV (RFC 5297), both from `cryptography`.
AES-SIV is deterministic: the same secrets under the same passphrase and salt give the same
bytes, which is what lets a re-export of an imported history equal the original archive (a
random nonce would make every export differ). The price is that two archives show whether
their sealed secrets are identical, nothing more. The salt is derived from the archive's other
contents, so it is unique to the history it protects and the same for a re-export of it; a
dictionary cannot be precomputed for all archives at once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from emulator.errors import HistoryError

CIPHER = "AES-256-SIV"
KDF = {"name": "scrypt", "n": 2**17, "r": 8, "p": 1}
MIN_PASSPHRASE = 8
_CONTEXT = b"mwaa-local history secrets v1"


def salt_for(digests: Iterable[str]) -> bytes:
    """The salt of an archive whose other members have these SHA-256 digests."""
    h = hashlib.sha256(b"mwaa-local history salt v1\0")
    for digest in digests:
        h.update(digest.encode() + b"\0")
    return h.digest()[:16]


def check_passphrase(passphrase: bytes) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise HistoryError(
            f"the passphrase is too short ({len(passphrase)} bytes): use at least "
            f"{MIN_PASSPHRASE} characters, ideally a few random words"
        )


def _key(passphrase: bytes, salt: bytes, kdf: dict[str, Any]) -> bytes:
    if kdf.get("name") != "scrypt":
        raise HistoryError(f"this archive uses an unknown key derivation ({kdf.get('name')!r})")
    return Scrypt(salt=salt, length=64, n=int(kdf["n"]), r=int(kdf["r"]), p=int(kdf["p"])).derive(
        passphrase
    )


def seal(values: list[str], passphrase: bytes, salt: bytes) -> bytes:
    check_passphrase(passphrase)
    document = json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()
    return AESSIV(_key(passphrase, salt, KDF)).encrypt(document, [_CONTEXT])


def unseal(blob: bytes, passphrase: bytes, salt: bytes, kdf: dict[str, Any]) -> list[str]:
    try:
        document = AESSIV(_key(passphrase, salt, kdf)).decrypt(blob, [_CONTEXT])
    except InvalidTag:
        raise HistoryError(
            "the passphrase does not open this archive's secrets (a wrong passphrase, or a "
            "changed archive); nothing was imported. Give the passphrase it was exported "
            "with, or import without secrets (--no-secrets)"
        ) from None
    values = json.loads(document)
    if not isinstance(values, list):
        raise HistoryError("the archive's secrets are not a list: the archive is damaged")
    return values


# -- Airflow's Fernet ([core] fernet_key: one key, or several separated by commas) ------------
def fernet(keys: str) -> MultiFernet:
    try:
        return MultiFernet([Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()])
    except (ValueError, TypeError):
        raise HistoryError(
            "not a Fernet key (Airflow's [core] fernet_key: 32 url-safe base64-encoded bytes, "
            "or several keys separated by commas)"
        ) from None


def decrypt(f: MultiFernet, token: str, what: str) -> str:
    try:
        return f.decrypt(token.encode()).decode()
    except InvalidToken:
        raise HistoryError(
            f"{what} cannot be decrypted with the Fernet key given (was it encrypted under "
            "another key?); give the key its Airflow used, or export without secrets "
            "(--no-secrets)"
        ) from None


def encrypt(f: MultiFernet, value: str) -> str:
    return f.encrypt(value.encode()).decode()
