"""Secrets masked out of log lines before they leave for CloudWatch."""

from __future__ import annotations

import json

from emulator.cloudwatch.redact import MASK, Redactor


def test_known_secrets_are_masked_wherever_they_appear() -> None:
    redact = Redactor(["fernet-key-abc=", "s3-secret-key", None, ""])
    line = "key=fernet-key-abc= and s3-secret-key, twice: s3-secret-key"
    assert redact(line) == f"key={MASK} and {MASK}, twice: {MASK}"


def test_short_values_are_not_masked_and_longest_wins() -> None:
    redact = Redactor(["abc", "hunter22", "hunter22-extended"])
    assert redact("abc hunter22-extended hunter22") == f"abc {MASK} {MASK}"
    assert len(redact) == 2


def test_a_secret_read_later_is_masked_from_then_on() -> None:
    redact = Redactor()
    assert redact("password=p4ssw0rd!") == "password=p4ssw0rd!"
    redact.add("p4ssw0rd!")
    assert redact("password=p4ssw0rd!") == f"password={MASK}"


def test_sensitive_values_of_a_connection_extra() -> None:
    redact = Redactor()
    redact.add_extra(
        json.dumps(
            {
                "region_name": "us-east-1",
                "aws_secret_access_key": "extra-secret-1",
                "nested": {"api_token": "extra-secret-2", "port": 5432},
                "service_account": {"private_key_id": "keyid-3333"},
            }
        )
    )
    redact.add_extra("not json")
    text = "us-east-1 extra-secret-1 extra-secret-2 5432 keyid-3333"
    assert redact(text) == f"us-east-1 {MASK} {MASK} 5432 {MASK}"
