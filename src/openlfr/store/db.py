"""The store: the main database (SQLite in WAL mode, or PostgreSQL), the key store, and sealing.

``Store`` is the one object the governance layer talks to. It opens both databases,
migrates the main one with Alembic, and seals or opens biometric blobs with the right
deployment's data key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from openlfr.errors import DuplicateError, EncryptionKeyError, StoreError
from openlfr.store import crypto
from openlfr.store.files import private_file, private_folder
from openlfr.store.models import DataKey, KeyBase

MIGRATIONS = Path(__file__).parent / "migrations"
KEY_RECHECK_SECONDS = 2.0
BUSY_TIMEOUT_S = 30  # a write waits this long for another writer
ERASE_WAIT_MS = 2000  # an erasure waits this long for readers, then leaves the rest to the next purge


def make_engine(url: str) -> Engine:
    """An engine with the settings each backend needs. SQLite: WAL, foreign keys, a busy timeout,
    and secure deletion (deleted rows are overwritten with zeros, not left in free space)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":  # the database, and the WAL files SQLite makes like it, owner-only
            private_folder(Path(path).parent)
            private_file(Path(path))
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def _pragmas(connection, _record) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def erase_deleted(engine: Engine, rewrite: tuple[str, ...] = ()) -> bool:
    """Make rows already deleted physically gone from the database's files, so that a copy of them
    taken from now on cannot hold them; False when that could not be finished now (try again).
    SQLite: deletions are zeroed in place (secure deletion), but the old pages stay in the
    write-ahead log until it is checkpointed into the main file and truncated, which this does; a
    reader still using an old snapshot (a backup running, another process) blocks that, and then
    the answer is False. PostgreSQL: the tables in ``rewrite`` are rewritten into new files and
    the old ones dropped (VACUUM FULL); its write-ahead log and any WAL archive are the operator's
    to expire (see the README)."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":  # a reader is waited for briefly; a later run finishes
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {ERASE_WAIT_MS}")
            try:
                busy, _, _ = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            finally:
                connection.exec_driver_sql(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
            return busy == 0
        if engine.dialect.name == "postgresql" and rewrite:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            for table in rewrite:
                connection.exec_driver_sql(f"VACUUM FULL {table}")
            connection.exec_driver_sql("CHECKPOINT")
    return True


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


class Store:
    """Both databases and the master key."""

    def __init__(self, url: str, keystore_url: str, master_key: bytes) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.key_engine = make_engine(keystore_url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._key_sessions = sessionmaker(self.key_engine, expire_on_commit=False)
        self.master_key = master_key
        self._data_keys: dict[str, tuple[bytes, float]] = {}  # key, and when it was last seen in the store

    # -- schema ---------------------------------------------------------------------------
    def migrate(self, revision: str = "head") -> None:
        """Bring the main database to ``revision`` and make sure the key store has its table."""
        logging.getLogger("alembic").setLevel(logging.WARNING)
        try:
            with self.engine.begin() as connection:
                config = alembic_config()
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
            KeyBase.metadata.create_all(self.key_engine)
        except OperationalError as exc:
            raise StoreError(f"cannot migrate the database: {exc.orig}") from None

    def revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    # -- sessions -------------------------------------------------------------------------
    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error, database errors made readable."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            raise DuplicateError(f"already stored: {str(exc.orig).strip().splitlines()[0]}") from None
        except DBAPIError as exc:
            session.rollback()
            raise StoreError(f"database error: {str(exc.orig).strip().splitlines()[0]}") from None
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    # -- keys -----------------------------------------------------------------------------
    def create_data_key(self, deployment_id: str) -> None:
        key = crypto.new_key()
        wrapped = crypto.seal(self.master_key, key, f"data-key:{deployment_id}")
        with self._key_sessions() as session, session.begin():
            session.add(
                DataKey(
                    deployment_id=deployment_id,
                    wrapped_key=wrapped,
                    master_key_id=crypto.key_id(self.master_key),
                    created_at=datetime.now(UTC),
                )
            )
        self._data_keys[deployment_id] = (key, time.monotonic())

    def data_key(self, deployment_id: str) -> bytes:
        """The deployment's data key. A key held in memory is checked against the key store at
        least every ``KEY_RECHECK_SECONDS``: one destroyed by another process (``openlfr purge``
        beside a running service) stops working here too."""
        cached = self._data_keys.get(deployment_id)
        if cached is not None and time.monotonic() - cached[1] < KEY_RECHECK_SECONDS:
            return cached[0]
        try:
            with self._key_sessions() as session:
                row = session.get(DataKey, deployment_id)
        except DBAPIError as exc:  # the key store unreachable: a key already held still seals (alerts)
            if cached is not None:
                return cached[0]
            raise StoreError(f"key store error: {str(exc.orig).strip().splitlines()[0]}") from None
        if row is None:
            self._data_keys.pop(deployment_id, None)
            raise EncryptionKeyError(f"deployment {deployment_id} has no data key (it was purged)")
        if cached is not None:
            self._data_keys[deployment_id] = (cached[0], time.monotonic())
            return cached[0]
        if row.master_key_id != crypto.key_id(self.master_key):
            raise EncryptionKeyError(
                f"the master key in use ({crypto.key_id(self.master_key)}) is not the one that wrapped "
                f"this deployment's data key ({row.master_key_id})"
            )
        key = crypto.open_sealed(self.master_key, row.wrapped_key, f"data-key:{deployment_id}")
        self._data_keys[deployment_id] = (key, time.monotonic())
        return key

    def destroy_data_key(self, deployment_id: str) -> None:
        """Crypto-shredding: without this key, no copy of the deployment's blobs can be read. When
        this returns, the key is gone from the key store's files too, not only from its tables; a
        StoreError says it is gone from the table but a reader still holds an old page of it (call
        again later: it finishes the erasure)."""
        self._data_keys.pop(deployment_id, None)
        with self._key_sessions() as session, session.begin():
            row = session.get(DataKey, deployment_id)
            if row is not None:
                session.delete(row)
        if not erase_deleted(self.key_engine, rewrite=("data_keys",)):
            raise StoreError(
                f"deployment {deployment_id}: its data key is deleted, but a reader of the key store still "
                "holds its old page in the write-ahead log; it is erased at the next purge"
            )

    def erase_destroyed_keys(self) -> bool:
        """Finish erasing data keys already deleted whose erasure a reader of the key store blocked
        (a gallery's old key, say); False while one still does."""
        return erase_deleted(self.key_engine, rewrite=("data_keys",))

    def erase_deleted(self) -> bool:
        """Purged subjects and anonymised alerts made physically gone from the main database's
        files where that is cheap (SQLite); False if a reader blocked it. On PostgreSQL what remains
        in free space is sealed under data keys that are destroyed with their deployment."""
        return erase_deleted(self.engine)

    def rotate_master_key(self, new_master: bytes) -> int:
        """Re-wrap every data key under a new master key, in one transaction; returns how many."""
        with self._key_sessions() as session, session.begin():
            rows = session.scalars(select(DataKey)).all()
            for row in rows:
                key = crypto.open_sealed(self.master_key, row.wrapped_key, f"data-key:{row.deployment_id}")
                row.wrapped_key = crypto.seal(new_master, key, f"data-key:{row.deployment_id}")
                row.master_key_id = crypto.key_id(new_master)
        self.master_key = new_master
        return len(rows)

    # -- sealing --------------------------------------------------------------------------
    def seal(self, deployment_id: str, plaintext: bytes, context: str) -> bytes:
        return crypto.seal(self.data_key(deployment_id), plaintext, f"{deployment_id}:{context}")

    def open(self, deployment_id: str, blob: bytes, context: str) -> bytes:
        return crypto.open_sealed(self.data_key(deployment_id), blob, f"{deployment_id}:{context}")

    def dispose(self) -> None:
        self.engine.dispose()
        self.key_engine.dispose()
