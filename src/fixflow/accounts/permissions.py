"""The permission vocabulary, ticket scopes and the built-in roles."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Permission(enum.StrEnum):
    TICKET_CREATE = "ticket.create"
    TICKET_UPDATE = "ticket.update"
    TICKET_ASSIGN = "ticket.assign"
    TICKET_DELETE = "ticket.delete"
    TICKET_RATE = "ticket.rate"
    TICKET_WORKS = "ticket.works"
    TICKET_ANY_STAGE = "ticket.any_stage"
    TICKET_VIEW_DELETED = "ticket.view_deleted"
    TICKET_VIEW_STAGE = "ticket.view_stage"
    MEMBER_VIEW = "member.view"
    MEMBER_MANAGE = "member.manage"
    OBJECT_MANAGE = "object.manage"
    PLAN_MANAGE = "plan.manage"
    CONFIG_CATALOGS = "config.catalogs"
    CONFIG_LIFECYCLE = "config.lifecycle"
    CONFIG_FIELDS = "config.fields"
    CONFIG_SLA = "config.sla"


class Scope(enum.StrEnum):
    OWN = "own"
    APPROVAL = "approval"
    COMPANY = "company"
    ASSIGNED = "assigned"
    UNASSIGNED_NEW = "unassigned_new"
    ALL = "all"


class RoleCode(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    DISPATCHER = "dispatcher"
    EXECUTOR = "executor"
    CUSTOMER_ADMIN = "customer_admin"
    CUSTOMER = "customer"


CUSTOMER_ROLES = frozenset({RoleCode.CUSTOMER_ADMIN, RoleCode.CUSTOMER})


@dataclass(frozen=True)
class RoleTemplate:
    code: RoleCode
    name: str
    is_staff: bool
    permissions: frozenset[Permission]
    scopes: frozenset[Scope]


_STAFF_COMMON = frozenset(
    {
        Permission.TICKET_CREATE,
        Permission.TICKET_VIEW_STAGE,
        Permission.MEMBER_VIEW,
    }
)

BUILTIN_ROLES: tuple[RoleTemplate, ...] = (
    RoleTemplate(RoleCode.OWNER, "Владелец", True, frozenset(Permission), frozenset({Scope.ALL})),
    RoleTemplate(
        RoleCode.ADMIN,
        "Администратор",
        True,
        frozenset(Permission) - {Permission.TICKET_ANY_STAGE, Permission.TICKET_VIEW_DELETED},
        frozenset({Scope.ALL}),
    ),
    RoleTemplate(
        RoleCode.DISPATCHER,
        "Диспетчер",
        True,
        _STAFF_COMMON
        | {
            Permission.TICKET_UPDATE,
            Permission.TICKET_ASSIGN,
            Permission.MEMBER_MANAGE,
            Permission.PLAN_MANAGE,
            Permission.OBJECT_MANAGE,
        },
        frozenset({Scope.ALL}),
    ),
    RoleTemplate(
        RoleCode.EXECUTOR,
        "Сервисный специалист",
        True,
        _STAFF_COMMON | {Permission.TICKET_WORKS},
        frozenset({Scope.ASSIGNED}),
    ),
    RoleTemplate(
        RoleCode.CUSTOMER_ADMIN,
        "Заказчик (руководитель)",
        False,
        frozenset({Permission.TICKET_CREATE, Permission.TICKET_RATE}),
        frozenset({Scope.OWN, Scope.APPROVAL, Scope.COMPANY}),
    ),
    RoleTemplate(
        RoleCode.CUSTOMER,
        "Заказчик",
        False,
        frozenset({Permission.TICKET_CREATE, Permission.TICKET_RATE}),
        frozenset({Scope.OWN, Scope.APPROVAL}),
    ),
)
