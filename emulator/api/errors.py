"""MWAA's error shapes: header `x-amzn-ErrorType` and a JSON body with the message."""

from __future__ import annotations

from flask import Response, json


class MwaaError(Exception):
    """An error answered in MWAA's shape; subclasses carry the code and status."""

    code = "InternalServerException"
    status = 500
    message_member = "message"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def response(self) -> Response:
        body = json.dumps({self.message_member: self.message})
        return Response(
            body,
            status=self.status,
            mimetype="application/json",
            headers={"x-amzn-ErrorType": self.code},
        )


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
