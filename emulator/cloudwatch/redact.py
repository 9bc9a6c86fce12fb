"""Secrets masked out of every line before it leaves for CloudWatch. Pure.

Known secrets (the Fernet key, the web server's secret key, the S3 secret key) are masked from
the start; a connection's password and its sensitive extras once a process has read them,
as Airflow 2's secrets masker does (Airflow 1.10.12 has none).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable

MASK = "***"
# Shorter values would mask ordinary words (Airflow 2's [logging] min_length_masked_secret).
MIN_LENGTH = 5
# Keys of a connection's extra JSON whose values are secrets (Airflow 2's sensitive names).
SENSITIVE_KEYS = (
    "access_token",
    "api_key",
    "apikey",
    "authorization",
    "passphrase",
    "passwd",
    "password",
    "private_key",
    "secret",
    "token",
    "keyfile_dict",
    "service_account",
)


class Redactor:
    """Masks every registered secret in a text; registering is thread-safe."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        fresh = {s for s in secrets if s and len(s) >= MIN_LENGTH} - self._secrets
        if not fresh:
            return
        with self._lock:
            self._secrets |= fresh
            # Longest first: a secret that contains another is masked whole.
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def add_extra(self, extra: str | None) -> None:
        """A connection's extra: the values of its sensitive keys, at any depth."""
        try:
            parsed = json.loads(extra or "")
        except ValueError:
            return
        self.add(*_sensitive_values(parsed))

    def __call__(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None else text

    def __len__(self) -> int:
        return len(self._secrets)


def _sensitive_values(value: object, sensitive: bool = False) -> list[str]:
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            hit = sensitive or any(word in str(key).lower() for word in SENSITIVE_KEYS)
            found += _sensitive_values(item, hit)
        return found
    if isinstance(value, list):
        return [s for item in value for s in _sensitive_values(item, sensitive)]
    if sensitive and isinstance(value, str | int | float) and not isinstance(value, bool):
        return [str(value)]
    return []
