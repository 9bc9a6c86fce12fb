"""A self-signed certificate per environment, so the documented `curl -k https://...` works."""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import sys
from pathlib import Path


def paths(folder: Path) -> tuple[Path, Path]:
    return folder / "tls-cert.pem", folder / "tls-key.pem"


def ensure_certificate(folder: Path) -> tuple[Path, Path]:
    """(cert, key) paths, made once and kept with the environment's state.

    Made by a short-lived process: `cryptography` would otherwise stay loaded in the API for
    its whole life (some 5 MiB of it unshared) for a certificate made once."""
    cert_path, key_path = paths(folder)
    if not (cert_path.exists() and key_path.exists()):
        subprocess.run([sys.executable, "-m", "emulator.api.tls", str(folder)], check=True)
    return cert_path, key_path


def make_certificate(folder: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = paths(folder)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


if __name__ == "__main__":
    make_certificate(Path(sys.argv[1]))
