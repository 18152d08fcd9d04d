"""`make image-test`: build the image, run its processes with podman, send a campaign to a sink.

The product is driven only as an operator would: `notifier ...` inside the container (setup,
staff create, apikey create, contacts import) and HTTP (the admin login page, the JSON API). What
counts is what arrives at the SMTP sink this script runs on a free loopback port. Podman runs
with --network host against this machine's PostgreSQL and Redis (their images cannot be pulled).
"""

from __future__ import annotations

import argparse
import configparser
import csv
import http.cookiejar
import json
import os
import re
import secrets
import smtplib
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402 - after the path set-up above, like the imports below
import pyotp  # noqa: E402
import redis  # noqa: E402

from bench.sinks import free_port  # noqa: E402
from tests.smtp_server import SmtpTestServer  # noqa: E402

PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]
PREFIX = "notifier-image-test"
TAG = "image-test"
STOP_GRACE_SECONDS = 30  # compose.yaml's stop_grace_period for the workers, then SIGKILL
# A sign-in checks an argon2id hash and the enrolment hashes ten recovery codes: seconds on a
# machine whose cores other jobs keep busy, where 10 s once timed out.
FORM_SECONDS = 60
BODY_MJML = (
    "<mjml><mj-body><mj-section><mj-column><mj-text>Xin chào {{ contact_name }}</mj-text>"
    "</mj-column></mj-section></mj-body></mjml>"
)


class CheckFailed(AssertionError):
    """A requirement of the image that the run disproved; the message says which."""


@dataclass
class Report:
    lines: list[tuple[str, bool, str]] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.lines.append((name, ok, detail))
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", flush=True)
        if not ok:
            raise CheckFailed(f"{name}: {detail}")


