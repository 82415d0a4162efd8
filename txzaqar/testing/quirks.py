"""
The Zaqar 23.0.1 server quirks (on Redis) that txzaqar defends against,
numbered: the code and the tests say "quirk N" of this page.

Each was seen on a real server and is pinned by a contract test named
C{test_quirk_*} (L{txzaqar.testing.contract}), which runs against the
real servers and skips on the in-memory Zaqar where the fake does not
claim to have the quirk (see L{txzaqar.testing.memory}: the quirks it does
model say "kept").

 1. B{A marker at rank 0 restarts a listing.}  The storage computes the
    next start as C{rank + 1 if rank else 0}: a marker that names the first
    item, or no item at all, starts again from the top, so with C{limit=1}
    page 2 repeats page 1 for ever (queues, messages, WebSocket lists).
    Defence: listings stop when a page's marker repeats or a page is short
    (L{txzaqar.api._paging}).  Pinned by
    C{test_quirk_8_1_marker_at_rank_0_restarts_listing}.
 2. B{C{include_claimed=true} without a marker is a 503} (500 over the
    WebSocket).  Defence: the client always sends a marker with it.  Pinned
    by C{test_quirk_8_2_include_claimed_without_marker_503}.
 3. B{A GET of a missing queue is a 200 with defaults; a PUT of an existing
    queue is a 204 that ignores its body.}  Modelled by the fake ("kept":
    callers rely on it).
 4. B{A message's C{delay} is ignored unless the queue has
    C{_default_message_delay}.}  Pinned by
    C{test_quirk_8_4_delay_ignored_without_default_delay}.
 5. B{Encrypted queues return ciphertext from claims, claim reads, pop and
    stats.}  Defence: L{txzaqar.api._encrypted} (a consumer never receives
    ciphertext, and a message it cannot read is never deleted).  Pinned by
    the encrypted contract (L{txzaqar.testing.contract_encrypted}).
 6. B{A PATCH with an object body is a 503}; a wrong content type is a 415
    before the body is read.  Defence: the client sends metadata changes as
    JSON-patch lists with the JSON-patch content type.  Pinned by C{test_quirk_8_6_patch_object_body_503}.
 7. B{C{name} and metadata filters on queue listings are ignored.}
    The listing's documentation says so (they apply on MongoDB only).  Pinned by
    C{test_quirk_8_7_queue_filters_ignored}.
 8. B{Topics are unusable, and pools on a Redis management store are
    500s.}  The in-memory Zaqar answers 404 for them.
 9. B{Status codes are not uniform}: pop is a 200 even when nothing was
    free, a claim of nothing is a 204 without a body, and share is a 200,
    not a 201.  Modelled by the fake ("kept").
 10. B{A claim after a release takes the messages of a later live claim}:
     a claim scans from the oldest message and takes every later message
     after the first free one, even when another claim holds it; those
     messages are delivered twice.  Pinned by
     C{test_quirk_claim_after_release_takes_later_claims_messages}.
 11. B{A message moved to the dead-letter queue stays claimed} by the claim
     attempt that moved it (which answered 204), hidden in the dead-letter
     queue until that claim expires.  Pinned by
     C{test_quirk_3_dlq_moved_message_stays_claimed}.
 12. B{A queue name with a dot is accepted by a raw PUT, but listed cut at
     its first dot.}  Defence: the client refuses dots in names.  Pinned by
     C{test_quirk_dotted_names_listed_cut}.
 13. B{A decrypted string body is unpickled}: on an encrypted queue the
     string C{"N."} reads back as C{None} (C{pickle.loads} of user data).
     Pinned by C{test_quirk_encrypted_string_that_is_a_pickle}; the README's
     "Encrypted queues" says what to avoid.
"""

__all__: list[str] = []
