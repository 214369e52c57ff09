"""Sign-in for people: Flask-Login sessions, role checks, Flask-WTF CSRF on every form and
Flask-Limiter on login attempts (counted in Redis, so every web process shares them)."""

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
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError, CSRFProtect
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

#: Login attempts allowed per client address (Flask-Limiter notation); LOGIN_RATE_LIMIT in
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
    flash(login_manager.login_message, "info")
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
                    "error.html", code=403, message=("Your account cannot open this page.")
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


def _limiter() -> Limiter:
    return current_app.extensions["hotline_limiter"]  # type: ignore[no-any-return]


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
        limiter = _limiter()
        limit = current_app.config.get("LOGIN_RATE_LIMIT", LOGIN_RATE_LIMIT)
        username = users.normalise_username(request.form.get("username", ""))[:40]
        try:
            with limiter.limit(limit, scope="login-address"):
                with limiter.limit(
                    current_app.config.get(
                        "LOGIN_USER_ADDRESS_RATE_LIMIT", LOGIN_USER_ADDRESS_RATE_LIMIT
                    ),
                    key_func=lambda: f"{get_remote_address()}/{username or '-'}",
                    scope="login-user-address",
                ):
                    pass
        except RateLimitExceeded:
            log.warning("login rate limit reached from %s", get_remote_address())
            return render_template(
                "login.html",
                form=form,
                error="Too many sign-in attempts. Wait a minute and try again.",
            ), 429
        if form.validate_on_submit():
            user = users.authenticate(
                get_redis(), form.username.data or "", form.password.data or ""
            )
            if user is None:
                log.info("failed sign-in")
                return render_template(
                    "login.html", form=form, error="Wrong username or password."
                ), 401
            # A permanent session ends after PERMANENT_SESSION_LIFETIME even if the browser
            # on a shared desk is never closed.
            session.permanent = True
            login_user(user)
            session[SESSION_VERSION] = user.session_version
            log.info("user %s signed in", user.id)
            return redirect(safe_next(request.args.get("next")) or home_for(user))
        return render_template(
            "login.html", form=form, error="Enter your username and password."
        ), 400
    return render_template("login.html", form=form, error=None)


@bp.post("/logout")
@login_required
def logout() -> Response:
    """Sign out (a POST with the CSRF token, so a link elsewhere cannot sign anyone out):
    every session of the user ends, so a copy of the cookie is worth nothing either."""
    users.end_sessions(get_redis(), current_user.id)
    logout_user()
    flash("You are signed out.", "info")
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
            message="This form has expired or was not sent from Hotline. Go back, reload the "
            "page and try again.",
        ), 400

    app.extensions["hotline_limiter"] = Limiter(
        get_remote_address,
        app=app,
        # The scheme picks `limits`' Redis storage; the pool says where that Redis is.
        storage_uri="redis://",
        storage_options=limiter_storage_options(app),
        strategy="fixed-window",
        key_prefix="hotline:ratelimit",
    )
    # Only sign-in is limited (inside the view); Twilio's signed webhooks skip the limiter's
    # per-request search for limits that do not apply to them.
    app.extensions["hotline_limiter"].request_filter(lambda: request.blueprint == "twilio")

    # Only a site served over https may pin browsers to https (an http dev server must not).
    hsts = app.extensions["hotline"].settings.public_base_url.startswith("https://")

    @app.after_request
    def security_headers(response: Response) -> Response:
        # Pages hold personal data: never cache them, never frame them.
        if request.blueprint not in (None, "twilio", "static") and response.mimetype in (
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


def limiter_storage_options(app: Flask) -> dict[str, Any]:
    """Share the app's own Redis connection pool (bytes client, as `limits` expects), so
    the limiter counts in the same Redis whether it is embedded, a socket or TLS."""
    return {"connection_pool": app.extensions["hotline"].rq_redis.connection_pool}
