"""
Encrypted queues (C{_enable_encrypt_messages}): never hand out ciphertext.

Zaqar 23 encrypts a message's body when it is posted to a queue whose
metadata has C{_enable_encrypt_messages} set, and decrypts it on C{GET} of
one message, of messages by id and of a listing, but not on a claim
(C{POST .../claims}), on reading a claim (C{GET .../claims/<id>}) or on pop
(C{DELETE .../messages?pop=}): those answer with the stored ciphertext, a
base64 JSON string (quirk 5 of L{txzaqar.testing.quirks}).  So:

  - a claim's messages are read back by id (one C{GET ?ids=}, which
    decrypts and names the claim holding each message in its C{href});
    only the messages this claim still holds are kept;
  - pop is refused before anything is sent, with L{EncryptedPopRefused}:
    the server deletes what it pops, so its ciphertext could never be read
    back.

How the client knows a queue is encrypted (the bytes are not guessed at):
a L{txzaqar.api.queue.Queue} built with C{encrypted=True} or C{encrypted=False}
is taken at its word and nothing more is read.  With C{encrypted=None} (the
default) the queue's metadata is read (one C{GET}) before each pop, and
after a claim that returned at least one string body: Zaqar's ciphertext is
always a JSON string, so a claim without one cannot hold ciphertext and
costs nothing more.  Once the metadata said "encrypted" the L{Queue} object
remembers it (turning encryption off later does not decrypt what was
stored encrypted: Zaqar then returns that ciphertext on every path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attr
from twisted.logger import Logger

from ..errors import EncryptedPopRefused, EncryptedQueueError, EncryptedReadFailed, NotFound, ZaqarError

if TYPE_CHECKING:
    from .claim import Claim
    from .message import Message
    from .queue import Queue

__all__ = ["EncryptedPopRefused", "EncryptedQueueError", "EncryptedReadFailed", "EncryptionMemo",
           "claim_plaintext", "refuse_pop"]

log = Logger(namespace="txzaqar._encrypted")  # its name before the move to packages

#: The reserved metadata key that turns on encryption at rest.
ENCRYPT_KEY = "_enable_encrypt_messages"


@attr.s(slots=True, auto_attribs=True, eq=False)
class EncryptionMemo:
    """What a L{Queue} object learnt of its queue's encryption (mutable; not part of its value)."""

    #: The queue's metadata said it is encrypted.
    encrypted: bool = False


async def _is_encrypted(queue: Queue) -> bool:
    if queue.encrypted is not None:
        return queue.encrypted
    memo: EncryptionMemo = queue._encryption
    if not memo.encrypted:
        metadata = await queue.metadata()
        memo.encrypted = bool(metadata.content.get(ENCRYPT_KEY))  # as Zaqar reads it
    return memo.encrypted


async def refuse_pop(queue: Queue) -> None:
    """
    Refuse a pop on an encrypted queue (see the module's docstring for
    how that is known).

    @raise EncryptedPopRefused: the queue is encrypted; nothing was popped.
    """
    if await _is_encrypted(queue):
        raise EncryptedPopRefused(queue.name)


async def claim_plaintext(queue: Queue, claim: Claim, release: bool) -> Claim:
    """
    C{claim} with the messages' bodies as posted: on an encrypted queue the
    messages are read back by id, and those no longer held by this claim
    (gone, or claimed by another since) are left out.  A claim of an
    unencrypted queue, an empty one, or one without a string body is
    returned as it is.

    @param release: release the claim if the messages cannot be read
        (a claim the caller never saw); else it is kept.
    @return: the L{Claim} to hand out.
    @raise EncryptedReadFailed: none of the claimed messages could be read.
    """
    if not claim.messages or queue.encrypted is False:
        return claim
    if queue.encrypted is None and not queue._encryption.encrypted:
        if not any(isinstance(m.body, str) for m in claim.messages):
            return claim
    step = "reading the queue's metadata (is it encrypted?)"
    try:
        if not await _is_encrypted(queue):
            return claim
        step = "reading the claimed messages back by id"
        held = await _read_back(queue, claim)
    except ZaqarError as e:
        released = release and await _release(claim)
        raise EncryptedReadFailed(queue.name, e, released, step) from e
    return attr.evolve(claim, messages=tuple(held))


async def _read_back(queue: Queue, claim: Claim) -> list[Message]:
    """
    The messages of C{claim} as C{GET} shows them, in the claim's order.
    If the one read of them all fails (Zaqar answers 503 for the whole
    batch when it cannot decrypt one body), each is read alone and the
    unreadable ones are left in the claim, undelivered, until it expires.
    """
    ids = [m.id for m in claim.messages]
    try:
        found = {m.id: m for m in await queue.get_messages(ids)}
    except ZaqarError as e:
        if len(ids) == 1:
            raise
        found, failed = {}, []
        for mid in ids:
            try:
                found[mid] = await queue.message(mid)
            except NotFound:
                continue
            except ZaqarError:
                failed.append(mid)
        if failed and not found:
            raise e
        if failed:
            log.warn("{count} claimed messages of encrypted queue {queue} could not be read back "
                     "({ids}); left in claim {claim_id} until it expires", count=len(failed),
                     queue=queue.name, ids=failed, claim_id=claim.id)
    held = [found[mid] for mid in ids if mid in found and found[mid].claim_id == claim.id]
    if len(held) != len(ids):
        log.debug("{count} of {total} claimed messages of {queue} are no longer held by claim {claim_id}",
                  count=len(ids) - len(held), total=len(ids), queue=queue.name, claim_id=claim.id)
    return held


async def _release(claim: Claim) -> bool:
    try:
        await claim.release()
    except ZaqarError as e:
        log.warn("could not release claim {claim_id} on {queue}: {error}", claim_id=claim.id,
                 queue=claim.queue.name, error=str(e))
        return False
    return True
