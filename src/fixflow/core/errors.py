"""One error hierarchy: each domain error knows its HTTP status and carries a translatable message.

The API renders these as RFC 9457 problem JSON; HTML views render the form again with the message.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str  # an English msgid, with {placeholders} filled from ``params`` after translation
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.message.format(**self.params) if self.params else self.message


class DomainError(Exception):
    status: ClassVar[int] = 400
    type_slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"
    # Failed attempts (a wrong code, a spent try, a throttle hit) must survive the error response:
    # the boundary commits instead of rolling back when such an error is raised.
    keep_changes: ClassVar[bool] = False

    def __init__(self, message: str, *, errors: list[FieldProblem] | None = None, **params: Any) -> None:
        super().__init__(message.format(**params) if params else message)
        self.message = message  # an English msgid with {placeholders}; translated when rendered
        self.errors = errors or []
        self.params = params

    def render(self, gettext: Any = None) -> str:
        template = gettext(self.message) if gettext else self.message
        return str(template.format(**self.params) if self.params else template)


class NotFound(DomainError):
    status = 404
    type_slug = "not-found"
    title = "Not found"


class Forbidden(DomainError):
    status = 403
    type_slug = "forbidden"
    title = "Forbidden"


class Unauthenticated(DomainError):
    status = 401
    type_slug = "unauthenticated"
    title = "Authentication required"


class MethodNotAllowed(DomainError):
    status = 405
    type_slug = "method-not-allowed"
    title = "Method not allowed"


class Conflict(DomainError):
    status = 409
    type_slug = "conflict"
    title = "Conflict"


class VersionConflict(Conflict):
    type_slug = "version-conflict"
    title = "The ticket was changed by someone else"


class ValidationFailed(DomainError):
    status = 422
    type_slug = "validation-error"
    title = "Invalid input"


class RequirementNotMet(ValidationFailed):
    type_slug = "requirement-not-met"
    title = "The target stage's requirement is not met"


class Throttled(DomainError):
    status = 429
    type_slug = "throttled"
    title = "Too many attempts"

    def __init__(self, message: str, *, retry_after: int = 60, **params: Any) -> None:
        super().__init__(message, **params)
        self.retry_after = retry_after


@dataclass
class ErrorCollector:
    """Collects field problems so a form can show every one at once."""

    problems: list[FieldProblem] = field(default_factory=list)

    def add(self, field_name: str, message: str) -> None:
        self.problems.append(FieldProblem(field_name, message))

    def raise_if_any(self, message: str = "Invalid input") -> None:
        if self.problems:
            raise ValidationFailed(message, errors=list(self.problems))
