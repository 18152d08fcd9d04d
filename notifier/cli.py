"""The `notifier` command: what an operator scripts, each with --help and a clear exit status."""

from __future__ import annotations

import os
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, ScriptInfo, pass_script_info, shell_command, with_appcontext

from notifier.cli_settings import create_app_or_exit as _create_app
from notifier.cli_settings import settings_group
from notifier.domain.errors import DomainError
from notifier.domain.profile import ProfileError, load_profile
from notifier.infra.settings import settings_of
from notifier.infra.unit_of_work import unit_of_work


# Flask's `run` and `routes` need the pages, which the CLI's app does not carry (create_app's
# `serving`): `notifier web` serves them, and `shell` is kept.
@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False)
def main() -> None:
    """notifier: email marketing and notifications that send only what people agreed to."""


main.add_command(settings_group)
main.add_command(shell_command)


def _fail_on_domain_error(exc: DomainError) -> click.ClickException:
    return click.ClickException(str(exc))


@main.command("setup")
@with_appcontext
def setup_command() -> None:
    """Migrate the database and mirror the profile's purposes into it."""
    from notifier.operations.bootstrap import DatabaseNotUtf8, prepare_database

    try:
        prepare_database(current_app)
    except DatabaseNotUtf8 as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("database ready")


@main.command("web")
@click.option("--bind", default="127.0.0.1:5000", show_default=True)
@click.option("--workers", default=2, show_default=True)
def web_command(bind: str, workers: int) -> None:
    """Serve the web app with gunicorn."""
    os.execvp(  # noqa: S606 - replaces this process with gunicorn on purpose
        sys.executable,
        [sys.executable, "-m", "gunicorn", "-b", bind, "-w", str(workers), "notifier:create_app()"],
    )


@main.command("worker")
@click.option("--burst", is_flag=True, help="Drain the queues, then exit.")
@click.option("--queues", default="notices,campaigns,send", show_default=True)
@with_appcontext
def worker_command(burst: bool, queues: str) -> None:
    """Run an RQ worker on the queues, in priority order."""
    from notifier.infra.logs import configure_logging
    from notifier.processes.worker import run_worker, tune_garbage_collector

    configure_logging(settings_of(current_app).LOG_FORMAT)
    tune_garbage_collector()
    run_worker(current_app, queues.split(","), burst=burst)


@main.command("scheduler")
@click.option("--once", is_flag=True, help="Run one round, then exit.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between rounds.")
@with_appcontext
def scheduler_command(once: bool, interval: float) -> None:
    """Start due campaigns and re-enqueue work the database holds as pending."""
    from notifier.infra.logs import configure_logging
    from notifier.processes.scheduler import run_scheduler

    configure_logging(settings_of(current_app).LOG_FORMAT)
    # The app itself, not the proxy: the notice timer's thread opens its own app context.
    run_scheduler(current_app._get_current_object(), once=once, interval=interval)  # type: ignore[attr-defined]


@main.command("dev")
@click.option("--port", default=5000, show_default=True)
@click.option("--no-demo", is_flag=True, help="Do not load demo data.")
def dev_command(port: int, no_demo: bool) -> None:
    """Web, worker, scheduler and the outbox SMTP server in one command (Ctrl-C stops all)."""
    from notifier.processes.devstack import run_dev

    run_dev(port=port, demo=not no_demo)


@main.command("outbox")
@click.option("--port", type=int, help="Default: OUTBOX_PORT (8025); 0 picks a free port.")
@with_appcontext
def outbox_command(port: int | None) -> None:
    """Run the built-in outbox SMTP server alone, storing what it receives, until Ctrl-C."""
    from notifier.processes.outbox import OutboxError, serve_outbox

    try:
        serve_outbox(current_app, port)
    except OutboxError as exc:
        raise click.ClickException(str(exc)) from None


@main.group("profile")
def profile_group() -> None:
    """Policy profiles."""


@profile_group.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
def profile_check(path: str) -> None:
    """Load a profile file and report the first problem, or what it defines."""
    try:
        profile = load_profile(path)
    except ProfileError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"{profile.name}: {len(profile.purposes)} purposes, {len(profile.roles)} roles, "
        f"retention {profile.retention.rule.value}"
    )


@main.group("staff")
def staff_group() -> None:
    """Staff accounts."""


