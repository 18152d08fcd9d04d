"""Demo data for the active profile: contacts with real consent histories, and sample templates."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from notifier.contacts.consent_ledger import (
    Evidence,
    append_grant,
    append_request,
    append_withdrawals,
)
from notifier.contacts.contacts import find_by_email, stage_contact
from notifier.delivery.rendering.layouts import builtin_layouts
from notifier.domain.profile import Purpose
from notifier.infra.context import profile
from notifier.infra.extensions import db
from notifier.models import (
    ConsentSource,
    ConsentState,
    Contact,
    StaffUser,
    Suppression,
    SuppressionReason,
    Template,
    TemplateVersion,
    utcnow,
)
from notifier.operations.staff import create_staff

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148 Safari/604.1"


class Story(StrEnum):
    """How a demo contact's consent came about; together they cover every state."""

    WEB_ALL = "web_all"  # web form, every advertising purpose
    WEB_FIRST = "web_first"  # web form, the first advertising purpose only
    HOTLINE = "hotline"  # told the hotline; the admin recorded it
    PENDING = "pending"  # signed up, has not clicked the confirmation link yet
    WITHDRAWN = "withdrawn"  # granted, later one-click unsubscribed from one purpose
    WITHDRAWN_ALL = "withdrawn_all"  # granted by phone, later refused everything by email
    OBJECTED = "objected"  # refused service mail by phone
    NEVER = "never"  # silence is not consent


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    phone: str
    address: str
    story: Story
    locale: str = "vi"
    contact_person: str = ""  # set for a company: the person who deals with us

    @property
    def organisation(self) -> str:
        return self.name if self.contact_person else ""


# email|name|phone|address|story|locale|contact person (companies only); a leading | continues
PEOPLE_TABLE = """
lan.nguyen@example.com|Nguyễn Thị Lan|0909 555 101|12 Trần Quốc Thảo, Quận 3, TP. HCM|web_all
minh.tran@example.com|Trần Văn Minh|0912 555 102|45 Trần Thái Tông, Cầu Giấy, Hà Nội|web_first
hoanganh.le@example.net|Lê Hoàng Anh|0935 555 103|88 Bạch Đằng, Hải Châu, Đà Nẵng|hotline
trang.pham@example.com|Phạm Thu Trang|0939 555 104|21 Hòa Bình, Ninh Kiều, Cần Thơ|pending
thang.hoang@example.org|Hoàng Đức Thắng|0904 555 105|7 Lạch Tray, Lê Chân, Hải Phòng|withdrawn
mai.vu@example.com|Vũ Ngọc Mai|0908 555 106|3 Võ Văn Ngân, TP. Thủ Đức, TP. HCM|never
bao.dang@example.net|Đặng Quốc Bảo|0918 555 107|150 Phạm Văn Thuận, Biên Hòa, Đồng Nai|web_all
nhung.bui@example.com|Bùi Thị Hồng Nhung|0983 555 108|66 Tây Sơn, Đống Đa, Hà Nội|hotline
khoi.do@example.com|Đỗ Minh Khôi|0977 555 109|9 Yersin, Thủ Dầu Một, Bình Dương|withdrawn_all
huong.ngo@example.org|Ngô Thanh Hương|0914 555 110|25 Lê Lợi, TP. Huế|web_first
tai.duong@example.com|Dương Văn Tài|0905 555 111|40 Trần Phú, Nha Trang, Khánh Hòa|pending
ngan.ly@example.net|Lý Thị Kim Ngân|0938 555 112|201 Trần Hưng Đạo, Quận 5, TP. HCM|web_all
huy.phan@example.com|Phan Gia Huy|0916 555 113|18 Quang Trung, Vinh, Nghệ An|objected
ngoc.trinh@example.com|Trịnh Bảo Ngọc|0936 555 114|5 Hạ Long, Bãi Cháy, Quảng Ninh|hotline
phuc.mai@example.org|Mai Xuân Phúc|0962 555 115|102 Lê Duẩn, Buôn Ma Thuột, Đắk Lắk|never
linh.chau@example.com|Châu Mỹ Linh|0919 555 116|14 Hai Bà Trưng, Long Xuyên, An Giang|withdrawn
vinh.ta@example.net|Tạ Quang Vinh|0903 555 117|30 Hàng Bài, Hoàn Kiếm, Hà Nội|web_first
tam.ho@example.com|Hồ Thị Thanh Tâm|0944 555 118|77 Xuân Diệu, Quy Nhơn, Bình Định|web_all
thanh.lam@example.com|Lâm Chí Thanh|0907 555 119|283 Ba Tháng Hai, Quận 10, TP. HCM|pending
yen.vo@example.org|Võ Thị Yến|0973 555 120|52 Ấp Bắc, Mỹ Tho, Tiền Giang|hotline
lienhe@kientrucxanh.example.com|Công ty TNHH Kiến Trúc Xanh|028 5555 0121
 |10 Nguyễn Huệ, Quận 1, TP. HCM|web_all|vi|Kiều Anh Tuấn
muahang@saoviet.example.net|Công ty CP Thương mại Sao Việt|024 5555 0122
 |35 Láng Hạ, Đống Đa, Hà Nội|withdrawn_all|vi|Nguyễn Văn Hùng
john.miller@example.com|John Miller|+84 909 555 123|5 Lê Duẩn, District 1, HCMC|web_first|en
sarah.nguyen@example.net|Sarah Nguyen|+84 912 555 124|19 Xuân Diệu, Tây Hồ, Hanoi|web_all|en
kenji.tanaka@example.org|Kenji Tanaka|+84 903 555 125|8 Nguyễn Văn Linh, Quận 7, HCMC|never|en
"""


