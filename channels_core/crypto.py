"""Optional symmetric encryption of message bodies, for any backend (extra ``encryption``).

:class:`SymmetricCipher` takes a list of keys: the FIRST encrypts, ALL decrypt, so keys rotate
by putting the new key first and keeping the old ones until every message sealed with them has
been received or has expired.

* Algorithm: AES-256-GCM (authenticated: a tampered or truncated body is refused, never
  returned). Each key (``str`` or ``bytes``, any length; use at least 32 random bytes) is
  stretched to a 256-bit AES key with SHA-256 under a fixed domain label.
* Wire form: ``b"\\x01"`` (format version), 4 bytes of key id (derived from the key, so decrypt
  picks the right key at once), a 12-byte random nonce, then ciphertext and 16-byte tag:
  33 bytes of overhead per message.
* Errors: a body no key opens raises :class:`DecryptionError` (a ``MalformedMessage``)
  naming why.

Needs the ``cryptography`` package (``pip install 'channels-core[encryption]'``); without it,
building a cipher raises :class:`~channels_core.exceptions.ImproperlyConfigured` saying so.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

from .exceptions import ImproperlyConfigured, MalformedMessage

FORMAT_VERSION = b"\x01"
_KEY_ID_LENGTH = 4
_NONCE_LENGTH = 12
_HEADER_LENGTH = 1 + _KEY_ID_LENGTH + _NONCE_LENGTH
_TAG_LENGTH = 16
_DOMAIN = b"channels-core symmetric encryption v1\x00"

#: Bytes a sealed body is longer than its plaintext.
OVERHEAD = _HEADER_LENGTH + _TAG_LENGTH


class DecryptionError(MalformedMessage):
    """A received body could not be decrypted with any configured key (wrong key or tampered):
    a :class:`MalformedMessage`, like any other body the layer cannot read."""


def _key_bytes(key: object, index: int) -> bytes:
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, (bytes, bytearray)) or not key:
        raise ImproperlyConfigured(
            f"symmetric_encryption_keys[{index}] must be a non-empty str or bytes, "
            f"got {type(key).__name__}"
        )
    return bytes(key)


class SymmetricCipher:
    """AES-256-GCM with key rotation: the first key encrypts, every key decrypts."""

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence) or not keys:
            raise ImproperlyConfigured(
                "symmetric_encryption_keys must be a non-empty list of keys (str or bytes); "
                "the first encrypts, all decrypt"
            )
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError:
            raise ImproperlyConfigured(
                "symmetric_encryption_keys needs the 'cryptography' package: "
                "pip install 'channels-core[encryption]'"
            ) from None
        self._ciphers: dict[bytes, Any] = {}
        self._order: list[bytes] = []
        for index, key in enumerate(keys):
            secret = hashlib.sha256(_DOMAIN + _key_bytes(key, index)).digest()
            key_id = hashlib.sha256(b"id\x00" + secret).digest()[:_KEY_ID_LENGTH]
            if key_id not in self._ciphers:
                self._ciphers[key_id] = AESGCM(secret)
                self._order.append(key_id)
        self._encrypt_id = self._order[0]
        self._encrypt_prefix = FORMAT_VERSION + self._encrypt_id
        self._encryptor = self._ciphers[self._encrypt_id]

    def encrypt(self, data: bytes) -> bytes:
        """Seal ``data`` with the first key."""
        nonce = os.urandom(_NONCE_LENGTH)
        sealed: bytes = self._encryptor.encrypt(nonce, data, self._encrypt_prefix)
        return self._encrypt_prefix + nonce + sealed

    def decrypt(self, token: bytes) -> bytes:
        """Open a body sealed by :meth:`encrypt` with any key; DecryptionError if none can."""
        from cryptography.exceptions import InvalidTag

        token = bytes(token)
        if len(token) < OVERHEAD or token[:1] != FORMAT_VERSION:
            raise DecryptionError(
                f"received body ({len(token)} bytes) is not an encrypted message of this format "
                "(was it sent by a layer without symmetric_encryption_keys?)"
            )
        key_id = token[1 : 1 + _KEY_ID_LENGTH]
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise DecryptionError(
                f"received body was encrypted with a key not in symmetric_encryption_keys "
                f"(key id {key_id.hex()})"
            )
        nonce = token[1 + _KEY_ID_LENGTH : _HEADER_LENGTH]
        try:
            plain: bytes = cipher.decrypt(
                nonce, token[_HEADER_LENGTH:], token[: 1 + _KEY_ID_LENGTH]
            )
        except InvalidTag:
            raise DecryptionError(
                "received body failed authentication (tampered, truncated or wrong key)"
            ) from None
        return plain
