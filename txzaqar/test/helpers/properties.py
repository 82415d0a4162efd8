"""
The scenarios and Hypothesis strategies of the property tests
(C{test_properties} on the in-memory Zaqar, C{test_properties_real} on the
fake and a real Zaqar): the inputs (the profile: L{txzaqar.test.helpers.profiles}), and how
one input runs on the in-memory Zaqar.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

from hypothesis import strategies as st
from twisted.internet.defer import Deferred

from txzaqar._support import validation as v
from txzaqar.api.values import RESERVED
from txzaqar.errors import ClientValidationError, ZaqarError
from txzaqar.testing import RecordingAgent, memory_client

#: examples run in this process, by kind and outcome (for the summaries)
COUNTS: Counter[str] = Counter()

# -- inputs ---------------------------------------------------------------

#: anything a caller might pass where a number or a string is expected
any_value = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20), st.binary(max_size=5),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def near(low: int, high: int | None = None) -> st.SearchStrategy[int]:
    """Integers at and around the bounds, between them, and anywhere."""
    bounds = [low] if high is None else [low, high]
    edges = st.sampled_from([b + d for b in bounds for d in (-1, 0, 1)])
    return mostly(st.one_of(edges, st.integers(low, high if high is not None else low + 1000)),
                  st.integers(-2**64, 2**64))


def mostly(valid: st.SearchStrategy[Any], *bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """C{valid} about three times in four, else one of C{bad}."""
    # (one_of(valid, valid, valid, ...) would not weigh: repeated branches are merged)
    return st.integers(0, 3).flatmap(lambda i: valid if i else st.one_of(*bad))


queue_names = mostly(
    st.from_regex(r"[a-zA-Z0-9_\-.]{1,64}", fullmatch=True),
    st.text(max_size=70),
    st.sampled_from(["a\n", "a\r", " a", "a b", "..", ".", "a/b", "a?b", "a#b", "%2F", "x" * 64, "x" * 65, "é",
                     "a\x00", "-", "_"]),
    any_value,
)

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=False,
                         allow_infinity=False), st.text())
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
#: bodies the client must refuse or send as they are: any JSON, non-JSON, and sizes around the limit
bodies = st.one_of(
    json_values,
    st.one_of(st.floats(), st.integers(), st.just({1, 2}), st.just(object()), st.just(b"bytes")),
    st.integers(v.MAX_POST_SIZE - 64, v.MAX_POST_SIZE + 16).map(lambda n: "x" * n),
    st.tuples(st.integers(v.MAX_POST_SIZE // 2 - 40, v.MAX_POST_SIZE // 2), st.sampled_from("é€😀a")).map(
        lambda t: t[1] * (t[0] // len(t[1].encode("utf-8")))),
)

ids = mostly(st.one_of(st.uuids().map(str), st.text(max_size=40)),
             st.sampled_from(["..", ".", "%", "a b", "5", "é", "a/b", "?", "#", "", "\x1f", "a\n"]), any_value)


# -- running a scenario ----------------------------------------------------

Scenario = Callable[[Any, RecordingAgent], Coroutine[Any, Any, Any]]


async def outcome(recorder: RecordingAgent, call: Callable[[], Any]) -> str:
    """
    Make C{call()} (which returns a Deferred) and say how it went:
    C{"refused"} (a L{ClientValidationError}, and nothing was sent), C{"ok"},
    or the class name of the L{ZaqarError} it failed with.
    """
    sent = len(recorder.requests)
    try:
        result = call()
        if isinstance(result, Deferred):
            await result
    except ClientValidationError:
        if len(recorder.requests) != sent:
            return "refused after sending"
        return "refused"
    except ZaqarError as e:
        return type(e).__name__
    return "ok"


def fresh_queue_name() -> str:
    return f"prop-{uuid.uuid4().hex[:16]}"


async def queue_name_scenario(client: Any, recorder: RecordingAgent, name: Any) -> str:
    result = await outcome(recorder, lambda: client.queue(name).create())
    if result == "ok":
        await client.queue(name).delete()
    return result


async def body_scenario(client: Any, recorder: RecordingAgent, body: Any) -> str:
    """Post C{body}; read it back: C{"changed"} when it does not come back as it was."""
    queue = client.queue(fresh_queue_name())
    posted: list[str] = []

    async def post() -> None:
        posted.extend(await queue.post({"body": body}))

    result = await outcome(recorder, lambda: Deferred.fromCoroutine(post()))
    if result == "ok":
        [message_id] = posted
        message = await queue.message(message_id)
        if json.dumps(message.body, sort_keys=True) != json.dumps(body, sort_keys=True):
            result = "changed"
        await queue.delete()
    return result


async def ttl_delay_scenario(client: Any, recorder: RecordingAgent, ttl_delay: tuple[Any, Any]) -> str:
    ttl, delay = ttl_delay
    queue = client.queue(fresh_queue_name())
    message: dict[str, Any] = {"body": 1}
    if ttl is not None:
        message["ttl"] = ttl
    if delay is not None:
        message["delay"] = delay
    result = await outcome(recorder, lambda: queue.post(message))
    if result == "ok":
        await queue.delete()
    return result


async def claim_scenario(client: Any, recorder: RecordingAgent, args: tuple[Any, Any, Any]) -> str:
    limit, ttl, grace = args
    queue = client.queue(fresh_queue_name())
    await queue.post([{"body": i} for i in range(3)])
    result = await outcome(recorder, lambda: queue.claim(limit=limit, ttl=ttl, grace=grace))
    await queue.delete()
    return result


async def listing_scenario(client: Any, recorder: RecordingAgent, args: tuple[Any, Any]) -> str:
    limit, max_items = args
    queue = client.queue(fresh_queue_name())
    await queue.post([{"body": i} for i in range(3)])
    result = await outcome(recorder, lambda: queue.messages(limit=limit, max_items=max_items))
    await queue.delete()
    return result


async def reserved_scenario(client: Any, recorder: RecordingAgent, setting: tuple[str, Any, bool]) -> str:
    """C{configure(name=value)}, or C{create(metadata={key: value})}."""
    name, value, at_create = setting
    queue = client.queue(fresh_queue_name())
    if at_create:
        result = await outcome(recorder, lambda: queue.create({RESERVED[name][0]: value}))
    else:
        await queue.create()
        result = await outcome(recorder, lambda: queue.configure(**{name: value}))
    await queue.delete()
    if result == "ok" and name == "dead_letter_queue":
        await client.queue(value).delete()
    return result


async def id_scenario(client: Any, recorder: RecordingAgent, args: tuple[str, Any, Any]) -> str:
    what, one, other = args
    queue = client.queue(fresh_queue_name())
    await queue.create()
    calls = {
        "message": lambda: queue.message(one),
        "delete_message": lambda: queue.delete_message(one, claim_id=other),
        "get_claim": lambda: queue.get_claim(one),
        "get_messages": lambda: queue.get_messages([one]),
        "subscription": lambda: queue.subscription(one),
    }
    result = await outcome(recorder, calls[what])
    await queue.delete()
    return result


def valid_reserved(name: str) -> st.SearchStrategy[Any]:
    """Values of the type (and around the bounds) of the reserved setting C{name}."""
    rule = RESERVED[name][1]
    if rule == "queue":
        return st.from_regex(r"[a-zA-Z0-9_\-.]{1,64}", fullmatch=True)
    if rule == "bool":
        return st.booleans()
    if rule == "str":
        return st.text(max_size=20)
    assert isinstance(rule, tuple)
    return near(*rule)


#: scenario name -> (the scenario, the strategy of its input)
SCENARIOS: dict[str, tuple[Any, st.SearchStrategy[Any]]] = {
    "queue names": (queue_name_scenario, queue_names),
    "bodies": (body_scenario, bodies),
    "ttls and delays": (ttl_delay_scenario, st.tuples(
        mostly(st.one_of(st.none(), near(*v.MESSAGE_TTL)), any_value),
        mostly(st.one_of(st.none(), near(*v.MESSAGE_DELAY)), any_value))),
    "claims": (claim_scenario, st.tuples(
        mostly(st.one_of(st.none(), near(1, v.MAX_CLAIM_OR_POP)), any_value),
        mostly(st.one_of(st.none(), near(*v.CLAIM_TTL)), any_value),
        mostly(st.one_of(st.none(), near(*v.CLAIM_GRACE)), any_value))),
    "limits": (listing_scenario, st.tuples(mostly(near(1, v.MAX_PAGE), any_value),
                                           mostly(st.one_of(st.none(), near(1)), any_value))),
    "reserved metadata": (reserved_scenario, st.sampled_from(sorted(RESERVED)).flatmap(
        lambda name: st.tuples(st.just(name), mostly(valid_reserved(name), any_value, queue_names,
                                                     near(1, v.MAX_INT64)), st.booleans()))),
    "ids": (id_scenario, st.tuples(
        st.sampled_from(["message", "delete_message", "get_claim", "get_messages", "subscription"]),
        ids, st.one_of(st.none(), ids))),
}

#: outcomes that mean "the server accepted the input" (a valid request
#: about something that is not there is still a valid request)
ACCEPTED = frozenset({"ok", "NotFound"})


# -- inputs Zaqar's documentation allows: accepted, stored, read back equal -------
#
# The scenarios above accept "refused" for any input, so validation that
# refuses a valid input would go unseen.  These generate only inputs the
# API reference allows, and their outcome must be "ok": the client sent
# them, the server took them, and reading back gave them back equal.
# Anything else ("refused", an error, "changed ...") is a failure, or a
# named quirk in test_properties_real.

#: text without lone surrogates (which are not Unicode scalar values: Zaqar cannot store them)
documented_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20)
documented_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1),
              st.floats(allow_nan=False, allow_infinity=False), documented_text),
    lambda children: (st.lists(children, max_size=5)
                      | st.dictionaries(documented_text, children, max_size=5)),
    max_leaves=20,
)
#: queue names as the API reference (and python-zaqarclient) allows them
documented_queue_names = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
#: queue metadata: keys that are not reserved (no leading underscore), any JSON values
documented_metadata = st.dictionaries(documented_text.filter(lambda k: not k.startswith("_")),
                                      documented_json, max_size=5)


def same_json(a: Any, b: Any) -> bool:
    """Whether two JSON values are equal as JSON (C{1 == 1.0 == True} in Python, not in JSON)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