@staff_group.command("create")
@click.argument("email")
@click.option("--role", required=True, help="A role key of the profile, e.g. admin.")
@click.option("--name", default="")
@with_appcontext
def staff_create(email: str, role: str, name: str) -> None:
    """Create a staff account and print its generated password once."""
    from notifier.operations.sign_in import role_requires_two_factor
    from notifier.operations.staff import create_staff

    try:
        with unit_of_work():
            user, password = create_staff(email, role, name)
    except DomainError as exc:
        raise _fail_on_domain_error(exc) from None
    click.echo(f"created {user.email} ({user.role})")
    click.echo(f"password: {password}")
    if role_requires_two_factor(user.role):
        click.echo(
            "two-step verification: required for this role; at the first sign-in the account "
            "scans a QR code with an authenticator app before any page opens"
        )


@main.group("apikey")
def apikey_group() -> None:
    """API keys for the billing system and scripts."""


@apikey_group.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True, help="notices, contacts, ...")
@with_appcontext
def apikey_create(name: str, scopes: tuple[str, ...]) -> None:
    """Create an API key and print it once; only its hash is kept."""
    from notifier.operations.staff import create_api_key

    try:
        with unit_of_work():
            issued = create_api_key(name, list(scopes))
    except DomainError as exc:
        raise _fail_on_domain_error(exc) from None
    click.echo(f"created key {issued.key.prefix} ({', '.join(issued.key.scopes)})")
    click.echo(f"key: {issued.plaintext}")


@main.group("contacts")
def contacts_group() -> None:
    """Contacts."""


@contacts_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--errors", "errors_path", type=click.Path(dir_okay=False), help="Row error CSV.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@with_appcontext
def contacts_import(file: str, errors_path: str | None, quiet: bool) -> None:
    """Import contacts from CSV; consent columns grant only with evidence columns."""
    from notifier.contacts.importer import import_cli

    # import_cli ends each chunk of rows as a unit of work of its own (see its run_import).
    with unit_of_work():
        imported = import_cli(file, errors_path=errors_path, progress=not quiet)
    if not imported:
        sys.exit(1)


@main.group("subscriptions")
def subscriptions_group() -> None:
    """Subscriptions: the services each contact holds."""


@subscriptions_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--source",
    default="import",
    show_default=True,
    help="Whose ids these are: the API key name of the billing system that also sends them.",
)
@click.option("--errors", "errors_path", type=click.Path(dir_okay=False), help="Row error CSV.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@with_appcontext
def subscriptions_import(file: str, source: str, errors_path: str | None, quiet: bool) -> None:
    """Import subscriptions from CSV (docs/import.md); contacts must exist."""
    from notifier.contacts.subscription_import import import_cli

    # The import commits every 1,000 rows inside this unit (contacts/subscriptions.CHUNK).
    with unit_of_work():
        imported = import_cli(file, source[:64], errors_path, progress=not quiet)
    if not imported:
        sys.exit(1)


@main.group("demo")
def demo_group() -> None:
    """Demo data."""


@demo_group.command("load")
@with_appcontext
def demo_load() -> None:
    """Load demo contacts, consent and templates (idempotent)."""
    from notifier.operations.demo import load_demo

    with unit_of_work():
        summary = load_demo()
    click.echo(summary)


@main.command("inbound")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=2525, show_default=True, help="0 picks a free port.")
@pass_script_info
def inbound_command(info: ScriptInfo, host: str, port: int) -> None:
    """Receive mail for the unsubscribe mailbox over SMTP and record each refusal."""
    from notifier.feedback.inbound import serve_inbound

    # The app itself, not the current_app proxy: messages are handled in worker threads, where
    # the proxy has no application context to point at.
    serve_inbound(info.load_app(), host, port)


@main.command("doctor")
@click.option("--domain", help="Check this From domain instead of the profile's.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document, both languages.")
@click.option("--lang", type=click.Choice(["vi", "en"]), default="vi", show_default=True)
@with_appcontext
def doctor_command(domain: str | None, as_json: bool, lang: str) -> None:
    """Check the sending domains' DNS (SPF, DKIM, DMARC, MX, PTR); exit 1 on any error."""
    import json

    from notifier.domain.deliverability import Level, escaped
    from notifier.operations.doctor import explain, run_doctor

    try:
        report = run_doctor(domain)
    except DomainError as exc:
        raise _fail_on_domain_error(exc) from None
    if as_json:
        click.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        for finding in report.findings:
            # Names and records come from DNS, which anyone may fill: no terminal escapes.
            subject = escaped(finding.subject)
            click.echo(f"[{finding.level.value:7}] {finding.check:5} {subject}: ", nl=False)
            click.echo(explain(finding, lang))
            if finding.record:
                click.echo(f"          {escaped(finding.record)}")
    if report.level is Level.ERROR:
        sys.exit(1)
