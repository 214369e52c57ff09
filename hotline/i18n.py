"""The web pages in English or Spanish (Flask-Babel): each signed-in person sees them in
their account's language, chosen by themselves (the control in the page header) or by an
admin; before sign-in, the browser's Accept-Language picks. The catalogue is
``hotline/translations`` (``babel.cfg`` says what is extracted; docs/ARCHITECTURE.md,
"Web", how to update it). The phone IVR's words are not here: they are
``routing/prompts.py``, bilingual by themselves.

The scripts' words (``hotline/static/*.js``) come from the same catalogue: ``js_messages``
is rendered into the page's ``data-i18n`` attribute, since the page may run no inline
script.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, flash, redirect, request, url_for
from flask_babel import Babel, force_locale, get_locale, gettext
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from hotline import users
from hotline.services import get_redis

bp = Blueprint("i18n", __name__)

#: Languages of the pages, each named in itself (what the header's control offers).
LANGUAGE_CHOICES = {"en": "English", "es": "Español"}


def N_(message: str) -> str:
    """Mark a message for the catalogue without translating it (translated where shown)."""
    return message


#: Words the domain (``routing/``, which imports no Flask) and the audit log hand the pages
#: in English: labels, break reasons, refusals and advice. They are marked here so the
#: catalogue has them, and the pages translate them where they are shown (``translated``;
#: a message not listed, such as one naming a counselor, is shown as it is).
#: tests/test_i18n.py checks that every label, break reason and advice is listed.
DOMAIN_WORDS = (
    # routing.dispositions.LABELS
    N_("Admitted to intake"),
    N_("Referred elsewhere"),
    N_("Information only"),
    N_("Wrong number"),
    N_("Asked not to be called"),
    N_("Call back at a chosen time"),
    # routing.supervision.BREAK_REASONS
    N_("Break"),
    N_("Meal"),
    N_("Training"),
    N_("Meeting"),
    # Refusals of routing.supervision, routing.dispositions and routing.history
    N_("There is no such callback."),
    N_("This callback is no longer waiting (a counselor may have it)."),
    N_("The queue changed; try again."),
    N_("Give a reason for removing the callback."),
    N_("A counselor is calling this person now; it cannot be removed."),
    N_("This callback is no longer waiting."),
    N_("There is no such counselor."),
    N_("phone: not a valid phone number"),
    N_("Choose how the call ended."),
    N_("Choose when to call back."),
    N_("Choose a call-back time at least 5 minutes from now."),
    N_("Choose a call-back time within 30 days."),
    N_("Only a call that connected can be scheduled for a call back."),
    N_("This call already has a disposition."),
    N_("This callback has already moved on; it was not rescheduled."),
    N_("dates must look like 2024-05-31"),
    N_("the last day is before the first day"),
    N_("status: not a status a callback can have"),
    N_("disposition: not a disposition"),
    N_("last four digits: give exactly four digits"),
    N_("the last day is in the future"),
    # routing.twilio_errors.WHAT_TO_DO (the dashboard's banner)
    N_("Check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN."),
    N_("The Twilio account is not active: contact Twilio or the account owner."),
    N_("Verify the callback caller ID in Twilio, or set a number the account owns."),
    N_("The callback caller ID is not a valid number: check HOTLINE_NUMBER."),
    N_("No callback caller ID is set: check HOTLINE_NUMBER."),
    N_("Enable the destination country in Twilio's voice geographic permissions."),
    N_("A trial account may call verified numbers only: upgrade the account."),
    N_("The callback caller ID is rejected: check HOTLINE_NUMBER."),
    # hotline.users (an admin's refusals)
    N_("username: 2-40 characters, letters, digits, dot, dash or underscore"),
    N_("counselor_id: a counselor's account must be linked to a counselor"),
    N_("no such user"),
    # hotline.audit.who_name
    N_("API token"),
    N_("Hotline (automatic)"),
)


def select_locale() -> str:
    """The signed-in user's language; before sign-in, the browser's best match."""
    if current_user and current_user.is_authenticated:
        language = getattr(current_user, "language", "")
        if language in users.UI_LANGUAGES:
            return str(language)
    return request.accept_languages.best_match(
        users.UI_LANGUAGES, default=users.DEFAULT_UI_LANGUAGE
    )


def ui_language() -> str:
    """The language of the page being rendered ("en" or "es")."""
    locale = get_locale()
    return locale.language if locale is not None else users.DEFAULT_UI_LANGUAGE


#: Messages of the domain with a value in them (a name, a number): the pattern that reads
#: the values back out of the English, and the catalogue's message that says it again.
#: tests/test_i18n.py makes each message through the domain, so a changed wording fails.
DOMAIN_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), message)
    for pattern, message in (
        (
            r"(?P<name>.+) is on a call or being dialed; try again when the call ends\.",
            N_("%(name)s is on a call or being dialed; try again when the call ends."),
        ),
        (
            r"Keep the note under (?P<n>\d+) characters\.",
            N_("Keep the note under %(n)s characters."),
        ),
        (r"choose at most (?P<n>\d+) days", N_("choose at most %(n)s days")),
        (r"put offline by (?P<name>.+)", N_("put offline by %(name)s")),
        (r"missed (?P<n>\d+) offers in a row", N_("missed %(n)s offers in a row")),
        (
            r"phone: (?P<name>.+) \((?P<id>[^()]+)\) already has this number",
            N_("phone: %(name)s (%(id)s) already has this number"),
        ),
        (r"name: 1-(?P<n>\d+) characters", N_("name: 1-%(n)s characters")),
        (
            r"languages: at least one of (?P<choices>.+)",
            N_("languages: at least one of %(choices)s"),
        ),
        (r"password: at least (?P<n>\d+) characters", N_("password: at least %(n)s characters")),
        (
            r"username: '(?P<name>[^']+)' is already taken",
            N_("username: '%(name)s' is already taken"),
        ),
        (r"role: one of (?P<choices>.+)", N_("role: one of %(choices)s")),
        (r"language: one of (?P<choices>.+)", N_("language: one of %(choices)s")),
    )
)


def translated(message: Any) -> str:
    """A message from the domain in the page's language: a word of DOMAIN_WORDS, or one
    of DOMAIN_PATTERNS with its values; anything else as it is."""
    text = str(message)
    if not text:
        return text
    said = gettext(text)
    if said != text:
        return said
    for pattern, catalogued in DOMAIN_PATTERNS:
        found = pattern.fullmatch(text)
        if found:
            return gettext(catalogued, **found.groupdict())
    return text


def js_messages() -> dict[str, str]:
    """The words of hotline/static/*.js, in the page's language (``%(name)s`` is filled in
    by the script)."""
    return {
        "live": gettext("Live"),
        "connection_lost": gettext("Connection lost: retrying…"),
        "updated": gettext("updated %(time)s"),
        "notification_title": gettext("Hotline: callback %(id)s"),
        "notification_body": gettext("Your phone is ringing: answer and press 1 to accept."),
        "title_ringing": gettext("(1) Callback ringing · %(title)s"),
    }


@bp.post("/language")
@login_required
def change_language() -> Response:
    """The signed-in user's own choice of language (a POST with the CSRF token); back to
    the page they were on."""
    from hotline.auth import safe_next

    wanted = request.form.get("language", "")
    try:
        users.set_language(get_redis(), current_user.id, wanted)
    except users.UserError:
        flash(gettext("Choose English or Spanish."), "error")
    else:
        with force_locale(wanted):  # said in the language just chosen
            flash(gettext("The pages are now shown in the language you chose."), "success")
    return redirect(safe_next(request.form.get("next")) or url_for("auth.root"))


def init_i18n(app: Flask) -> None:
    """Flask-Babel with the per-user locale, trimmed {% trans %} blocks (as babel.cfg
    extracts them), and the page language for every template."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", users.DEFAULT_UI_LANGUAGE)
    Babel(app, locale_selector=select_locale)
    app.jinja_env.policies["ext.i18n.trimmed"] = True

    @app.context_processor
    def languages() -> dict[str, Any]:
        return {
            "ui_language": ui_language,
            "LANGUAGE_CHOICES": LANGUAGE_CHOICES,
            "js_messages": js_messages,
            "translated": translated,
        }
