"""
The in-memory Zaqar's model of encryption at rest (C{_enable_encrypt_messages}).

Zaqar 23.0.1 encrypts a body when it is posted to a queue whose metadata
has C{_enable_encrypt_messages} set: C{base64(IV + AES-256-CBC(PKCS7(p)))},
a JSON string, where C{p} is the UTF-8 of a string body and the pickle of
any other body, and the key the SHA-256 of C{[transport]
message_encryption_key}.  C{GET} of one message, of messages by id and of a
listing decrypt when the queue is encrypted I{at the time of the read};
claims, claim reads, pop and the oldest/newest of stats return the stored
ciphertext (quirk 5 of L{txzaqar.testing.quirks}).

Decrypting some bodies fails, and the whole read is then a 503: the empty
string always does (its plaintext unpickles to C{EOFError}, and a plain
C{""} posted before encryption was turned on is an empty IV); so do some
other strings whose UTF-8 is the start of a pickle (C{"("}, C{"]"}), while
a string that I{is} a pickle (C{"N."}, C{"I42\n."}) reads back unpickled.
The fake models only the empty string (L{undecryptable}).

The fake keeps the plain body and a stand-in ciphertext of the same shape
(standard base64 of a 16-byte IV and whole 16-byte blocks), computed once at
post time, no cryptography involved: it only has to be unreadable and
differ from the body.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

__all__ = ["ENCRYPT_KEY", "ciphertext", "encrypts", "undecryptable"]

#: The reserved metadata key that turns encryption on.
ENCRYPT_KEY = "_enable_encrypt_messages"

_BLOCK = 16


def encrypts(metadata: dict[str, Any] | None) -> bool:
    """Whether a queue with this metadata encrypts posted bodies (and decrypts on GET)."""
    return bool((metadata or {}).get(ENCRYPT_KEY))


def ciphertext(body: Any) -> str:
    """A stand-in ciphertext of C{body}, shaped as Zaqar's (see the module docstring)."""
    plain = body.encode("utf-8") if isinstance(body, str) else json.dumps(body).encode("utf-8")
    pad = _BLOCK - len(plain) % _BLOCK
    padded = plain + bytes([pad]) * pad
    iv = os.urandom(_BLOCK)
    stream = b""
    counter = 0
    while len(stream) < len(padded):
        stream += hashlib.sha256(iv + counter.to_bytes(8, "big")).digest()
        counter += 1
    sealed = bytes(a ^ b for a, b in zip(padded, stream, strict=False))
    return base64.b64encode(iv + sealed).decode("ascii")


def undecryptable(body: Any) -> bool:
    """Whether decrypting a message with this body fails (a 503 for the whole read)."""
    return isinstance(body, str) and not body
