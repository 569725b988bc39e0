"""Provisioning a tenant with everything a new service company needs on day one."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from fixflow.accounts.models import Role
from fixflow.accounts.permissions import BUILTIN_ROLES
from fixflow.catalogs.models import Criticality, RatingCriterion, TicketCounter, TicketType, WorkType
from fixflow.objects.models import ObjectType
from fixflow.tenants.models import Company, CompanyKind, Tenant
from fixflow.workflow.defaults import seed_default_lifecycle

DEFAULT_CRITICALITIES = [
    ("Низкая", "#8bc34a", False),
    ("Средняя", "#ffc107", True),
    ("Высокая", "#ff9800", False),
    ("Критическая", "#f44336", False),
]
DEFAULT_CRITERIA = ["Качество выполненных работ", "Оперативность"]
DEFAULT_WORK_TYPES = [
    ("Диагностика", 24 * 60, Decimal("1500.00"), 1.0),
    ("Ремонт", 3 * 24 * 60, Decimal("5000.00"), 4.0),
    ("Техническое обслуживание", 5 * 24 * 60, Decimal("3000.00"), 2.0),
]


@dataclass(frozen=True)
class TenantDefaults:
    tenant: Tenant
    own_company: Company
    roles: dict[str, Role]
    ticket_type: TicketType


def create_tenant(
    session: Session, *, name: str, slug: str, timezone: str = "Europe/Moscow"
) -> TenantDefaults:
    tenant = Tenant(name=name, slug=slug, timezone=timezone)
    session.add(tenant)
    session.flush()
    own = Company(tenant_id=tenant.id, kind=CompanyKind.OWN, name=name)
    roles = {
        template.code.value: Role(
            tenant_id=tenant.id,
            code=template.code.value,
            name=template.name,
            is_staff=template.is_staff,
            permissions=sorted(p.value for p in template.permissions),
            scopes=sorted(s.value for s in template.scopes),
        )
        for template in BUILTIN_ROLES
    }
    session.add(own)
    session.add_all(roles.values())
    for order, (crit_name, color, is_default) in enumerate(DEFAULT_CRITICALITIES):
        session.add(
            Criticality(
                tenant_id=tenant.id, name=crit_name, color=color, sort_order=order, is_default=is_default
            )
        )
    for order, criterion in enumerate(DEFAULT_CRITERIA):
        session.add(RatingCriterion(tenant_id=tenant.id, name=criterion, sort_order=order))
    for wt_name, minutes, price, hours in DEFAULT_WORK_TYPES:
        session.add(
            WorkType(
                tenant_id=tenant.id, name=wt_name, closing_minutes=minutes, price=price, normal_hours=hours
            )
        )
    session.add_all(
        [
            ObjectType(tenant_id=tenant.id, name="Площадка", requires_address=True),
            ObjectType(tenant_id=tenant.id, name="Оборудование", requires_address=False),
        ]
    )
    lifecycle = seed_default_lifecycle(session, tenant.id)
    ticket_type = TicketType(
        tenant_id=tenant.id,
        name="Заявка на ремонт",
        number_mask="{YY}{MM}-{####}",
        closing_minutes=3 * 24 * 60,
        lifecycle_id=lifecycle.id,
    )
    session.add(ticket_type)
    session.flush()
    session.add(TicketCounter(tenant_id=tenant.id, ticket_type_id=ticket_type.id, value=0))
    session.flush()
    return TenantDefaults(tenant=tenant, own_company=own, roles=roles, ticket_type=ticket_type)