def _people(table: str) -> tuple[Person, ...]:
    rows = re.sub(r"\n\s+\|", "|", table.strip()).splitlines()
    people = []
    for row in rows:
        email, name, phone, address, story, *rest = (cell.strip() for cell in row.split("|"))
        locale, contact_person = [*rest, "", ""][:2]
        people.append(
            Person(email, name, phone, address, Story(story), locale or "vi", contact_person)
        )
    return tuple(people)


PEOPLE = _people(PEOPLE_TABLE)
# A hard bounce put this address on the suppression list: it stays there whatever its consent says.
BOUNCED = "ngan.ly@example.net"


@dataclass(frozen=True)
class Extras:
    """What a profile adds to a person: tags, attributes, references, contract dates."""

    tags: list[str]
    attributes: dict[str, Any]
    external_ref: str | None = None
    contract_ends_on: date | None = None
    deal: dict[str, Any] = field(default_factory=dict)


def _dcnet_extras(index: int, person: Person, today: date) -> Extras:
    plans = [
        "Hosting Business",
        "Tên miền .vn",
        "VPS Cloud 4 GB",
        "Email doanh nghiệp",
        "Máy chủ riêng",
    ]
    plan = plans[index % len(plans)]
    # One customer whose last contract ended: service mail to them has no basis any more.
    ended = person.email == "phuc.mai@example.org"
    # Renewals spread over the coming year, so renewal notices have something to announce.
    ends = today - timedelta(days=40) if ended else today + timedelta(days=30 + index * 37 % 330)
    tags = ["khach-hang", _slug(plan)] + (["doanh-nghiep"] if person.organisation else [])
    return Extras(
        tags=[*tags, "het-hop-dong"] if ended else tags,
        attributes={"goi_dich_vu": plan, "chi_nhanh": _branch(person.address)},
        external_ref=f"KH-2023-{1001 + index:05d}",
        contract_ends_on=ends,
    )


def _garden_extras(index: int, person: Person, today: date) -> Extras:
    interests = ["Cây văn phòng", "Bonsai", "Sân vườn", "Cây phong thủy", "Tiểu cảnh"]
    interest = interests[index % len(interests)]
    project = bool(person.organisation)
    return Extras(
        tags=["khach-le" if not project else "du-an", _slug(interest)],
        attributes={
            "quan_tam": interest,
            "kenh_biet_den": ["Facebook", "Website", "Giới thiệu"][index % 3],
        },
        deal={"du_an": "Cảnh quan sảnh văn phòng", "chi_phi_du_an": 185_000_000} if project else {},
    )


