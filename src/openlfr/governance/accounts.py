"""Users, console sessions and API tokens.

Passwords are hashed with argon2id. Session cookies and API tokens are random 256-bit
strings; only their SHA-256 reaches the database, so a copy of the database signs nobody in.
Sessions end after ``session_hours`` or ``session_idle_minutes`` without use, whichever
comes first; tokens end when revoked or expired. Every change is audited.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from zxcvbn import zxcvbn

from openlfr.errors import NotFoundError, PolicyViolation
from openlfr.governance import audit
from openlfr.governance.context import Governance, aware
from openlfr.governance.permissions import ROLES
from openlfr.store.models import ApiToken, AuditEvent, User, WebSession

TOKEN_PREFIX = "olfr_"
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY_HASH = _hasher.hash("timing-equaliser")


@dataclass(frozen=True)
class Principal:
    """Who is calling, and how they proved it."""

    user_id: str
    username: str
    role: str
    via: str  # "session" or "token"
    csrf_token: str | None = None
    session_hash: str | None = None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _audit(
    gov: Governance, session, actor: str, action: str, object_type: str, object_id: str, **details
) -> None:
    audit.append(
        session,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        at=gov.now(),
        details=details,
    )


USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,80}")
RESERVED_NAMES = frozenset({"service", "cluster", "retention-job", "system", "admin-setup", "test-setup"})
MAX_PASSWORD_LENGTH = 200  # what the sign-in forms take
ZXCVBN_MAX_LENGTH = 72  # zxcvbn refuses longer input; the first 72 characters decide
MIN_GUESSES_LOG10 = 10.0  # 10^10 guesses: centuries offline at argon2id's cost, and never online


def password_problem(password: str, username: str = "") -> str | None:
    """Why a password is too easy to guess, or None: at least 10 characters, and at least 10^10
    guesses by zxcvbn's estimate (common passwords with digits and symbols around them, their
    l33t spellings, keyboard walks, dates and the user's own name all score far lower)."""
    if len(password) < 10:
        return "at least 10 characters are needed"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"at most {MAX_PASSWORD_LENGTH} characters (sign-in takes no more)"
    estimate = zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=[username, "openlfr"])
    if estimate["guesses_log10"] < MIN_GUESSES_LOG10:
        warning = estimate["feedback"].get("warning") or "it would be guessed too soon"
        return f"{warning.rstrip('.')} (try a few unrelated words)"
    return None


def check_new_user(gov: Governance, username: str, role: str) -> None:
    """Refuse a new user's role or name (a clear reason) before any password is asked for. Names
    are plain (letters, digits, ``. _ @ -``), so none can pass for another in the audit trail, a
    terminal or a page, and none is a name the service itself acts under."""
    if role not in ROLES:
        raise PolicyViolation(f"role must be one of {', '.join(ROLES)}")
    if not USERNAME.fullmatch(username):
        raise PolicyViolation("a user name is 1 to 80 letters, digits and . _ @ -")
    if username.lower() in RESERVED_NAMES:
        raise PolicyViolation(f"{username} is a name the service acts under; choose another")
    with gov.store.session() as session:
        if session.scalar(select(User.id).where(User.username == username)):
            raise PolicyViolation(f"user {username} already exists")


def has_users(gov: Governance) -> bool:
    with gov.store.session() as session:
        return bool(session.scalar(select(func.count()).select_from(User)))


def create_user(
    gov: Governance,
    username: str,
    password: str,
    role: str,
    actor: str,
    display_name: str = "",
    *,
    first: bool = False,
) -> User:
    """A new account. ``first``: only as a new store's very first account, checked again under
    the audit trail's write lock, so two terminals bootstrapping at once make one administrator."""
    check_new_user(gov, username, role)
    problem = password_problem(password, username)
    if problem:
        raise PolicyViolation(f"choose another password: {problem}")
    with gov.store.session() as session:
        audit.lock_chain(session)
        if first and session.scalar(select(func.count()).select_from(User)):
            raise PolicyViolation("this store has accounts now: sign in as an administrator to add users")
        if session.scalar(select(User.id).where(User.username == username)):
            raise PolicyViolation(f"user {username} already exists")
        user = User(
            username=username,
            display_name=display_name or username,
            role=role,
            password_hash=_hasher.hash(password),
            active=True,
            created_at=gov.now(),
        )
        session.add(user)
        session.flush()
        _audit(gov, session, actor, "user.create", "user", user.id, username=username, role=role)
        return user


def set_active(gov: Governance, user_id: str, active: bool, actor: str) -> User:
    """Disabling a user also ends their sessions and revokes their tokens. Nobody disables
    themselves, and the last active administrator stays, or no one could manage users again."""
    with gov.store.session() as session:
        audit.lock_chain(session)
        user = gov.get(session, User, user_id)
        if not active and user.username == actor:
            raise PolicyViolation("you cannot disable your own account")
        if not active and user.role == "admin" and user.active:
            others = session.scalar(
                select(func.count())
                .select_from(User)
                .where(User.role == "admin", User.active.is_(True), User.id != user.id)
            )
            if not others:
                raise PolicyViolation("the last active administrator cannot be disabled")
        user.active = active
        if not active:
            now = gov.now()
            for row in session.scalars(select(WebSession).where(WebSession.user_id == user_id)):
                row.revoked_at = row.revoked_at or now
            for token in session.scalars(select(ApiToken).where(ApiToken.user_id == user_id)):
                token.revoked_at = token.revoked_at or now
        _audit(gov, session, actor, "user.enable" if active else "user.disable", "user", user.id)
        return user


def list_users(gov: Governance) -> list[User]:
    with gov.store.session() as session:
        return list(session.scalars(select(User).order_by(User.username)))


