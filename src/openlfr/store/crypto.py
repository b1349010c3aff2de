"""Envelope encryption of biometric data: AES-256-GCM under per-deployment data keys.

Each deployment has its own random 256-bit data key. Data keys are stored only wrapped
(encrypted) by the master key, and only in the key store, a separate database from the
main one. Destroying a deployment's data key (crypto-shredding) therefore makes every copy
of its blobs unreadable, including copies in backups of the main database.

Blob layout: ``b"OLFR1" | 12-byte nonce | ciphertext+tag``. The associated data binds each
blob to its deployment and purpose, so a blob copied to another row does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from openlfr.errors import EncryptionKeyError
from openlfr.store.files import private_folder

MAGIC = b"OLFR1"
NONCE_BYTES = 12
KEY_BYTES = 32


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def key_id(key: bytes) -> str:
    """A short, non-secret fingerprint that names a key."""
    return hashlib.sha256(b"openlfr-key-id:" + key).hexdigest()[:16]


def seal(key: bytes, plaintext: bytes, context: str) -> bytes:
    """Encrypt and authenticate ``plaintext``, bound to ``context``."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return MAGIC + nonce + AESGCM(key).encrypt(nonce, plaintext, context.encode())


def open_sealed(key: bytes, blob: bytes, context: str) -> bytes:
    """Decrypt a blob made by :func:`seal`; any tampering or wrong key raises EncryptionKeyError."""
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + NONCE_BYTES + 16:
        raise EncryptionKeyError("not an openlfr encrypted blob")
    nonce = blob[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, blob[len(MAGIC) + NONCE_BYTES :], context.encode())
    except InvalidTag:
        raise EncryptionKeyError("cannot decrypt: wrong key, or the data was altered") from None


def load_master_key(env_value: str | None, key_file: Path, create: bool = True) -> bytes:
    """The master key from ``OPENLFR_MASTER_KEY`` (base64) or a key file, created (0600) on first run."""
    if env_value:
        try:
            key = base64.b64decode(env_value, validate=True)
        except ValueError:
            raise EncryptionKeyError("OPENLFR_MASTER_KEY is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise EncryptionKeyError(f"OPENLFR_MASTER_KEY must decode to {KEY_BYTES} bytes, not {len(key)}")
        return key
    if key_file.is_file():
        key = base64.b64decode(key_file.read_text().strip())
        if len(key) != KEY_BYTES:
            raise EncryptionKeyError(f"{key_file}: a master key must be {KEY_BYTES} bytes (base64)")
        return key
    if not create:
        raise EncryptionKeyError(f"{key_file}: master key file not found")
    return write_key_file(key_file, new_key())


def write_key_file(path: Path, key: bytes) -> bytes:
    """Write a key file readable by its owner only; never overwrites an existing file."""
    private_folder(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(base64.b64encode(key).decode() + "\n")
    return key
