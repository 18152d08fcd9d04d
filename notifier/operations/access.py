"""Who may do what: role permissions and visible contact fields from the profile, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from notifier.domain.errors import DomainError
from notifier.domain.profile import Localized, Role
from notifier.infra.context import profile
from notifier.models import Contact, StaffUser
from notifier.operations import audit

# Plain contact columns in the order pages and exports show them; "consent", "deliveries" and
# "privacy_requests" are groups of related records, checked with `sees` before they are loaded.
CONTACT_COLUMNS = (
    "name", "email", "phone", "address", "organisation", "contact_person", "national_id",
    "birth_date", "locale", "time_zone", "external_ref", "contract_ends_on", "tags", "attributes",
    "deal",
)  # fmt: skip
# Searching a field one may not see would reveal its value one query at a time.
SEARCHABLE = ("name", "email", "phone", "address", "organisation", "external_ref")
NO_ROLE = Role("", Localized("Không có vai trò", "No role"), frozenset(), frozenset())


class Forbidden(DomainError):
    """The staff member's role does not allow this."""


@dataclass(frozen=True)
class Access:
    """A signed-in staff member and what their role allows; passed to every service a page calls."""

    staff_id: int
    email: str
    role: Role
    ip: str | None = None

    @property
    def actor(self) -> str:
        return f"staff:{self.staff_id}"

    def can(self, permission: str) -> bool:
        return permission in self.role.permissions

    def sees(self, field: str) -> bool:
        return field in self.role.contact_fields

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise Forbidden(permission)

    def require_field(self, field: str) -> None:
        if not self.sees(field):
            raise Forbidden(field)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c for c in CONTACT_COLUMNS if self.sees(c))

    @property
    def searchable(self) -> tuple[str, ...]:
        return tuple(c for c in SEARCHABLE if self.sees(c))

    @property
    def editable(self) -> tuple[str, ...]:
        """Only what one may see may be edited, and never the address of record by mistake."""
        return self.columns if self.can("contacts.edit") else ()

    def audit(
        self, action: str, object_type: str = "", object_id: object = "", **details: Any
    ) -> None:
        """Added to the caller's transaction: the access and its record commit together."""
        audit.record(self.actor, action, object_type, object_id, details, self.ip)


def access_for(user: StaffUser, ip: str | None = None) -> Access:
    """A role the profile no longer defines grants nothing rather than failing the page."""
    try:
        role = profile().role(user.role)
    except KeyError:
        role = NO_ROLE
    return Access(staff_id=user.id, email=user.email, role=role, ip=ip)


def project(access: Access, contact: Contact) -> dict[str, Any]:
    """The contact as this role may see it: hidden fields are absent, not blanked."""
    row: dict[str, Any] = {"id": contact.id}
    for column in access.columns:
        row[column] = contact.tag_names if column == "tags" else getattr(contact, column)
    return row


def csv_value(value: Any) -> str:
    """Flatten a projected value for a spreadsheet cell; formula starts are neutralised."""
    if value is None:
        text = ""
    elif isinstance(value, list):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, dict):
        text = "; ".join(f"{k}={v}" for k, v in sorted(value.items()))
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value)
    # A spreadsheet runs a cell starting with these as a formula (CSV injection).
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text