async def stored(recorder: RecordingAgent, call: Callable[[], Any],
                 read_back: Callable[[], Coroutine[Any, Any, str | None]]) -> str:
    """
    L{outcome} of C{call()}; when it is "ok", C{read_back()} says what came
    back different (C{"changed: ..."}), or C{None} when all is as sent.
    """
    result = await outcome(recorder, call)
    if result == "ok":
        changed = await read_back()
        if changed is not None:
            result = f"changed: {changed}"
    return result


async def valid_queue_name_scenario(client: Any, recorder: RecordingAgent, name: str) -> str:
    """Create the queue; it must be listed under its own name."""

    async def read_back() -> str | None:
        names = [q.name for q in await client.queues(limit=20)]
        return None if name in names else f"listed as {names!r:.100}"

    result = await stored(recorder, lambda: client.queue(name).create(), read_back)
    if not result.startswith("refused"):
        await client.queue(name).delete()
    return result


async def valid_body_scenario(client: Any, recorder: RecordingAgent, body: Any) -> str:
    """Post C{body}; GET, the listing and a claim must all give it back equal."""
    queue = client.queue(fresh_queue_name())
    posted: list[str] = []

    async def post() -> None:
        posted.extend(await queue.post({"body": body}))

    async def read_back() -> str | None:
        [message_id] = posted
        got = (await queue.message(message_id)).body
        listed = [m.body for m in await queue.messages()]
        claimed = [m.body for m in await queue.claim()]
        for how, value in (("GET", got), ("listing", listed[0] if listed else "<none>"),
                           ("claim", claimed[0] if claimed else "<none>")):
            if not same_json(value, body):
                return f"{how} gave {value!r:.60}"
        return None

    try:
        return await stored(recorder, lambda: Deferred.fromCoroutine(post()), read_back)
    finally:
        await queue.delete()


