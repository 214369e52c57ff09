"""Admin pages: user accounts (roles, links to counselors, passwords, switching off) and
counselors (add; editing is the dashboard's counselor form)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from hotline import audit, users
from hotline.auth import admin_required
from hotline.dashboard import STATE_NAMES
from hotline.i18n import LANGUAGE_CHOICES, translated
from hotline.services import get_redis, get_settings
from routing import counselors as cs
from routing import retention, supervision
from routing.counselors import CounselorError, create_counselor, get_counselor, list_counselors
from routing.leads import INSURANCE, LANGUAGES
from routing.phones import InvalidNumber, parse_number

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.errorhandler(404)
def not_found(_exc: Exception) -> Any:
    """A missing callback, counselor or account, said plainly on a page of ours."""
    return render_template(
        "error.html", code=404, message=gettext("There is no such callback, counselor or account.")
    ), 404


#: Counselors shown on one page of the admin's list.
COUNSELORS_PER_PAGE = 20


def counselor_rows(
    everyone: list[cs.Counselor], query: str, page: int, per_page: int = COUNSELORS_PER_PAGE
) -> tuple[list[dict[str, Any]], int, int]:
    """The admin's counselor table: those matching ``query`` (name, id, language or
    insurance, any case), one page of them with masked numbers; (rows, page, pages)."""
    words = query.lower().split()

    def matches(c: cs.Counselor) -> bool:
        text = " ".join((c.name, c.id, *c.languages, *c.insurance, c.status)).lower()
        return all(w in text for w in words)

    found = [c for c in everyone if matches(c)]
    pages = max(1, -(-len(found) // per_page))
    page = min(max(1, page), pages)
    rows = [
        {**c.public(), "shown_state": supervision.shown_state(c)}
        for c in found[(page - 1) * per_page : page * per_page]
    ]
    return rows, page, pages


def _page(**extra: Any) -> Any:
    r = get_redis()
    everyone = list_counselors(r)
    query = request.args.get("q", "").strip()
    try:
        wanted_page = int(request.args.get("page", "1"))
    except ValueError:
        wanted_page = 1
    rows, page, pages = counselor_rows(everyone, query, wanted_page)
    context = {
        "users": users.all_users(r),
        "counselors": everyone,
        "counselor_rows": rows,
        "counselor_query": query,
        "counselor_page": page,
        "counselor_pages": pages,
        "counselor_names": {c.id: c.name for c in everyone},
        "roles": users.ROLES,
        "languages": LANGUAGES,
        "insurance": INSURANCE,
        "user_form": {
            "username": "",
            "role": "counselor",
            "counselor_id": "",
            "language": users.DEFAULT_UI_LANGUAGE,
        },
        "language_choices": LANGUAGE_CHOICES,
        "form": {"name": "", "phone": "", "languages": ["en"], "insurance": []},
        "user_error": None,
        "counselor_error": None,
        "min_password": users.MIN_PASSWORD_LENGTH,
        "retention": retention.last_run(r),
        "retention_days": get_settings().retention_days,
        "audit_retention_days": get_settings().audit_retention_days,
    }
    context.update(extra)
    return render_template("admin.html", **context)


@bp.get("/")
@admin_required
def index() -> Any:
    """Users and counselors."""
    return _page()


@bp.post("/users")
@admin_required
def add_user() -> Any:
    """Create an account."""
    form = {
        "username": request.form.get("username", ""),
        "role": request.form.get("role", ""),
        "counselor_id": request.form.get("counselor_id", ""),
        "language": request.form.get("language") or users.DEFAULT_UI_LANGUAGE,
    }
    r = get_redis()
    if form["counselor_id"] and get_counselor(r, form["counselor_id"]) is None:
        return _page(user_form=form, user_error=gettext("counselor_id: no such counselor")), 400
    try:
        user = users.create_user(
            r,
            form["username"],
            request.form.get("password", ""),
            form["role"],
            counselor_id=form["counselor_id"],
            language=form["language"],
        )
    except users.UserError as exc:
        return _page(user_form=form, user_error=translated(exc)), 400
    flash(gettext("Account %(name)s created.", name=user.username), "success")
    return redirect(url_for("admin.index"))


@bp.post("/users/<user_id>")
@admin_required
def change_user(user_id: str) -> Any:
    """Change a role, the counselor link or the password, or switch an account on or off."""
    r = get_redis()
    user = users.get_user(r, user_id)
    if user is None:
        abort(404)
    role = request.form.get("role") or None
    active = {"1": True, "0": False}.get(request.form.get("active", ""))
    password = request.form.get("password") or None
    language = request.form.get("language") or None
    demoting_last_admin = (
        user.role == users.Role.ADMIN.value
        and ((role and role != user.role) or active is False)
        and users.count_admins(r) <= 1
    )
    if demoting_last_admin:
        return _page(user_error=gettext("The last admin cannot be demoted or switched off.")), 400
    if user.id == current_user.id and active is False:
        return _page(user_error=gettext("You cannot switch off your own account.")), 400
    try:
        users.update_user(
            r,
            user_id,
            role=role,
            counselor_id=request.form.get("counselor_id"),
            active=active,
            password=password,
            language=language,
        )
    except users.UserError as exc:
        return _page(user_error=f"{user.username}: {translated(exc)}"), 400
    flash(gettext("Account %(name)s updated.", name=user.username), "success")
    return redirect(url_for("admin.index"))


@bp.post("/counselors")
@admin_required
def add_counselor() -> Any:
    """Add a counselor (offline until they make themselves available)."""
    form = {
        "name": " ".join(request.form.get("name", "").split()),
        "phone": request.form.get("phone", ""),
        "languages": request.form.getlist("languages"),
        "insurance": request.form.getlist("insurance"),
    }
    error, status = None, 400
    try:
        phone = parse_number(form["phone"])
    except InvalidNumber:
        error = gettext("phone: not a valid phone number")
    if error is None:
        try:
            counselor = create_counselor(
                get_redis(), form["name"], phone, form["languages"], form["insurance"]
            )
        except cs.PhoneInUse as exc:
            error = gettext(
                "%(refusal)s. Two counselors cannot share a phone.", refusal=translated(exc)
            )
            status = 409
        except CounselorError as exc:
            error = translated(exc)
    if error is not None:
        return _page(form=form, counselor_error=error), status
    flash(
        gettext("Counselor %(name)s added as %(id)s.", name=counselor.name, id=counselor.id),
        "success",
    )
    return redirect(url_for("admin.index"))


@bp.post("/counselors/<counselor_id>/retire")
@admin_required
def retire_counselor(counselor_id: str) -> Any:
    """A counselor who has left: out of rotation and every list, their accounts switched
    off; the record is kept, since lead histories name them."""
    r = get_redis()
    counselor = get_counselor(r, counselor_id)
    if counselor is None:
        abort(404)
    if not cs.retire_counselor(r, counselor):
        message = gettext(
            "%(name)s is %(state)s: retire them when the call ends.",
            name=counselor.name,
            state=gettext(STATE_NAMES.get(counselor.status, counselor.status)).lower(),
        )
        return _page(counselor_error=message), 409
    switched_off = [u.username for u in users.release_counselor(r, counselor_id)]
    said = gettext("Counselor %(name)s (%(id)s) retired.", name=counselor.name, id=counselor.id)
    if switched_off:
        said += " " + gettext(
            "Accounts switched off or unlinked: %(names)s.", names=", ".join(switched_off)
        )
    flash(said, "success")
    return redirect(url_for("admin.index"))


@bp.get("/audit")
@admin_required
def audit_log() -> Any:
    """The newest audit entries (who read or changed which lead), optionally for one lead."""
    lead_id = request.args.get("lead", "").strip()
    entries = audit.entries(get_redis(), lead_id=lead_id or None, count=200)
    for entry in entries:
        entry["who_name"] = audit.who_name(entry.get("who", ""))
    return render_template("audit.html", entries=entries, lead_id=lead_id)
