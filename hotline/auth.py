"""Sign-in for people: Flask-Login sessions, role checks, Flask-WTF CSRF on every form and
`limits` on login attempts (counted in Redis, so every web process shares them)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlparse

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError, CSRFProtect
from limits import parse_many
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from hotline import users
from hotline.services import get_redis
from hotline.users import Role, User

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

bp = Blueprint("auth", __name__)

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to continue."
login_manager.login_message_category = "info"
# "strong": a session cookie replayed from another address or browser is dropped.
login_manager.session_protection = "strong"

csrf = CSRFProtect()

#: How long a session lasts from sign-in (a shift and some), even if the browser on a
#: shared desk is never closed. Flask's own default is 31 days.
SESSION_LIFETIME = timedelta(hours=12)
#: The session key holding the user's session version at sign-in (see load_user).
SESSION_VERSION = "_hotline_sv"

#: Login attempts allowed per client address (`limits` notation); LOGIN_RATE_LIMIT in
#: app.config overrides it.
LOGIN_RATE_LIMIT = "10 per minute; 50 per hour"
#: Attempts per username from one address; LOGIN_USER_ADDRESS_RATE_LIMIT overrides it.
#: There is no limit per username alone: it would let anyone lock a counselor out by
#: typing wrong passwords for their name. Guessing from many addresses is slowed by the
#: per-address limit of each, and by passwords of MIN_PASSWORD_LENGTH characters.
LOGIN_USER_ADDRESS_RATE_LIMIT = "5 per minute; 20 per hour"


#: Content-Security-Policy of every response: scripts and styles only from our own static
#: files (no inline script or style attribute, so injected markup cannot run or restyle),
#: requests only to ourselves, never framed, forms only posted to ourselves.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
#: Headers on every response (webhooks' TwiML included, where they do no harm).
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # Nothing here uses the camera, microphone or location. Notifications are not a
    # policy-controlled feature: the browser asks the person, for our own origin only.
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
#: Strict-Transport-Security when PUBLIC_BASE_URL is https: a year, this host only.
HSTS = "max-age=31536000"


class LoginForm(FlaskForm):
    """Username and password."""

    username = StringField("Username", validators=[DataRequired(), Length(max=40)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The signed-in user for a session; None (signed out) once the account is switched off
    or the user's sessions were ended (sign-out, a new password, switch-off, retirement)."""
    user = users.get_user(get_redis(), user_id)
    if user is None or not user.active:
        return None
    if session.get(SESSION_VERSION) != user.session_version:
        return None
    return user


@login_manager.unauthorized_handler
def unauthorized() -> Any:
    """401 JSON for the API and live endpoints; a redirect to the sign-in page elsewhere."""
    if wants_json():
        return jsonify(error="Unauthorized", message="sign in or send the API token"), 401
    flash(gettext("Please sign in to continue."), "info")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def wants_json() -> bool:
    """Whether the current request is an API or data request (answered in JSON)."""
    return request.path.startswith("/api/") or request.path.endswith(".json")


