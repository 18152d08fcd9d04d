"""Per-message cost of MIME assembly and DKIM signing, ours against the stdlib and dkimpy.

Run by hand: .venv/bin/python bench/message_build.py [--smtp]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from notifier.mail.dkim import DkimSigner
from notifier.mail.message import MessageBuilder
from notifier.mail.smtp import Transport

SUBJECT = "[QC] Ưu đãi tháng 6: giảm 50% cho dịch vụ hosting và tên miền, anh Nguyễn Văn A"
PARAGRAPH = "Kính gửi quý khách, DCNET xin gửi tới quý khách chương trình ưu đãi đặc biệt. "
TEXT = (PARAGRAPH + "\n") * 20
HTML = "<html><body>" + ("<p style='margin:0 0 12px'>" + PARAGRAPH + "</p>") * 60 + "</body></html>"
URL = "https://notifier.dcnet.vn/u/AQFwcm9tb3Rpb25zXyt4Fv2Q"
MAILTO = "mailto:unsubscribe+AQFwcm9tb3Rpb25z@dcnet.vn"


def per_call(function: Callable[[], object], seconds: float = 1.0) -> float:
    """Return microseconds per call, run for about `seconds` after a warm-up."""
    function()
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        function()
        count += 1
    return elapsed / count * 1e6


def email_message() -> bytes:
    message = EmailMessage()
    message["From"] = formataddr(("Công ty DCNET", "news@dcnet.vn"))
    message["To"] = formataddr(("Nguyễn Văn A", "khach@example.com"))
    message["Subject"] = SUBJECT
    message["Date"] = formatdate()
    message["Message-ID"] = make_msgid(domain="dcnet.vn")
    message["List-Unsubscribe"] = f"<{URL}>, <{MAILTO}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["List-Id"] = "Khuyến mãi <promotions.dcnet.vn>"
    message.set_content(TEXT)
    message.add_alternative(HTML, subtype="html")
    return message.as_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smtp", action="store_true", help="also time sends to a local aiosmtpd")
    args = parser.parse_args()
    builder = MessageBuilder(
        from_address="news@dcnet.vn",
        from_name="Công ty DCNET",
        list_id="promotions.dcnet.vn",
        list_name="Khuyến mãi",
    )

    def ours() -> bytes:
        return builder.build(
            to="khach@example.com",
            to_name="Nguyễn Văn A",
            subject=SUBJECT,
            text=TEXT,
            html=HTML,
            unsubscribe_url=URL,
            unsubscribe_mailto=MAILTO,
            message_key="d123456",
        )

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    signer = DkimSigner(pem, domain="dcnet.vn", selector="s1")
    data = ours()
    print(f"message: {len(data)} bytes, cpu count {os.cpu_count()}")
    stdlib_us, ours_us = per_call(email_message), per_call(ours)
    print(
        f"assembly  EmailMessage {stdlib_us:8.1f} us   ours {ours_us:6.1f} us   "
        f"x{stdlib_us / ours_us:.1f}"
    )
    dkimpy_us = per_call(lambda: dkim.sign(data, b"s1", b"dcnet.vn", pem), seconds=2.0)
    signer_us = per_call(lambda: signer.sign(data), seconds=2.0)
    print(
        f"signing   dkimpy       {dkimpy_us:8.1f} us   ours {signer_us:6.1f} us   "
        f"x{dkimpy_us / signer_us:.1f}"
    )
    total = ours_us + signer_us
    print(f"assemble+sign {total:.1f} us -> {1e6 / total:.0f} msgs/s per core before render/SMTP")
    if args.smtp:
        print(f"smtp send over one connection: {smtp_us(signer.sign(data)):.1f} us/msg")


def smtp_us(data: bytes, count: int = 2000) -> float:
    """Time sends to an in-process aiosmtpd sink (it shares this process's GIL: pessimistic)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    controller = Controller(Sink(), hostname="127.0.0.1", port=8925)
    controller.start()
    try:
        with Transport.from_url("smtp://127.0.0.1:8925") as transport:
            transport.send("bounce@dcnet.vn", "khach@example.com", data)
            start = time.perf_counter()
            for _ in range(count):
                transport.send("bounce@dcnet.vn", "khach@example.com", data)
            return (time.perf_counter() - start) / count * 1e6
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