def podman(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise CheckFailed(
            f"podman {' '.join(args[:3])}... exited {result.returncode}: "
            f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    return result


def containers_conf(workdir: Path) -> None:
    """runc and cgroupfs work here; crun fails on these machines, and so do default ulimits."""
    if "CONTAINERS_CONF" not in os.environ:
        conf = workdir / "containers.conf"
        conf.write_text("[containers]\ndefault_ulimits = []\n")
        os.environ["CONTAINERS_CONF"] = str(conf)


def pip_certificate() -> str | None:
    """The CA bundle this machine's pip uses (a TLS-intercepting egress), for pip in the build."""
    if os.environ.get("PIP_CERT"):
        return os.environ["PIP_CERT"]
    parser = configparser.ConfigParser()
    parser.read("/etc/pip.conf")
    return parser.get("global", "cert", fallback=None)


def build_image(image: str) -> float:
    subprocess.run(["sh", str(ROOT / "deploy" / "base-image.sh")], check=True)
    args = ["build", "--pull=never", "--format", "docker", "-f", "Containerfile", "-t", image]
    cert = pip_certificate()
    if cert and Path(cert).is_file():
        args += ["-v", f"{cert}:/etc/pip-ca.crt:ro", "--build-arg", "PIP_CERT=/etc/pip-ca.crt"]
    started = time.monotonic()
    result = subprocess.run(
        [*PODMAN, *args, str(ROOT)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise CheckFailed(f"image build failed:\n{result.stdout[-4000:]}{result.stderr[-4000:]}")
    return time.monotonic() - started


SQLITE_DIR = "/var/lib/notifier/db"  # inside the containers; a host folder all of them share


def prepare_database(args: argparse.Namespace, workdir: Path) -> tuple[str, list[str]]:
    """The DATABASE_URL the containers get and the volumes it needs; each run starts empty."""
    redis.Redis.from_url(args.redis).flushdb()
    if args.database != "sqlite":
        reset_postgres(args.database)
        return args.database, []
    shared = workdir / "db"
    shared.mkdir()
    shared.chmod(0o777)  # the container user (uid 10001) creates the file and its journal here
    return f"sqlite:///{SQLITE_DIR}/notifier.sqlite3", [f"{shared}:{SQLITE_DIR}"]


def reset_postgres(database_url: str) -> None:
    url = urllib.parse.urlsplit(database_url)
    name = url.path.lstrip("/")
    admin = urllib.parse.urlunsplit(url._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


@dataclass
class Stack:
    image: str
    env: dict[str, str]
    volumes: list[str]
    started: list[str] = field(default_factory=list)

    def _args(self) -> list[str]:
        args = ["--network", "host", "--health-interval", "disable"]
        for key, value in self.env.items():
            args += ["-e", f"{key}={value}"]
        for volume in self.volumes:
            args += ["-v", volume]
        return args

    def once(self, *command: str) -> str:
        """A one-off command in a fresh container, as `docker compose run --rm web ...` does."""
        return str(podman("run", "--rm", *self._args(), self.image, *command).stdout)

    def attempt(self, *command: str, **env: str) -> subprocess.CompletedProcess:
        """A one-off command with some variables changed, which may fail."""
        changed = Stack(self.image, {**self.env, **env}, self.volumes)
        return podman("run", "--rm", *changed._args(), self.image, *command, check=False)

    def start(self, name: str, *command: str) -> str:
        full = f"{PREFIX}-{name}"
        podman("rm", "-f", full, check=False)
        podman("run", "-d", "--name", full, *self._args(), self.image, *command)
        self.started.append(full)
        return full

    def remove_all(self) -> None:
        for name in self.started:
            podman("rm", "-f", "-t", "5", name, check=False)


def wait_for(what: str, condition: Callable[[], bool], timeout: float, step: float = 0.2) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise CheckFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)
    return time.monotonic() - started


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local URL
            return bool(response.status == 200)
    except OSError:
        return False


class Api:
    def __init__(self, base: str, key: str) -> None:
        self.base = base
        self.key = key

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - the local web container
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            raise CheckFailed(f"{method} {path}: {exc.code} {exc.read()[:1000]!r}") from None


def _csrf_token(page: str) -> str:
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    if token is None:
        raise CheckFailed("a form of the admin pages has no CSRF token field")
    return token.group(1)


def admin_login(base: str, email: str, password: str) -> str:
    """Sign in through the admin forms (CSRF token and all); return the page reached.

    An admin enrols a second factor at the first sign-in: type the shown key into an
    authenticator (pyotp here) and confirm with its code, as a person does without the QR code.
    """
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )

    def submit(path: str, page: str, fields: dict[str, str]) -> tuple[str, str]:
        form = urllib.parse.urlencode({"csrf_token": _csrf_token(page), **fields}).encode()
        with opener.open(f"{base}{path}", data=form, timeout=FORM_SECONDS) as response:
            return str(response.geturl()), response.read().decode()

    with opener.open(f"{base}/admin/login", timeout=FORM_SECONDS) as response:
        page = response.read().decode()
    landed, page = submit("/admin/login", page, {"email": email, "password": password})
    if landed.endswith("/admin/two-factor/enrol"):
        key = re.search(r'data-testid="totp-secret">([^<]+)<', page)
        if key is None:
            raise CheckFailed("the second-factor enrolment page shows no key")
        code = pyotp.TOTP(key.group(1).replace(" ", "")).now()
        submit("/admin/two-factor/enrol", page, {"code": code})
        with opener.open(f"{base}/admin/", timeout=FORM_SECONDS) as response:
            landed = str(response.geturl())
    return landed


def write_contacts(path: Path, count: int) -> list[str]:
    emails = [f"khach{i:05d}@image-test.example" for i in range(count)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "email",
                "name",
                "tags",
                "consent.promotions",
                "consent_source",
                "consent_notice_version",
                "consent_collected_at",
            ]
        )
        for i, email in enumerate(emails):
            writer.writerow(
                [email, f"Khách hàng {i}", TAG, "yes", "web_form", "1", "2026-01-05T09:30:00+07:00"]
            )
    path.chmod(0o644)
    return emails


def create_campaign(api: Api) -> int:
    template = api.call(
        "POST",
        "/templates",
        {
            "name": "Image test",
            "kind": "promotion",
            "purpose": "promotions",
            "subject": "Khuyến mãi tháng sáu cho {{ contact_name }}",
            "body_mjml": BODY_MJML,
        },
    )
    campaign = api.call(
        "POST",
        "/campaigns",
        {
            "name": "Image test",
            "kind": "promotion",
            "purpose": "promotions",
            "template_id": template["id"],
            "audience": {"tags": [TAG]},
        },
    )
    api.call("POST", f"/campaigns/{campaign['id']}/schedule")
    return int(campaign["id"])


def process_users(container: str) -> list[tuple[str, str, str]]:
    """(user inside, user on the host, command) of every process of a running container."""
    out = podman("top", container, "user", "huser", "args").stdout.splitlines()[1:]
    return [tuple(line.split(None, 2)) for line in out if line.strip()]


def check_not_root(report: Report, containers: Sequence[str], image: str) -> None:
    user = podman("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip()
    report.check("image user", user not in ("", "0", "root", "0:0"), f"USER {user}")
    for container in containers:
        rows = process_users(container)
        rooted = [r for r in rows if "root" in r[:2] or "0" in r[:2]]
        report.check(
            f"no root in {container}",
            bool(rows) and not rooted,
            f"{len(rows)} processes as {sorted({r[0] for r in rows})}",
        )


def check_no_compilers(report: Report, stack: Stack) -> None:
    found = stack.once("sh", "-c", "command -v gcc cc c++ make ld || true").split()
    report.check(
        "no compilers in the image", not found, ", ".join(found) or "gcc, cc, make, ld absent"
    )


def image_size(image: str) -> int:
    return int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout.strip())


def sink_counts(sink: SmtpTestServer) -> Counter[str]:
    with sink.lock:
        return Counter(r for m in sink.messages for r in m.rcpt_tos)


def check_mail(report: Report, sink: SmtpTestServer, emails: Sequence[str]) -> None:
    counts = sink_counts(sink)
    repeated = {r: n for r, n in counts.items() if n > 1}
    missing = set(emails) - set(counts)
    strangers = set(counts) - set(emails)
    report.check(
        "every contact exactly once",
        not repeated and not missing and not strangers,
        f"{sum(counts.values())} messages for {len(emails)} contacts; "
        f"{len(repeated)} repeated, {len(missing)} missing, {len(strangers)} unexpected",
    )
    with sink.lock:
        parsed = [message_from_bytes(m.data, policy=default_policy) for m in sink.messages]
    without = [m["To"] for m in parsed if not m["List-Unsubscribe"]]
    no_post = [
        m["To"] for m in parsed if m["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click"
    ]
    report.check(
        "List-Unsubscribe on every message",
        not without and not no_post,
        f"{len(parsed) - len(without)}/{len(parsed)} with List-Unsubscribe, "
        f"{len(parsed) - len(no_post)}/{len(parsed)} with One-Click POST",
    )


REFUSAL_SUBJECT = "Xác nhận từ chối nhận email"  # the refusal confirmation (docs/inbound.md)


def smtp_answers(port: int) -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=2) as client:
            return bool(client.noop()[0] == 250)
    except OSError:
        return False


def mail_to(sink: SmtpTestServer, address: str) -> list[EmailMessage]:
    with sink.lock:
        raw = [m.data for m in sink.messages if address in m.rcpt_tos]
    parsed = [message_from_bytes(data, policy=default_policy) for data in raw]
    return [m for m in parsed if isinstance(m, EmailMessage)]


def check_refusal_by_email(report: Report, sink: SmtpTestServer, inbound_port: int) -> None:
    """The inbound container takes a refusal mailed to the List-Unsubscribe mailto address.

    Consent is withdrawn at once and a worker sends the one confirmation; the person's own
    preferences page (linked from it) then shows the purpose switched off.
    """
    with sink.lock:
        first = message_from_bytes(sink.messages[0].data, policy=default_policy)
        person = sink.messages[0].rcpt_tos[0]
    mailto = re.search(r"<mailto:([^?>]+)", str(first["List-Unsubscribe"]))
    if mailto is None:
        raise CheckFailed(f"no mailto in List-Unsubscribe: {first['List-Unsubscribe']}")
    wait_for("the inbound mailbox", lambda: smtp_answers(inbound_port), 60)
    refusal = EmailMessage()
    refusal["From"], refusal["To"], refusal["Subject"] = person, mailto.group(1), "unsubscribe"
    refusal.set_content("Xin đừng gửi email quảng cáo nữa.")
    with smtplib.SMTP("127.0.0.1", inbound_port, timeout=30) as client:
        client.sendmail(person, [mailto.group(1)], refusal.as_bytes())

    def confirmations() -> list[EmailMessage]:
        return [m for m in mail_to(sink, person) if m["Subject"] == REFUSAL_SUBJECT]

    took = wait_for("the refusal confirmation", lambda: bool(confirmations()), 60)
    body = confirmations()[0].get_body(("plain",))
    text = str(body.get_content()) if body is not None else ""
    link = re.search(r"(http://\S+/p/\S+)", text)
    if link is None:
        raise CheckFailed(f"the refusal confirmation links no preferences page: {text[:500]}")
    with urllib.request.urlopen(link.group(1), timeout=FORM_SECONDS) as page:  # noqa: S310
        boxes = re.findall(r'<input type="checkbox" name="purpose"[^>]*>', page.read().decode())
    promotions = [b for b in boxes if 'value="promotions"' in b]
    still = [b for b in promotions if " checked" in b]
    report.check(
        "refusal by email (inbound)",
        bool(promotions) and not still and len(confirmations()) == 1,
        f"mail to {mailto.group(1).split('+')[0]}+TOKEN accepted; one confirmation after "
        f"{took:.1f} s; promotions {'still on' if still else 'off'} on the preferences page",
    )


def run(args: argparse.Namespace, report: Report, workdir: Path) -> None:
    if not args.skip_build:
        report.check("image built", True, f"{build_image(args.image):.0f} s")
    database_url, volumes = prepare_database(args, workdir)
    web_port = free_port()
    inbound_port = free_port()
    base = f"http://127.0.0.1:{web_port}"
    import_dir = workdir / "import"
    import_dir.mkdir(mode=0o755)
    emails = write_contacts(import_dir / "contacts.csv", args.contacts)
    with SmtpTestServer() as sink:
        sink.data_delay = args.sink_delay  # a slow relay, so a SIGTERM lands mid-campaign
        stack = Stack(
            args.image,
            volumes=[f"{import_dir}:/import:ro", *volumes],
            env={
                "DATABASE_URL": database_url,
                "REDIS_URL": args.redis,
                "SMTP_URL": sink.url,
                "SECRET_KEY": secrets.token_hex(32),
                "PUBLIC_BASE_URL": base,
                "PORT": str(web_port),
                "INBOUND_PORT": str(inbound_port),
                "NOTIFIER_BATCH_SIZE": "50",
                "LOG_FORMAT": "text",
            },
        )
        try:
            exercise(args, report, stack, sink, emails, base, inbound_port)
        finally:
            stack.remove_all()


def check_health(report: Report, web: str, worker: str) -> None:
    """HEALTHCHECK asks /healthz in web and fails when nothing answers; elsewhere it passes.

    The containers share the host's network, so a worker asking the usual PORT would reach the
    web container; a port where nothing listens tells whether it asks at all.
    """
    health = podman("healthcheck", "run", web, check=False)

    def on_silent_port(container: str) -> int:
        port = f"PORT={free_port()}"
        command = ["python", "/usr/local/bin/notifier-healthcheck"]
        return podman("exec", "-e", port, container, *command, check=False).returncode

    silent_web, silent_worker = on_silent_port(web), on_silent_port(worker)
    report.check(
        "HEALTHCHECK (/healthz)",
        health.returncode == 0 and silent_web == 1 and silent_worker == 0,
        f"web exit {health.returncode}; on a port where nothing listens: web exit {silent_web}, "
        f"worker (serves nothing) exit {silent_worker}",
    )


def check_refuses_weak_secret(report: Report, stack: Stack) -> None:
    """web stops on a bad setting with the one line naming it, like every other process."""
    placeholder = "changeme"  # a well-known placeholder, refused outside tests and `notifier dev`
    result = stack.attempt("web", SECRET_KEY=placeholder, PORT=str(free_port()))
    named = [line for line in result.stderr.splitlines() if "cannot start: SECRET_KEY" in line]
    shown = named[0][:70] if named else result.stderr[-300:]
    report.check(
        "weak SECRET_KEY refused (web)",
        result.returncode != 0 and bool(named) and "Traceback" not in result.stderr,
        f"exit {result.returncode}, no traceback: {shown}",
    )


def check_refuses_half_configuration(report: Report, image: str) -> None:
    """Without DATABASE_URL and SECRET_KEY a process would keep its data inside the container."""
    result = podman("run", "--rm", "--network", "host", image, "worker", check=False)
    report.check(
        "missing settings refused",
        result.returncode == 64
        and "Thiếu biến môi trường: DATABASE_URL REDIS_URL SECRET_KEY" in result.stderr
        and "Missing environment variables: DATABASE_URL REDIS_URL SECRET_KEY" in result.stderr,
        f"exit {result.returncode}, in Vietnamese and English",
    )


def exercise(
    args: argparse.Namespace,
    report: Report,
    stack: Stack,
    sink: SmtpTestServer,
    emails: list[str],
    base: str,
    inbound_port: int,
) -> None:
    check_refuses_half_configuration(report, args.image)
    check_refuses_weak_secret(report, stack)
    report.check("setup", "database ready" in stack.once("setup"), "notifier setup ran once")
    password = re.search(
        r"password: (\S+)",
        stack.once("notifier", "staff", "create", "admin@image-test.example", "--role", "admin"),
    )
    key = re.search(
        r"key: (\S+)",
        stack.once(
            "notifier",
            "apikey",
            "create",
            "image-test",
            "--scope",
            "templates",
            "--scope",
            "campaigns",
        ),
    )
    if password is None or key is None:
        raise CheckFailed("staff create or apikey create printed no secret")
    imported = stack.once("notifier", "contacts", "import", "/import/contacts.csv", "--quiet")
    report.check("contacts import", str(len(emails)) in imported, imported.strip().splitlines()[0])

    web = stack.start("web", "web")
    scheduler = stack.start("scheduler", "scheduler")
    first = stack.start("worker-1", "worker")
    inbound = stack.start("inbound", "inbound")
    wait_for("/healthz", lambda: answers(f"{base}/healthz"), 60)
    check_health(report, web, first)
    landed = admin_login(base, "admin@image-test.example", password.group(1))
    report.check("admin login", landed.rstrip("/").endswith("/admin"), f"landed on {landed}")

    api = Api(f"{base}/api/v1", key.group(1))
    campaign = create_campaign(api)
    wait_for("the first messages", lambda: sum(sink_counts(sink).values()) >= len(emails) // 4, 120)
    podman("kill", "--signal", "TERM", first)
    at_term = sum(sink_counts(sink).values())
    stopped = time.monotonic()
    status = int(podman("wait", first, timeout=120).stdout.strip())
    took = time.monotonic() - stopped
    logs = podman("logs", first).stderr + podman("logs", first).stdout
    report.check(
        "SIGTERM mid-campaign",
        0 < at_term < len(emails),
        f"{at_term}/{len(emails)} received when the worker was sent SIGTERM",
    )
    clean = status == 0 and "Traceback" not in logs and took < STOP_GRACE_SECONDS
    report.check(
        "clean worker exit",
        clean,
        f"exit status {status} after {took:.1f} s (compose waits {STOP_GRACE_SECONDS} s), "
        f"no traceback in its log" + ("" if clean else f"; its log ends:\n{logs[-3000:]}"),
    )

    second = stack.start("worker-2", "worker")
    done = wait_for(
        "the campaign to finish",
        lambda: api.call("GET", f"/campaigns/{campaign}")["status"] == "done",
        240,
        step=1,
    )
    counters = api.call("GET", f"/campaigns/{campaign}")["counters"]
    others = {k: v for k, v in counters.items() if k not in ("sent", "total") and v}
    report.check(
        "campaign counters",
        counters.get("sent") == len(emails) and not others,
        f"{counters} ({done:.0f} s after the second worker started)",
    )
    check_mail(report, sink, emails)
    check_refusal_by_email(report, sink, inbound_port)
    check_not_root(report, [web, scheduler, second, inbound], args.image)
    check_no_compilers(report, stack)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--image", default="localhost/notifier:image-test")
    parser.add_argument(
        "--database",
        default="postgresql://postgres@127.0.0.1:5432/image_test",
        help="a PostgreSQL URL (the database is dropped and created), or sqlite: a file that "
        "every container shares through a volume",
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/1")
    parser.add_argument("--contacts", type=int, default=1500)
    parser.add_argument("--sink-delay", type=float, default=0.01, help="seconds per message")
    parser.add_argument("--skip-build", action="store_true", help="use the image as it is")
    args = parser.parse_args()
    report = Report()
    failure = ""
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)  # the container user reads the contact file below it
        containers_conf(workdir)
        try:
            run(args, report, workdir)
        except CheckFailed as exc:
            failure = str(exc)
        except Exception as exc:  # the summary below still says how far it got
            traceback.print_exc()
            failure = f"{type(exc).__name__}: {exc}"
        size = (
            image_size(args.image)
            if podman("image", "exists", args.image, check=False).returncode == 0
            else 0
        )
    print("\n== image test summary ==")
    for name, ok, detail in report.lines:
        print(f"{'PASS' if ok else 'FAIL'}  {name:36} {detail}")
    print(f"image {args.image}: {size / 1e6:.0f} MB")
    if failure:
        print(f"FAILED: {failure}")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
