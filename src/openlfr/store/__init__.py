"""Storage: SQLAlchemy tables, Alembic migrations, the key store and envelope encryption."""

import logging

from openlfr.store.db import Store

__all__ = ["Store", "open_store"]


def open_store(settings) -> Store:
    """The store described by settings, migrated to the latest schema."""
    from openlfr.store.crypto import load_master_key
    from openlfr.store.files import private_folder

    private_folder(settings.data_dir, tighten=True)  # data, keys and spool: the owner's alone
    secret = settings.master_key.get_secret_value() if settings.master_key else None
    store = Store(
        settings.database_url(), settings.keystore_url(), load_master_key(secret, settings.master_key_path())
    )
    store.migrate()
    if not settings.keystore_url().startswith("sqlite"):
        logging.getLogger(__name__).warning(
            "the key store is not SQLite: a destroyed data key is gone from its tables, but stays in the "
            "database's write-ahead log (and any WAL archive) until recycled; keep keys in SQLite to make "
            "crypto-shredding immediate"
        )
    return store
