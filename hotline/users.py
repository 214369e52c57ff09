"""Web users in Redis: a username, a password hash (werkzeug.security), a role and, for a
counselor, the id of their counselor record (phone, languages, insurance)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from enum import StrEnum

from redis import Redis
from werkzeug.security import check_password_hash, generate_password_hash

from routing import keys

#: Shortest password accepted (NIST 800-63B: length over composition rules).
MIN_PASSWORD_LENGTH = 10
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")


class Role(StrEnum):
    """What a user may do: counselors take calls, supervisors run the floor, admins manage."""

    COUNSELOR = "counselor"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


ROLES = tuple(r.value for r in Role)
#: Languages of the web pages (hotline/translations); an account's ``language`` is one.
UI_LANGUAGES = ("en", "es")
#: The language of an account that never chose one.
DEFAULT_UI_LANGUAGE = "en"


class UserError(ValueError):
    """A user cannot be created or changed as asked; the message says why."""


@dataclass
class User:
    """A person who signs in to the console, dashboard or admin pages."""

    id: str
    username: str
    role: str
    password_hash: str = ""
    counselor_id: str = ""
    active: bool = True
    created_at: float = 0.0
    #: Stamped into each session at sign-in; raising it ends every session of the user.
    session_version: int = 0
    #: The language the pages are shown in (one of UI_LANGUAGES), chosen by the user or
    #: an admin.
    language: str = DEFAULT_UI_LANGUAGE

    # Flask-Login's user protocol, written out rather than inheriting UserMixin, so an
    # account switched off stops working at its very next request.
    @property
    def is_authenticated(self) -> bool:
        """Every loaded user is signed in (anonymous visitors get Flask-Login's class)."""
        return True

    @property
    def is_active(self) -> bool:
        """Whether the account may sign in."""
        return self.active

    @property
    def is_anonymous(self) -> bool:
        """Never: a User is a real account."""
        return False

    def get_id(self) -> str:
        """The id Flask-Login keeps in the session."""
        return self.id

    def has_role(self, *roles: str) -> bool:
        """Whether the user holds one of ``roles`` (an admin holds every role)."""
        return self.role == Role.ADMIN.value or self.role in roles

    def public(self) -> dict[str, str | bool]:
        """A view without the password hash."""
        return {
            "id": self.id,
            "username": self.username,
            "role": self.role,
            "counselor_id": self.counselor_id,
            "active": self.active,
            "language": self.language,
        }


def normalise_username(raw: str) -> str:
    """Usernames are case-insensitive; store and look them up lower-cased."""
    return (raw or "").strip().lower()


def validate(
    username: str, role: str, password: str | None, language: str = DEFAULT_UI_LANGUAGE
) -> None:
    """Raise UserError if a username, role, language or (when given) password is
    unacceptable."""
    if not _USERNAME.match(username):
        raise UserError("username: 2-40 characters, letters, digits, dot, dash or underscore")
    if role not in ROLES:
        raise UserError(f"role: one of {', '.join(ROLES)}")
    if language not in UI_LANGUAGES:
        raise UserError(f"language: one of {', '.join(UI_LANGUAGES)}")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password: at least {MIN_PASSWORD_LENGTH} characters")


def create_user(
    r: Redis,
    username: str,
    password: str,
    role: str,
    counselor_id: str = "",
    language: str = DEFAULT_UI_LANGUAGE,
) -> User:
    """Create a user with a hashed password; UserError if invalid or the name is taken."""
    username = normalise_username(username)
    validate(username, role, password, language)
    if role == Role.COUNSELOR.value and not counselor_id:
        raise UserError("counselor_id: a counselor's account must be linked to a counselor")
    user_id = f"U{r.incr(keys.USER_SEQ):04d}"
    # HSETNX claims the name atomically, so two admins cannot create the same user.
    if not r.hsetnx(keys.USERS_BY_NAME, username, user_id):
        raise UserError(f"username: {username!r} is already taken")
    user = User(
        id=user_id,
        username=username,
        role=role,
        password_hash=generate_password_hash(password),
        counselor_id=counselor_id,
        created_at=time.time(),
        language=language,
    )
    _save(r, user)
    return user


def _save(r: Redis, user: User) -> None:
    # session_version is never written here, only raised by end_sessions (HINCRBY), so a
    # save racing with a sign-out cannot bring old sessions back.
    r.hset(
        keys.USER.format(user.id),
        mapping={
            "username": user.username,
            "role": user.role,
            "password_hash": user.password_hash,
            "counselor_id": user.counselor_id,
            "active": "1" if user.active else "0",
            "created_at": str(user.created_at),
            "language": user.language,
        },
    )


def get_user(r: Redis, user_id: str) -> User | None:
    """A user by id, or None."""
    data = r.hgetall(keys.USER.format(user_id))
    if not data:
        return None
    return User(
        id=user_id,
        username=data.get("username", ""),
        role=data.get("role", ""),
        password_hash=data.get("password_hash", ""),
        counselor_id=data.get("counselor_id", ""),
        active=data.get("active", "1") == "1",
        created_at=float(data.get("created_at") or 0),
        session_version=int(data.get("session_version") or 0),
        language=data.get("language") or DEFAULT_UI_LANGUAGE,
    )


def find_by_username(r: Redis, username: str) -> User | None:
    """A user by (case-insensitive) username, or None."""
    user_id = r.hget(keys.USERS_BY_NAME, normalise_username(username))
    return get_user(r, user_id) if user_id else None


def authenticate(r: Redis, username: str, password: str) -> User | None:
    """The active user with these credentials, or None (same answer for every failure)."""
    user = find_by_username(r, username)
    if user is None:
        # Hash anyway, so a missing username takes as long as a wrong password.
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not user.active or not check_password_hash(user.password_hash, password or ""):
        return None
    return user


def all_users(r: Redis) -> list[User]:
    """Every user, by username."""
    found = [get_user(r, uid) for uid in r.hvals(keys.USERS_BY_NAME)]
    return sorted((u for u in found if u is not None), key=lambda u: u.username)


def update_user(
    r: Redis,
    user_id: str,
    *,
    role: str | None = None,
    counselor_id: str | None = None,
    active: bool | None = None,
    password: str | None = None,
    language: str | None = None,
) -> User:
    """Change a user's role, link, active flag, language or password; UserError if
    invalid."""
    user = get_user(r, user_id)
    if user is None:
        raise UserError("no such user")
    if role is not None:
        user.role = role
    if counselor_id is not None:
        user.counselor_id = counselor_id
    if active is not None:
        user.active = active
    if language is not None:
        user.language = language
    validate(user.username, user.role, password, user.language)
    if user.role == Role.COUNSELOR.value and not user.counselor_id:
        raise UserError("counselor_id: a counselor's account must be linked to a counselor")
    if password is not None:
        user.password_hash = generate_password_hash(password)
    _save(r, user)
    if password is not None or active is False:
        # A new password or a switched-off account ends every session it had; switching
        # the account back on later does not revive them.
        user.session_version = end_sessions(r, user.id)
    return user


def set_language(r: Redis, user_id: str, language: str) -> None:
    """A user's own choice of language for the pages (one field, so it cannot undo an
    admin's change made meanwhile); UserError if it is not one of UI_LANGUAGES."""
    if language not in UI_LANGUAGES:
        raise UserError(f"language: one of {', '.join(UI_LANGUAGES)}")
    key = keys.USER.format(user_id)
    if not r.exists(key):
        raise UserError("no such user")
    r.hset(key, "language", language)


def end_sessions(r: Redis, user_id: str) -> int:
    """End every session of a user (each carries the version it began with); the new
    version."""
    return int(r.hincrby(keys.USER.format(user_id), "session_version", 1))


def release_counselor(r: Redis, counselor_id: str) -> list[User]:
    """A counselor has been retired: counselor accounts linked to them are switched off
    (such an account must have a counselor), any other account is unlinked."""
    changed = []
    for user in all_users(r):
        if user.counselor_id != counselor_id:
            continue
        if user.role == Role.COUNSELOR.value:
            changed.append(update_user(r, user.id, active=False))
        else:
            changed.append(update_user(r, user.id, counselor_id=""))
    return changed


def count_admins(r: Redis) -> int:
    """Active admins (the last one cannot be switched off or demoted)."""
    return sum(1 for u in all_users(r) if u.active and u.role == Role.ADMIN.value)


_DUMMY_HASH = generate_password_hash("not-a-real-password")