EXTRAS: dict[str, Callable[[int, Person, date], Extras]] = {
    "dcnet": _dcnet_extras,
    "caycanhhoanggia": _garden_extras,
}


def _slug(text: str) -> str:
    folded = text.lower().replace("đ", "d").replace(" ", "-").replace(".", "")
    return "".join(c for c in unicodedata.normalize("NFD", folded) if not unicodedata.combining(c))


def _branch(address: str) -> str:
    return "Hà Nội" if "Hà Nội" in address or "Hanoi" in address else "TP. Hồ Chí Minh"


def admin_email() -> str:
    """admin@ the sender's own domain, so the demo admin looks like one of the company's staff."""
    domain = profile().identity.email.partition("@")[2]
    return f"admin@{domain or 'example.com'}"


def admin_account() -> StaffUser:
    """The admin who records hotline consents; created with a password nobody has seen yet."""
    user = db.session.scalar(db.select(StaffUser).where(StaffUser.email == admin_email()))
    if user is None:
        user, _ = create_staff(admin_email(), "admin", name="Quản trị viên")
    return user


@dataclass(frozen=True)
class Slots:
    """The profile's purposes by role in a story: advertising ones first, then service ones."""

    ads: list[Purpose]
    service: list[Purpose]


def _slots() -> Slots:
    purposes = profile().purposes
    return Slots(
        ads=[p for p in purposes if p.is_advertising],
        service=[p for p in purposes if not p.is_advertising],
    )


class Recorder:
    """Builds the Evidence each channel really produces and appends it through the services."""

    def __init__(self, contact: Contact, person: Person, staff_id: int, index: int) -> None:
        self.contact, self.person, self.staff_id = contact, person, staff_id
        self.ip = f"203.0.113.{10 + index}"
        self.now = utcnow()

    def web(self, purposes: list[Purpose], days_ago: int, pending: bool = False) -> None:
        for purpose in purposes:
            evidence = Evidence(
                source=ConsentSource.WEB_FORM,
                occurred_at=self.now - timedelta(days=days_ago, minutes=3),
                notice_version=purpose.notice_version,
                locale=self.person.locale,
                ip=self.ip,
                user_agent=PHONE_UA if days_ago % 2 else BROWSER,
                reference="form:dang-ky-nhan-tin",
            )
            append = append_request if pending else append_grant
            append(self.contact, purpose.key, evidence)

    def hotline(self, purposes: list[Purpose], days_ago: int) -> None:
        for purpose in purposes:
            evidence = Evidence(
                source=ConsentSource.HOTLINE,
                occurred_at=self.now - timedelta(days=days_ago, hours=2),
                notice_version=purpose.notice_version,
                locale=self.person.locale,
                staff_id=self.staff_id,
                reference=f"call:{profile().identity.phone}:{days_ago}",
                extra={"note": "Khách hàng đồng ý qua điện thoại sau khi nghe đọc nội dung"},
            )
            append_grant(self.contact, purpose.key, evidence)

    def refuse(self, purposes: list[Purpose], days_ago: int, source: ConsentSource) -> None:
        by_phone = source is ConsentSource.PHONE
        evidence = Evidence(
            source=source,
            occurred_at=self.now - timedelta(days=days_ago),
            locale=self.person.locale,
            ip=None if by_phone else self.ip,
            staff_id=self.staff_id if by_phone else None,
        )
        append_withdrawals(self.contact, [p.key for p in purposes], evidence)


