"""Words the public pages show from Python: problems and form errors, Vietnamese then English."""

from __future__ import annotations

from notifier.domain.profile import Localized

PROBLEMS: dict[str, dict[str, Localized]] = {
    "bad_link": {
        "title": Localized("Liên kết không hợp lệ", "This link does not work"),
        "body": Localized(
            "Liên kết này không đúng, đã bị thay đổi hoặc không còn dùng được. Không có thay đổi "
            "nào được thực hiện. Hãy mở lại liên kết trong email gần nhất, hoặc liên hệ chúng tôi.",
            "This link is wrong, was changed or can no longer be used. Nothing was changed. Open "
            "the link in our latest email again, or contact us.",
        ),
    },
    "bad_request": {
        "title": Localized("Yêu cầu không hợp lệ", "We could not read this request"),
        "body": Localized(
            "Không có thay đổi nào được thực hiện. Hãy quay lại trang trước và thử lại.",
            "Nothing was changed. Go back to the previous page and try again.",
        ),
    },
    "conflict": {
        "title": Localized("Không thể dùng địa chỉ này", "This address cannot be used"),
        "body": Localized(
            "Không có thay đổi nào được thực hiện. Vui lòng liên hệ chúng tôi để được hỗ trợ.",
            "Nothing was changed. Please contact us for help.",
        ),
    },
    "expired_form": {
        "title": Localized("Biểu mẫu đã hết hạn", "This form has expired"),
        "body": Localized(
            "Để bảo vệ bạn, biểu mẫu chỉ dùng được trong một thời gian. Không có thay đổi nào "
            "được thực hiện. Hãy tải lại trang và gửi lại.",
            "To protect you, forms work for a limited time. Nothing was changed. Reload the page "
            "and send it again.",
        ),
    },
    "too_many": {
        "title": Localized("Quá nhiều yêu cầu", "Too many attempts"),
        "body": Localized(
            "Chúng tôi đã nhận quá nhiều yêu cầu đăng ký trong thời gian ngắn. Vui lòng thử lại "
            "sau ít phút.",
            "We received too many sign-ups in a short time. Please try again in a few minutes.",
        ),
    },
}

FIELD_ERRORS: dict[str, Localized] = {
    "email": Localized("Địa chỉ email không hợp lệ.", "This email address is not valid."),
    "name": Localized(
        "Họ tên tối đa 200 ký tự, không xuống dòng.", "Names have at most 200 characters, one line."
    ),
    "phone": Localized(
        "Số điện thoại gồm 6 đến 20 chữ số, có thể có dấu cách và + ( ) -.",
        "Phone numbers have 6 to 20 digits, with optional spaces and + ( ) -.",
    ),
    "address": Localized(
        "Địa chỉ tối đa 500 ký tự, không xuống dòng.", "Addresses have at most 500 characters."
    ),
    "national_id": Localized(
        "Số CMND có 9 chữ số, số CCCD có 12 chữ số.",
        "A national ID number has 9 or 12 digits.",
    ),
    "birth_date": Localized("Ngày sinh không hợp lệ.", "This is not a valid date."),
    "contact_person": Localized(
        "Người liên hệ tối đa 200 ký tự.", "The contact person has at most 200 characters."
    ),
    "organisation": Localized(
        "Tên tổ chức tối đa 200 ký tự.", "Organisation names have at most 200 characters."
    ),
    "purposes": Localized(
        "Hãy chọn ít nhất một loại email bạn muốn nhận.",
        "Tick at least one kind of email you want.",
    ),
    "complaint": Localized(
        "Hãy nhập nội dung khiếu nại (tối đa 4000 ký tự).",
        "Write your complaint (at most 4000 characters).",
    ),
}
GENERIC_ERROR = Localized("Giá trị không hợp lệ.", "This value is not valid.")


def field_errors(errors: dict[str, str], locale: str) -> dict[str, str]:
    """Services speak English to developers; people read these."""
    return {f: FIELD_ERRORS.get(f, GENERIC_ERROR).get(locale) for f in errors}