async def valid_ttl_delay_scenario(client: Any, recorder: RecordingAgent, ttl_delay: tuple[int, int]) -> str:
    """
    Post with a ttl and a delay to a queue that honours delays (quirk 4 of L{txzaqar.testing.quirks}):
    the ttl reads back, and the message is hidden exactly while delayed.
    """
    ttl, delay = ttl_delay
    queue = client.queue(fresh_queue_name())
    await queue.create({"_default_message_delay": v.MESSAGE_DELAY[1]})
    posted: list[str] = []

    async def post() -> None:
        posted.extend(await queue.post({"body": 1, "ttl": ttl, "delay": delay}))

    async def read_back() -> str | None:
        [message_id] = posted
        message = await queue.message(message_id)
        if message.ttl != ttl:
            return f"ttl {message.ttl}"
        visible = [m.id for m in await queue.messages()]
        if (message_id in visible) != (delay == 0):
            return f"delay {delay}: {'listed' if visible else 'hidden'}"
        return None

    try:
        return await stored(recorder, lambda: Deferred.fromCoroutine(post()), read_back)
    finally:
        await queue.delete()


async def valid_claim_scenario(client: Any, recorder: RecordingAgent, args: tuple[int, int, int]) -> str:
    """Claim with a limit, ttl and grace in range: up to C{limit} messages, the ttl reads back."""
    limit, ttl, grace = args
    queue = client.queue(fresh_queue_name())
    await queue.post([{"body": i} for i in range(3)])
    claims: list[Any] = []

    async def claim() -> None:
        claims.append(await queue.claim(limit=limit, ttl=ttl, grace=grace))

    async def read_back() -> str | None:
        [claim] = claims
        if len(claim) != min(limit, 3):
            return f"{len(claim)} claimed"
        again = await claim.reload()
        return None if again.ttl == ttl and len(again) == len(claim) else f"reloaded {again!r}"

    try:
        return await stored(recorder, lambda: Deferred.fromCoroutine(claim()), read_back)
    finally:
        await queue.delete()