def authenticate(gov: Governance, username: str, password: str) -> User | None:
    """The user if the password is right and the account active; the same work is done either way."""
    with gov.store.session() as session:
        user = session.scalar(select(User).where(User.username == username))
        try:
            _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None or not user.active:
            return None
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        return user


def open_session(gov: Governance, user: User, via: str = "console") -> tuple[str, str]:
    """A new session, of the console or of a terminal (``via``): returns (secret, CSRF token)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = gov.now()
    with gov.store.session() as session:
        session.add(
            WebSession(
                token_hash=digest(token),
                user_id=user.id,
                csrf_token=csrf,
                created_at=now,
                last_seen=now,
                expires_at=now + timedelta(hours=gov.settings.api.session_hours),
            )
        )
        _audit(gov, session, user.username, "session.login", "user", user.id, via=via)
    return token, csrf


def resolve_session(gov: Governance, token: str, touch: bool = True) -> Principal | None:
    """The signed-in user of a cookie, or None if it is unknown, revoked, expired or idle too long.
    ``touch=False`` checks without counting as activity (an open socket is not a person at work)."""
    now = gov.now()
    idle = timedelta(minutes=gov.settings.api.session_idle_minutes)
    with gov.store.session() as session:
        row = session.get(WebSession, digest(token))
        if row is None or row.revoked_at is not None:
            return None
        if now >= aware(row.expires_at) or now - aware(row.last_seen) > idle:
            return None
        user = session.get(User, row.user_id)
        if user is None or not user.active:
            return None
        if touch and now - aware(row.last_seen) > timedelta(seconds=30):  # keep writes rare
            row.last_seen = now
        return Principal(user.id, user.username, user.role, "session", row.csrf_token, row.token_hash)


def end_session(gov: Governance, principal: Principal) -> None:
    with gov.store.session() as session:
        row = session.get(WebSession, principal.session_hash)
        if row is not None and row.revoked_at is None:
            row.revoked_at = gov.now()
            _audit(gov, session, principal.username, "session.logout", "user", principal.user_id)


def set_own_password(gov: Governance, principal: Principal, new: str) -> None:
    """A user's own new password, the current one already checked by the caller. Every other
    session and token of theirs ends, so a password someone else learnt opens nothing any more."""
    if principal.via == "token":
        raise PolicyViolation("sign in to change your password; an API token cannot")
    problem = password_problem(new, principal.username)
    if problem:
        raise PolicyViolation(f"choose another password: {problem}")
    now = gov.now()
    with gov.store.session() as session:
        user = gov.get(session, User, principal.user_id)
        user.password_hash = _hasher.hash(new)
        for row in session.scalars(select(WebSession).where(WebSession.user_id == user.id)):
            if row.token_hash != principal.session_hash:
                row.revoked_at = row.revoked_at or now
        for token in session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)):
            token.revoked_at = token.revoked_at or now
        _audit(gov, session, principal.username, "user.password", "user", user.id)


def record_failed_sign_in(gov: Governance, username: str, via: str, by: str) -> None:
    """A wrong password, in the audit trail: who tried (``by``), for which name, from where."""
    with gov.store.session() as session:
        _audit(gov, session, by, "session.login_failed", "sign_in", username[:80], via=via)


def recent_failed_sign_ins(gov: Governance, username: str, window: timedelta) -> int:
    """Failed sign-ins recorded for ``username`` within ``window`` (a lockout that holds across
    processes, since each terminal is one)."""
    since = gov.now() - window
    with gov.store.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(
                    AuditEvent.action == "session.login_failed",
                    AuditEvent.object_id == username[:80],
                    AuditEvent.at >= since,
                )
            )
            or 0
        )


def create_token(
    gov: Governance, principal: Principal, name: str, days: float | None = None
) -> tuple[ApiToken, str]:
    """A new API token acting as ``principal``; the secret is returned once and never stored.
    Only a signed-in person makes tokens: a token that could make more would outlive its own
    expiry and revocation."""
    if principal.via == "token":
        raise PolicyViolation("an API token cannot make tokens; sign in to make one")
    if not name.strip():
        raise PolicyViolation("a token needs a name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = gov.now()
    with gov.store.session() as session:
        row = ApiToken(
            name=name,
            token_hash=digest(secret),
            user_id=principal.user_id,
            created_at=now,
            expires_at=now + timedelta(days=days) if days else None,
        )
        session.add(row)
        session.flush()
        _audit(gov, session, principal.username, "token.create", "api_token", row.id, name=name)
        return row, secret


def list_tokens(gov: Governance, principal: Principal) -> list[ApiToken]:
    with gov.store.session() as session:
        return list(session.scalars(select(ApiToken).where(ApiToken.user_id == principal.user_id)))


def revoke_token(gov: Governance, token_id: str, principal: Principal) -> ApiToken:
    """Owners revoke their own tokens; administrators any."""
    with gov.store.session() as session:
        row = session.get(ApiToken, token_id)
        if row is None or (row.user_id != principal.user_id and principal.role != "admin"):
            raise NotFoundError(f"no api_token with id {token_id}")
        row.revoked_at = row.revoked_at or gov.now()
        _audit(gov, session, principal.username, "token.revoke", "api_token", row.id)
        return row


def resolve_token(gov: Governance, secret: str) -> Principal | None:
    if not secret.startswith(TOKEN_PREFIX):
        return None
    with gov.store.session() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
        if row is None or row.revoked_at is not None:
            return None
        if row.expires_at is not None and gov.now() >= aware(row.expires_at):
            return None
        user = session.get(User, row.user_id)
        if user is None or not user.active:
            return None
        return Principal(user.id, user.username, user.role, "token")
