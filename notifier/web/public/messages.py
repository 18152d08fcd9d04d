"""Words the public pages show from Python: problems and form errors, as catalog msgids."""

from __future__ import annotations

from notifier.infra.translations import N_, gettext

# Each a title and a body, translated where the problem page shows them.
PROBLEMS: dict[str, dict[str, str]] = {
    "event_started": {
        "title": N_("Registration has closed"),
        "body": N_(
            "This event has already started, so registering or cancelling is no longer "
            "possible. Nothing was changed. Please contact us if you have a question."
        ),
    },
    "bad_link": {
        "title": N_("This link does not work"),
        "body": N_(
            "This link is wrong, was changed or can no longer be used. Nothing was changed. Open "
            "the link in our latest email again, or contact us."
        ),
    },
    "message_gone": {
        "title": N_("This message is no longer available"),
        "body": N_(
            "The personal data this message was made from has been erased, so it cannot be "
            "shown any more. Please contact us if you have a question."
        ),
    },
    "used_link": {
        "title": N_("This link was used already"),
        "body": N_(
            "To protect your data, a verification link works only once. Open your preferences "
            "page again and ask for a new link; we will send it to your email address."
        ),
    },
    "expired_link": {
        "title": N_("This link has expired"),
        "body": N_(
            "To protect your data, a verification link works for 30 minutes only. Nothing was "
            "changed. Open your preferences page again and ask for a new link."
        ),
    },
    "bad_request": {
        "title": N_("We could not read this request"),
        "body": N_("Nothing was changed. Go back to the previous page and try again."),
    },
    "conflict": {
        "title": N_("This address cannot be used"),
        "body": N_("Nothing was changed. Please contact us for help."),
    },
    "expired_form": {
        "title": N_("This form has expired"),
        "body": N_(
            "To protect you, forms work for a limited time. Nothing was changed. Reload the page "
            "and send it again."
        ),
    },
    "expired_refusal_link": {
        "title": N_("This link has expired"),
        "body": N_(
            "To protect you, confirmation links work for 7 days. Nothing was changed. Email our "
            "unsubscribe mailbox again, or use the unsubscribe link in our latest email."
        ),
    },
    "too_many": {
        "title": N_("Too many attempts"),
        "body": N_(
            "We received too many sign-ups in a short time. Please try again in a few minutes."
        ),
    },
}

FIELD_ERRORS: dict[str, str] = {
    "email": N_("This email address is not valid."),
    "name": N_("Names have at most 200 characters, one line."),
    "phone": N_("Phone numbers have 6 to 20 digits, with optional spaces and + ( ) -."),
    "address": N_("Addresses have at most 500 characters."),
    "national_id": N_("A national ID number has 9 or 12 digits."),
    "birth_date": N_("This is not a valid date."),
    "contact_person": N_("The contact person has at most 200 characters."),
    "organisation": N_("Organisation names have at most 200 characters."),
    "purposes": N_("Tick at least one kind of email you want."),
    "complaint": N_("Write your complaint (at most 4000 characters)."),
}
GENERIC_ERROR = N_("This value is not valid.")


def field_errors(errors: dict[str, str], locale: str) -> dict[str, str]:
    """Services speak English to developers; people read these."""
    return {f: gettext(locale, FIELD_ERRORS.get(f, GENERIC_ERROR)) for f in errors}
