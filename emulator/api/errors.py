"""MWAA's error shapes: header `x-amzn-ErrorType: <Code>` and a JSON body with the message.
The exceptions carry code, status and message; the routes turn them into responses."""

from __future__ import annotations

import json


class MwaaError(Exception):
    """An error answered in MWAA's shape; subclasses carry the code and status."""

    code = "InternalServerException"
    status = 500
    message_member = "message"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def body(self) -> str:
        return json.dumps({self.message_member: self.message})

    def headers(self) -> dict[str, str]:
        return {"x-amzn-ErrorType": self.code}


class ValidationException(MwaaError):
    code, status = "ValidationException", 400


class AccessDeniedException(MwaaError):
    # The model names this member `Message`, unlike the others.
    code, status, message_member = "AccessDeniedException", 403, "Message"


class ResourceNotFoundException(MwaaError):
    code, status = "ResourceNotFoundException", 404


class InternalServerException(MwaaError):
    code, status = "InternalServerException", 500


class ServiceUnavailableException(MwaaError):
    code, status = "ServiceUnavailableException", 503
