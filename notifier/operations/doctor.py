"""`notifier doctor` and the deliverability page: the live DNS of the sending domains, checked
against what this product sends (its From address, return path, relay and DKIM key).

The checks themselves are pure (notifier/domain/deliverability.py); this use case gathers the
setup from the settings and profile, asks DNS_RESOLVER and words each finding in vi and en.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from notifier.delivery.composer import envelope_sender
from notifier.domain.deliverability import (
    Finding,
    Level,
    Lookup,
    SendingSetup,
    diagnose,
    valid_domain,
    worst,
)
from notifier.domain.errors import DomainError
from notifier.infra import translations
from notifier.infra.context import profile, settings
from notifier.infra.dns_lookup import lookup_from_setting
from notifier.infra.translations import N_
from notifier.mail.smtp import InvalidSmtpUrl, SmtpConfig

LOCALES = ("vi", "en")
PERMISSION = "deliverability.view"  # admin holds it; a profile role may be given it
# The findings' message keys, built by the pure checks: listed so `pybabel extract` keeps them.
MESSAGES = (
    N_("doctor_bad_domain"),
    N_("doctor_dkim_malformed"),
    N_("doctor_dkim_match"),
    N_("doctor_dkim_mismatch"),
    N_("doctor_dkim_missing"),
    N_("doctor_dkim_multiple"),
    N_("doctor_dkim_revoked"),
    N_("doctor_dkim_unsigned"),
    N_("doctor_dmarc_aligned"),
    N_("doctor_dmarc_dkim_unaligned"),
    N_("doctor_dmarc_malformed"),
    N_("doctor_dmarc_missing"),
    N_("doctor_dmarc_multiple"),
    N_("doctor_dmarc_present"),
    N_("doctor_dmarc_spf_unaligned"),
    N_("doctor_dmarc_unaligned"),
    N_("doctor_level_error"),
    N_("doctor_level_ok"),
    N_("doctor_level_warning"),
    N_("doctor_mx_implicit"),
    N_("doctor_mx_missing"),
    N_("doctor_mx_null"),
    N_("doctor_mx_ok"),
    N_("doctor_mx_unresolved"),
    N_("doctor_ptr_mismatch"),
    N_("doctor_ptr_missing"),
    N_("doctor_ptr_ok"),
    N_("doctor_relay_outbox"),
    N_("doctor_relay_unresolved"),
    N_("doctor_spf_fail"),
    N_("doctor_spf_lookup_limit"),
    N_("doctor_spf_loop"),
    N_("doctor_spf_macro"),
    N_("doctor_spf_multiple"),
    N_("doctor_spf_none"),
    N_("doctor_spf_not_covered"),
    N_("doctor_spf_pass"),
    N_("doctor_spf_permerror"),
    N_("doctor_spf_present"),
    N_("doctor_spf_private_relay"),
    N_("doctor_spf_temperror"),
    N_("doctor_spf_void_limit"),
    N_("doctor_timeout"),
)


class BadDomain(DomainError):
    """--domain is not a domain name."""


@dataclass(frozen=True)
class Report:
    setup: SendingSetup
    findings: list[Finding]

    @property
    def level(self) -> Level:
        return worst(self.findings)

    def as_json(self) -> dict[str, object]:
        return {
            "level": self.level.value,
            "from_domain": self.setup.from_domain,
            "return_path_domain": self.setup.return_path_domain,
            "relay": self.setup.relay_host,
            "findings": [
                {
                    "check": f.check,
                    "subject": f.subject,
                    "level": f.level.value,
                    "code": f.code,
                    "explanation": {locale: explain(f, locale) for locale in LOCALES},
                    "record": f.record,
                }
                for f in self.findings
            ],
        }


def explain(finding: Finding, locale: str) -> str:
    """The finding's short explanation in a locale (Vietnamese when the locale has none)."""
    return translations.gettext(locale, finding.code).format(**finding.params)


def sending_setup(domain: str | None = None) -> SendingSetup:
    """What this site sends with; `domain` replaces the From domain (and a return path on it)."""
    config = settings()
    identity = profile().identity
    from_domain = identity.from_address.rpartition("@")[2].lower()
    return_path = envelope_sender(delivery_id=0).rpartition("@")[2].lower()
    if domain is not None:
        domain = domain.strip().lower().rstrip(".")
        if not valid_domain(domain):
            raise BadDomain(f"--domain: {domain[:100]!r} is not a domain name")
        if return_path == from_domain:
            return_path = domain
        from_domain = domain
    relay: str | None = None
    if config.SMTP_URL:
        try:
            relay = SmtpConfig.from_url(config.SMTP_URL).host.lower()
        except InvalidSmtpUrl as exc:
            raise DomainError(str(exc)) from None
    signer = config.dkim_signer()
    inbound = [identity.unsubscribe_mailbox.rpartition("@")[2].lower()]
    if config.BOUNCE_DOMAIN.strip():
        inbound.append(config.BOUNCE_DOMAIN.strip().lower())
    return SendingSetup(
        from_domain=from_domain,
        return_path_domain=return_path,
        relay_host=relay,
        dkim_domain=config.DKIM_DOMAIN.lower() or None,
        dkim_selector=config.DKIM_SELECTOR.lower() or None,
        dkim_record=signer.dns_txt_record() if signer else None,
        inbound_domains=tuple(inbound),
    )


def run_doctor(domain: str | None = None, lookup: Lookup | None = None) -> Report:
    """Every finding about the site's DNS; asks DNS_RESOLVER unless a lookup is given."""
    setup = sending_setup(domain)
    return Report(setup, diagnose(setup, lookup or lookup_from_setting(settings().DNS_RESOLVER)))


def counts(findings: Sequence[Finding]) -> dict[str, int]:
    return {level.value: sum(1 for f in findings if f.level is level) for level in Level}