async def valid_metadata_scenario(client: Any, recorder: RecordingAgent, metadata: dict[str, Any]) -> str:
    """Create a queue with C{metadata}; every key must read back equal."""
    queue = client.queue(fresh_queue_name())

    async def read_back() -> str | None:
        content = (await queue.metadata()).content
        for key, value in metadata.items():
            if key not in content or not same_json(content[key], value):
                return f"{key!r:.30} read back as {content.get(key, '<missing>')!r:.30}"
        return None

    try:
        return await stored(recorder, lambda: queue.create(metadata), read_back)
    finally:
        await queue.delete()


def _in(value: Any, bounds: tuple[int, int], optional: bool = True) -> bool:
    if value is None:
        return optional
    return type(value) is int and bounds[0] <= value <= bounds[1]


#: scenario name -> whether the API reference allows an input of the mixed
#: strategies above; the client must not refuse such an input
DOCUMENTED: dict[str, Callable[[Any], bool]] = {
    "queue names": lambda name: isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name) is not None,
    "ttls and delays": lambda a: _in(a[0], v.MESSAGE_TTL) and _in(a[1], v.MESSAGE_DELAY),
    "claims": lambda a: (_in(a[0], (1, v.MAX_CLAIM_OR_POP)) and _in(a[1], v.CLAIM_TTL)
                         and _in(a[2], v.CLAIM_GRACE)),
    "limits": lambda a: _in(a[0], (1, v.MAX_PAGE), optional=False) and _in(a[1], (1, v.MAX_INT64)),
}


def over_refused(kind: str, value: Any, result: str) -> bool:
    """Whether C{result} is the client refusing an input the API reference allows."""
    documented = DOCUMENTED.get(kind)
    return result.startswith("refused") and documented is not None and documented(value)


#: one-message posts up to the documented post size (256 KiB, the request as sent, in UTF-8),
#: of ASCII and of 2-, 3- and 4-byte characters
documented_large_bodies = st.tuples(
    st.integers(v.MAX_POST_SIZE // 2, v.MAX_POST_SIZE - 64), st.sampled_from("a\u00e9\u20ac\U0001f600"),
).map(lambda t: t[1] * (t[0] // len(t[1].encode("utf-8"))))

#: scenario name -> (the scenario, its strategy): documented-valid inputs, which must come out "ok"
VALID_SCENARIOS: dict[str, tuple[Any, st.SearchStrategy[Any]]] = {
    "valid queue names": (valid_queue_name_scenario, documented_queue_names),
    "valid bodies": (valid_body_scenario, documented_json),
    "valid large bodies": (valid_body_scenario, documented_large_bodies),
    "valid ttls and delays": (valid_ttl_delay_scenario, st.tuples(
        st.one_of(st.sampled_from(v.MESSAGE_TTL), st.integers(*v.MESSAGE_TTL)),
        st.one_of(st.sampled_from(v.MESSAGE_DELAY), st.integers(*v.MESSAGE_DELAY)))),
    "valid claims": (valid_claim_scenario, st.tuples(
        st.integers(1, v.MAX_CLAIM_OR_POP),
        st.one_of(st.sampled_from(v.CLAIM_TTL), st.integers(*v.CLAIM_TTL)),
        st.one_of(st.sampled_from(v.CLAIM_GRACE), st.integers(*v.CLAIM_GRACE)))),
    "valid metadata": (valid_metadata_scenario, documented_metadata),
}


def run_on_memory(scenario: Any, value: Any) -> str:
    """Run C{scenario} with C{value} on a fresh in-memory Zaqar; its outcome."""
    client, _ = memory_client()
    recorder = RecordingAgent(client.connection.agent)
    client.connection.agent = recorder
    d = Deferred.fromCoroutine(scenario(client, recorder, value))
    results: list[Any] = []
    d.addBoth(results.append)
    assert results, "the in-memory scenario did not finish at once"
    if not isinstance(results[0], str):
        results[0].raiseException()
    return str(results[0])
