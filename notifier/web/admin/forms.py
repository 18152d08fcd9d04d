"""The admin forms: Flask-WTF, so every one carries and checks a CSRF token."""

from __future__ import annotations

from collections.abc import Iterable

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from notifier.domain.profile import LOCALES


def choices(pairs: Iterable[tuple[str, str]]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


LOCALE_CHOICES = choices((code, code) for code in LOCALES)


class LoginForm(FlaskForm):
    email = EmailField(validators=[DataRequired(), Length(max=254)])
    password = PasswordField(validators=[DataRequired(), Length(max=200)])


class PasswordForm(FlaskForm):
    current = PasswordField(validators=[DataRequired(), Length(max=200)])
    new = PasswordField(validators=[DataRequired(), Length(max=200)])
    repeated = PasswordField(validators=[DataRequired(), Length(max=200)])


class LanguageForm(FlaskForm):
    lang = SelectField(choices=LOCALE_CHOICES)


class ActionForm(FlaskForm):
    """A bare button (pause, revoke, ...): only the CSRF token."""


class TemplateForm(FlaskForm):
    name = StringField(validators=[DataRequired(), Length(max=200)])
    kind = SelectField(choices=[])
    purpose_key = SelectField(choices=[])
    subject = StringField(validators=[DataRequired(), Length(max=500)])
    body_mjml = TextAreaField(validators=[DataRequired(), Length(max=200_000)])
    text = TextAreaField(validators=[Optional(), Length(max=100_000)])
    # The English variant: optional, as a whole (see notifier/domain/locales.py).
    en_subject = StringField(validators=[Optional(), Length(max=500)])
    en_body_mjml = TextAreaField(validators=[Optional(), Length(max=200_000)])
    en_text = TextAreaField(validators=[Optional(), Length(max=100_000)])
    sample_locale = SelectField(choices=LOCALE_CHOICES, default="vi")


class CampaignForm(FlaskForm):
    name = StringField(validators=[DataRequired(), Length(max=200)])
    kind = SelectField(choices=[])
    purpose_key = SelectField(choices=[])
    template_id = SelectField(choices=[])
    tags = StringField(validators=[Optional(), Length(max=500)])
    locale = SelectField(choices=choices([("", ""), *((c, c) for c in LOCALES)]), default="")
    time_zone = SelectField(choices=[])
    expiring_within_days = IntegerField(
        validators=[Optional(), NumberRange(min=1, max=366)], default=30
    )
    data = TextAreaField(validators=[Optional(), Length(max=20_000)])


class ScheduleForm(FlaskForm):
    when = SelectField(choices=choices([("now", "now"), ("later", "later")]), default="now")
    send_at = DateTimeLocalField(format="%Y-%m-%dT%H:%M", validators=[Optional()])
    # That wall-clock time in each recipient's own zone, rather than in the campaign's.
    recipient_zone = BooleanField()
    confirm = BooleanField(validators=[DataRequired()])


class TestSendForm(FlaskForm):
    to = EmailField(validators=[DataRequired(), Length(max=254)])


class ContactSearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    q = StringField(validators=[Optional(), Length(max=200)])
    purpose = SelectField(choices=[], validate_choice=False)
    status = SelectField(choices=[], validate_choice=False)
    tag = StringField(validators=[Optional(), Length(max=64)])


class RefusalForm(FlaskForm):
    purposes = SelectMultipleField(choices=[], validators=[DataRequired()])
    note = TextAreaField(validators=[Optional(), Length(max=1000)])


class ImportForm(FlaskForm):
    file = FileField(validators=[FileRequired()])


class ImportConfirmForm(FlaskForm):
    upload = HiddenField(validators=[DataRequired(), Length(max=64)])


class NoticeTypeForm(FlaskForm):
    key = StringField(validators=[DataRequired(), Length(max=64)])
    name = StringField(validators=[DataRequired(), Length(max=200)])
    purpose_key = SelectField(choices=[])
    template_id = SelectField(choices=[])


class ApiKeyForm(FlaskForm):
    name = StringField(validators=[DataRequired(), Length(max=200)])
    scopes = SelectMultipleField(choices=[], validators=[DataRequired()])


class StaffForm(FlaskForm):
    email = EmailField(validators=[DataRequired(), Length(max=254)])
    name = StringField(validators=[Optional(), Length(max=200)])
    role = SelectField(choices=[])


class OutcomeForm(FlaskForm):
    outcome = TextAreaField(validators=[Optional(), Length(max=2000)])


class QueueJobForm(FlaskForm):
    """Requeue or delete one failed RQ job; the service checks the id against the registries."""

    job_id = HiddenField(validators=[DataRequired(), Length(max=128)])


class QueueForm(FlaskForm):
    queue = HiddenField(validators=[DataRequired(), Length(max=64)])


class WebhookEndpointForm(FlaskForm):
    url = StringField(validators=[DataRequired(), Length(max=2000)])
    events = SelectMultipleField(choices=[], validators=[DataRequired()])
    description = StringField(validators=[Optional(), Length(max=200)])
