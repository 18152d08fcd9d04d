"""Services word problems in English; admin pages show them in the staff member's language."""

from __future__ import annotations

import re

from notifier.i18n import has_message, translate

# (English message as the services word it, catalogue key). Named groups carry the values the
# message quotes (a column, a time zone) into the translation unchanged.
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.DOTALL), key)
    for pattern, key in (
        (r"is required", "problem_required"),
        (r"is required when a consent column says yes.*", "problem_evidence_required"),
        (r"unknown field", "problem_unknown_field"),
        (r"unknown purpose(?: (?P<value>.+))?", "problem_unknown_purpose"),
        (r"(?:must be )?one of (?P<values>.+)", "problem_one_of"),
        (r"choose at least one purpose of the profile|tick at least one", "problem_no_purpose"),
        (
            r"(?:contains )?control characters or longer than (?P<n>\d+) characters",
            "problem_text_limit",
        ),
        (r"contains control characters or line breaks", "problem_control"),
        (r"is longer than (?P<n>\d+) characters", "problem_too_long"),
        (r"(?P<value>.+) is in the future", "problem_future"),
        (r"is in the past", "problem_past"),
        (r"is in the past in every time zone", "problem_past_everywhere"),
        (r"is required to send in each recipient's zone", "problem_local_wall_required"),
        (r"a local time is a wall-clock time, no offset", "problem_local_wall_offset"),
        (r"(?P<value>.+) is not an IPv4 or IPv6 address", "problem_ip"),
        (r"(?P<value>.+) is not an ISO 8601 time.*", "problem_iso_time"),
        (r"(?P<value>.+) is not yes or no.*", "problem_yes_no"),
        (r"(?P<value>.+) is not a date \(YYYY-MM-DD\)", "problem_date"),
        (r"unknown role (?P<value>.+); one of (?P<values>.+)", "problem_unknown_role"),
        (r"you cannot deactivate your own account", "problem_deactivate_self"),
        (r"unknown filters (?P<values>.+)", "problem_unknown_filters"),
        (r"unknown time zone (?P<value>.+)", "problem_time_zone"),
        (r"this local time does not exist in the time zone", "problem_local_time"),
        (r"needs a time zone offset", "problem_offset"),
        (r"needs (?P<low>\d+) to (?P<high>\d+) subjects", "problem_ab_variants"),
        (r"the subjects must differ", "problem_ab_differ"),
        (r"must be a whole number from (?P<low>\d+) to (?P<high>\d+)", "problem_whole_range"),
        (r"an A/B test is sent at one moment for everyone", "problem_ab_one_moment"),
        (r"no such template", "problem_no_template"),
        (r"needs a subject and a body, or nothing at all", "problem_variant_incomplete"),
        (r"the template is for purpose (?P<value>.+)", "problem_template_purpose"),
        (r"a renewal notice must use a service purpose", "problem_renewal_purpose"),
        (r"not valid JSON \((?P<detail>.+)\)", "problem_json"),
        (r"must be a JSON object", "problem_json_object"),
        (r"must be an object of names to values", "problem_json_object"),
        (r"use digits, spaces and \+ \( \) - only, 6 to 20 characters", "problem_phone"),
        (r"a national ID number has 9 or 12 digits", "problem_national_id"),
        (r"bad tag (?P<value>.+): letters, digits, \. _ - only, 64 at most", "problem_tag"),
        (r"the email address is empty", "problem_email_empty"),
        (r"the email address contains a line break or NUL character", "problem_control"),
        (r"the email address is longer than (?P<n>\d+) characters", "problem_too_long"),
        # email-validator's own sentences: say it in the page's language, keep its precise detail.
        (
            r"(?P<detail>(?:The|An|After) (?:email address|part|domain|@-sign).*)",
            "problem_email_invalid",
        ),
        (r"a staff member (?P<value>.+) exists already", "problem_staff_exists"),
        (r"line (?P<line>\d+) is not UTF-8 text.*", "problem_not_utf8"),
        (r"the file is empty or its first line is blank.*", "problem_empty_file"),
        (r"the file has a header row but no contacts", "problem_no_rows"),
        (r"columns appear more than once: (?P<values>.+)", "problem_twice"),
        (r"the header has no 'email' column \(found: (?P<values>.*)\)", "problem_no_email_column"),
        (r"unknown columns: (?P<values>.+?)\. Allowed: (?P<allowed>.+)", "problem_unknown_columns"),
        (r"line (?P<line>\d+): (?P<detail>.+)", "problem_csv_line"),
        (r"(?P<value>.+) is an internal address \((?P<address>.+)\)", "problem_internal_address"),
        (r"(?P<value>.+) does not resolve", "problem_no_resolve"),
        (r"must be an https:// URL", "problem_https_only"),
        (r"not a valid URL", "problem_url"),
        (r"must not hold a user name or password", "problem_url_credentials"),
        (r"choose at least one event", "problem_no_event"),
        (r"is disabled: enable it first", "problem_endpoint_disabled"),
        (r"must be a list of whole numbers of days.*", "problem_steps_numbers"),
        (r"needs at least one step", "problem_steps_empty"),
        (r"holds at most (?P<n>\d+) steps", "problem_steps_many"),
        (r"holds a day twice", "problem_steps_twice"),
        (r"each day must be from (?P<low>-?\d+) to (?P<high>-?\d+)", "problem_steps_range"),
        (r"must be a whole hour from 0 to 23", "problem_hour"),
        (
            r"this type's template needs data a reminder lacks: (?P<values>.+)",
            "problem_reminder_data",
        ),
        (r"a whole number of days from 1 to (?P<n>\d+)", "problem_segment_days"),
        (r"a whole number of campaigns from 1 to (?P<n>\d+)", "problem_segment_campaigns"),
        (r"empty \(any\) or one of (?P<values>.+)", "problem_segment_subscription_kind"),
        (
            r"at most (?P<n>\d+) days: older opens and clicks are kept only as daily counts "
            r"that name nobody",
            "problem_segment_retention",
        ),
    )
)


def problem_text(problem: str) -> str:
    """A catalogue key as is; a known English sentence translated; anything else unchanged."""
    if has_message(problem):
        return translate(problem)
    for pattern, key in PATTERNS:
        found = pattern.fullmatch(problem)
        if found:
            values = {name: value or "" for name, value in found.groupdict().items()}
            return translate(key, **values)
    return problem