def role_required(*roles: str) -> Callable[[F], F]:
    """Let through signed-in users holding one of ``roles`` (admins always); 403 others."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        @login_required
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.has_role(*roles):
                if wants_json():
                    return jsonify(error="Forbidden", message="your role cannot do this"), 403
                return render_template(
                    "error.html", code=403, message=gettext("Your account cannot open this page.")
                ), 403
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


supervisor_required = role_required(Role.SUPERVISOR.value)
admin_required = role_required(Role.ADMIN.value)
counselor_required = role_required(Role.COUNSELOR.value)


def session_user_may_supervise() -> bool:
    """Whether the current session is a signed-in supervisor or admin (for /api)."""
    return bool(
        current_user
        and current_user.is_authenticated
        and current_user.has_role(Role.SUPERVISOR.value)
    )


class LoginLimits:
    """Sign-in attempts, counted in Redis (so every web process shares them) by `limits`,
    the library under Flask-Limiter, used directly: only the sign-in view asks, so no other
    request (least of all Twilio's webhooks) runs a rate-limit hook."""

    def __init__(self, app: Flask) -> None:
        # The app's own Redis pool (bytes client, as `limits` expects): the same Redis
        # whether it is embedded, a socket or TLS.
        pool = app.extensions["hotline"].rq_redis.connection_pool
        storage = RedisStorage("redis://", connection_pool=pool, key_prefix="hotline:ratelimit")
        self.strategy = FixedWindowRateLimiter(storage)

    def allow(self, limits: str, scope: str, key: str) -> bool:
        """Count one attempt against each of ``limits`` ("5 per minute; 20 per hour");
        False once one of them is used up."""
        return all(self.strategy.hit(item, scope, key) for item in parse_many(limits))


def _login_limits() -> LoginLimits:
    return current_app.extensions["hotline_login_limits"]  # type: ignore[no-any-return]


def safe_next(target: str | None) -> str | None:
    """Only a local path may be a post-login redirect (no open redirect)."""
    if not target:
        return None
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def home_for(user: User) -> str:
    """Where a user lands after signing in."""
    if user.role == Role.COUNSELOR.value:
        return url_for("console.index")
    return url_for("dashboard.index")  # supervisors and admins


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Sign in; attempts are rate limited per address and per username from an address."""
    form = LoginForm()
    if current_user.is_authenticated and request.method == "GET":
        return redirect(home_for(current_user))
    if request.method == "POST":
        limits = _login_limits()
        address = request.remote_addr or "-"  # the client's, through ProxyFix if trusted
        username = users.normalise_username(request.form.get("username", ""))[:40]
        per_address = current_app.config.get("LOGIN_RATE_LIMIT", LOGIN_RATE_LIMIT)
        per_user_address = current_app.config.get(
            "LOGIN_USER_ADDRESS_RATE_LIMIT", LOGIN_USER_ADDRESS_RATE_LIMIT
        )
        if not (
            limits.allow(per_address, "login-address", address)
            and limits.allow(per_user_address, "login-user-address", f"{address}/{username or '-'}")
        ):
            log.warning("login rate limit reached from %s", address)
            return render_template(
                "login.html",
                form=form,
                error=gettext("Too many sign-in attempts. Wait a minute and try again."),
            ), 429
        if form.validate_on_submit():
            user = users.authenticate(
                get_redis(), form.username.data or "", form.password.data or ""
            )
            if user is None:
                log.info("failed sign-in")
                return render_template(
                    "login.html", form=form, error=gettext("Wrong username or password.")
                ), 401
            # A permanent session ends after PERMANENT_SESSION_LIFETIME even if the browser
            # on a shared desk is never closed.
            session.permanent = True
            login_user(user)
            session[SESSION_VERSION] = user.session_version
            log.info("user %s signed in", user.id)
            return redirect(safe_next(request.args.get("next")) or home_for(user))
        return render_template(
            "login.html", form=form, error=gettext("Enter your username and password.")
        ), 400
    return render_template("login.html", form=form, error=None)


@bp.post("/logout")
@login_required
def logout() -> Response:
    """Sign out (a POST with the CSRF token, so a link elsewhere cannot sign anyone out):
    every session of the user ends, so a copy of the cookie is worth nothing either."""
    users.end_sessions(get_redis(), current_user.id)
    logout_user()
    flash(gettext("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.get("/")
def root() -> Response:
    """The front page sends people to their own home."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return redirect(url_for("auth.login"))


def _csrf_exempt_request() -> bool:
    """Twilio's signed webhooks and bearer-token API calls carry no browser session, so
    they are not exposed to CSRF; everything else that changes state must have the token."""
    if request.blueprint == "twilio" or request.path.startswith("/twilio/"):
        return True
    return request.path.startswith("/api/") and request.headers.get("Authorization", "").startswith(
        "Bearer "
    )


def init_auth(app: Flask) -> None:
    """Login manager, CSRF protection, the login rate limiter and secure cookie settings."""
    login_manager.init_app(app)
    # CSRF is checked by our own hook so the exemptions above live in one readable place.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 8 * 3600)  # a counselor's shift
    csrf.init_app(app)
    secure = bool(app.config.get("SESSION_COOKIE_SECURE"))
    app.config.setdefault("REMEMBER_COOKIE_SECURE", secure)
    app.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)

    @app.before_request
    def check_csrf() -> None:
        if request.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
            return
        if not app.config.get("WTF_CSRF_ENABLED", True) or _csrf_exempt_request():
            return
        csrf.protect()

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Any:
        if wants_json():
            return jsonify(
                error="Bad Request", message=f"CSRF check failed: {exc.description}"
            ), 400
        return render_template(
            "error.html",
            code=400,
            message=gettext(
                "This form has expired or was not sent from Hotline. Go back, reload the "
                "page and try again."
            ),
        ), 400

    app.extensions["hotline_login_limits"] = LoginLimits(app)

    # Only a site served over https may pin browsers to https (an http dev server must not).
    hsts = app.extensions["hotline"].settings.public_base_url.startswith("https://")

    @app.after_request
    def security_headers(response: Response) -> Response:
        if request.blueprint == "twilio":
            return response  # TwiML, read by Twilio: never rendered, framed or cached by a browser
        # Pages hold personal data: never cache them, never frame them.
        if request.blueprint not in (None, "static") and response.mimetype in (
            "text/html",
            "application/json",
            "text/csv",
        ):
            response.headers.setdefault("Cache-Control", "no-store")
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if hsts:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response