def _tell(story: Story, recorder: Recorder, slots: Slots) -> None:
    first, ads, objectable = slots.ads[:1], slots.ads, slots.service[-1:]
    if story is Story.WEB_ALL:
        recorder.web(ads, days_ago=60)
    elif story is Story.WEB_FIRST:
        recorder.web(first, days_ago=30)
    elif story is Story.HOTLINE:
        recorder.hotline(ads[:2], days_ago=20)
    elif story is Story.PENDING:
        recorder.web(first, days_ago=1, pending=True)
    elif story is Story.WITHDRAWN:
        recorder.web(ads, days_ago=200)
        recorder.refuse(first, days_ago=15, source=ConsentSource.ONE_CLICK)
    elif story is Story.WITHDRAWN_ALL:
        recorder.hotline(first, days_ago=90)
        recorder.refuse(ads + objectable, days_ago=5, source=ConsentSource.EMAIL)
    elif story is Story.OBJECTED:
        recorder.web(first, days_ago=45)
        recorder.refuse(objectable, days_ago=7, source=ConsentSource.PHONE)


def _contact_fields(person: Person, extras: Extras) -> dict[str, Any]:
    return {
        "email": person.email,
        "name": person.name,
        "phone": person.phone,
        "address": person.address,
        "organisation": person.organisation,
        "contact_person": person.contact_person,
        "locale": person.locale,
        "tags": extras.tags,
        "attributes": extras.attributes,
        "deal": extras.deal,
        "external_ref": extras.external_ref,
        "contract_ends_on": extras.contract_ends_on,
    }


def _load_person(index: int, person: Person, slots: Slots, staff_id: int) -> None:
    """Staged whole: a contact never exists without its whole history (one unit of work)."""
    # Any other profile gets the plain retail extras: tags and interests, no contracts.
    extras = EXTRAS.get(profile().key, _garden_extras)(index, person, utcnow().date())
    contact, _ = stage_contact(_contact_fields(person, extras))
    _tell(person.story, Recorder(contact, person, staff_id, index), slots)
    if person.email == BOUNCED:
        db.session.add(
            Suppression(
                address_hash=contact.address_hash,
                scope="all",
                reason=SuppressionReason.HARD_BOUNCE.value,
                evidence={"smtp_code": 550, "smtp_message": "5.1.1 mailbox does not exist"},
            )
        )
    db.session.flush()


def _layout_for(purpose: Purpose) -> str:
    if not purpose.is_advertising:
        return "renewal"
    return "event" if "event" in purpose.key else "promotion"


def _load_template(purpose: Purpose, staff_id: int) -> bool:
    """A starting template per purpose, copied from its built-in layout; False if it exists."""
    name = f"Mẫu: {purpose.name.vi}"
    if db.session.scalar(db.select(Template.id).where(Template.name == name)) is not None:
        return False
    layout = builtin_layouts()[_layout_for(purpose)]
    template = Template(
        name=name, kind=layout.key, purpose_key=purpose.key, version=1, created_by=staff_id
    )
    template.set_sources(layout.variants)
    db.session.add(template)
    db.session.flush()
    kept = TemplateVersion(template_id=template.id, version=1, saved_by=staff_id)
    kept.set_sources(layout.variants)
    db.session.add(kept)
    db.session.flush()
    return True


def load_demo() -> str:
    """Load the demo for the active profile; people and templates already there are left alone."""
    staff_id = admin_account().id
    slots = _slots()
    new_people = 0
    for index, person in enumerate(PEOPLE):
        if find_by_email(person.email) is None:
            _load_person(index, person, slots, staff_id)
            new_people += 1
    new_templates = sum(_load_template(purpose, staff_id) for purpose in profile().purposes)
    return _summary(new_people, new_templates)


def _summary(new_people: int, new_templates: int) -> str:
    counts = db.session.execute(
        db.select(ConsentState.status, db.func.count()).group_by(ConsentState.status)
    ).all()
    states = ", ".join(f"{status} {count}" for status, count in sorted(counts))
    return (
        f"demo for {profile().name}: {len(PEOPLE)} contacts ({new_people} new), "
        f"{len(profile().purposes)} templates ({new_templates} new); consent states: {states}"
    )
