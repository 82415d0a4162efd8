"""
The commands of C{txzaqar}, one table: each L{Command} names its words
(C{("queue", "list")}), its arguments and options, and the coroutine that
runs it over the library's public API with a L{Context}.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from contextlib import nullcontext
from typing import Any, TextIO

import attr
from twisted.python import usage

from ._output import Output


@attr.s(auto_attribs=True)
class Context:
    """What a command runs with."""

    #: The L{txzaqar.Client}.
    client: Any
    #: The command's parsed options (its arguments under their names).
    options: Any
    #: Where its results go.
    out: Output
    #: Standard input (C{post} reads messages from it).
    stdin: TextIO
    #: The reactor (C{tail -f} waits on it).
    reactor: Any
    #: Where lines other than results go (C{redrive} names the messages it may have duplicated).
    stderr: TextIO = attr.ib(factory=lambda: sys.stderr)
    #: Makes the TLS policy (C{IPolicyForHTTPS}) of C{wss://} push, as the client's HTTPS one (C{None}: the system's).
    tls: Callable[[], Any] = lambda: None


@attr.s(auto_attribs=True, frozen=True)
class Command:
    """One command of the table."""

    #: Its words: C{("ping",)}, C{("queue", "list")}.
    words: tuple[str, ...]
    #: One line for C{--help}.
    summary: str
    #: The coroutine that runs it.
    run: Callable[[Context], Awaitable[None]]
    #: Its positional arguments; a last one ending in C{"..."} takes one or more, in C{"*"} any number.
    arguments: tuple[str, ...] = ()
    #: Its options, as C{usage.Options.optParameters} rows.
    parameters: tuple[tuple[Any, ...], ...] = ()
    #: Its flags, as C{usage.Options.optFlags} rows.
    flags: tuple[tuple[Any, ...], ...] = ()
    #: Integer options (checked when parsed): their names.
    integers: tuple[str, ...] = ()


def json_argument(name: str, text: str) -> Any:
    """C{text} parsed as JSON, or a C{usage.UsageError} naming C{name}."""
    try:
        return json.loads(text)
    except ValueError as e:
        raise usage.UsageError(f"{name}: not JSON ({e}): {text[:60]!r}") from None


def message_row(message: Any) -> dict[str, Any]:
    """A message as the row printed."""
    return {"id": message.id, "age": message.age, "ttl": message.ttl, "claim_count": message.claim_count,
            "claim_id": message.claim_id, "body": message.body}


MESSAGE_COLUMNS = ("id", "age", "ttl", "body")


async def _ping(c: Context) -> None:
    await c.client.ping()
    c.out.record({"ping": "ok", "url": c.client.connection.url})


async def _health(c: Context) -> None:
    c.out.record(await c.client.health())


async def _homedoc(c: Context) -> None:
    c.out.record(await c.client.home())


async def _queue_list(c: Context) -> None:
    rows = []
    async for queue in c.client.iter_queues(limit=c.options["limit"], detailed=c.options["detailed"]):
        row: dict[str, Any] = {"name": queue.name}
        if c.options["detailed"]:
            snapshot = queue.metadata_snapshot
            row["metadata"] = dict(snapshot.content) if snapshot is not None else {}
        rows.append(row)
    c.out.rows(rows, ("name", "metadata") if c.options["detailed"] else ("name",))


async def _queue_create(c: Context) -> None:
    metadata = c.options["metadata"]
    created = await c.client.queue(c.options["name"]).create(metadata)
    c.out.record({"name": c.options["name"], "created": created})


async def _queue_delete(c: Context) -> None:
    await c.client.queue(c.options["name"]).delete()
    c.out.record({"name": c.options["name"], "deleted": True})


async def _queue_stats(c: Context) -> None:
    stats = await c.client.queue(c.options["name"]).stats()
    c.out.record({"name": c.options["name"], "claimed": stats.claimed, "free": stats.free,
                  "total": stats.total, "oldest": stats.oldest, "newest": stats.newest})


async def _queue_metadata(c: Context) -> None:
    metadata = await c.client.queue(c.options["name"]).metadata()
    c.out.record(dict(metadata.content))


async def _queue_set_metadata(c: Context) -> None:
    metadata = await c.client.queue(c.options["name"]).set_metadata(c.options["metadata"])
    c.out.record(dict(metadata.content))


async def _queue_purge(c: Context) -> None:
    types = c.options["resource-types"]
    await c.client.queue(c.options["name"]).purge(types.split(",") if types else None)
    c.out.record({"name": c.options["name"], "purged": True})


async def _queue_signed_url(c: Context) -> None:
    o = c.options
    signed = await c.client.queue(o["name"]).share(
        paths=o["paths"].split(",") if o["paths"] else None,
        methods=o["methods"].split(",") if o["methods"] else None,
        expires=o["expires"])
    c.out.record(signed.to_json(c.client.connection.url))


async def _message_list(c: Context) -> None:
    queue = c.client.queue(c.options["queue"])
    messages = await queue.messages(limit=c.options["limit"], include_claimed=c.options["include-claimed"],
                                    max_items=c.options["max"])
    c.out.rows([message_row(m) for m in messages], MESSAGE_COLUMNS)


async def _message_get(c: Context) -> None:
    queue = c.client.queue(c.options["queue"])
    messages = await queue.get_messages(c.options["ids"])
    c.out.rows([message_row(m) for m in messages], MESSAGE_COLUMNS)


async def _message_delete(c: Context) -> None:
    queue = c.client.queue(c.options["queue"])
    ids = c.options["ids"]
    if c.options["claim-id"]:
        for message_id in ids:
            await queue.delete_message(message_id, claim_id=c.options["claim-id"])
    else:
        await queue.delete_messages(ids)
    c.out.rows([{"id": i, "deleted": True} for i in ids], ("id", "deleted"))


async def _message_pop(c: Context) -> None:
    messages = await c.client.queue(c.options["queue"]).pop(c.options["count"])
    c.out.rows([message_row(m) for m in messages], MESSAGE_COLUMNS)


#: The columns of claimed messages in a table.
CLAIM_COLUMNS = ("claim_id", "id", "age", "ttl", "body")


async def _claim_create(c: Context) -> None:
    o = c.options
    claim = await c.client.queue(o["queue"]).claim(limit=o["limit"], ttl=o["ttl"], grace=o["grace"])
    c.out.rows([message_row(m) | {"claim_id": claim.id} for m in claim], CLAIM_COLUMNS)


async def _claim_query(c: Context) -> None:
    claim = await c.client.queue(c.options["queue"]).get_claim(c.options["claim_id"])
    c.out.record({"claim_id": claim.id, "ttl": claim.ttl, "age": claim.age, "messages": [m.id for m in claim]})


async def _claim_renew(c: Context) -> None:
    o = c.options
    claim = await c.client.queue(o["queue"]).get_claim(o["claim_id"])
    renewed = await claim.renew(ttl=o["ttl"], grace=o["grace"])
    c.out.record({"claim_id": renewed.id, "ttl": renewed.ttl, "grace": renewed.grace, "renewed": True})


async def _claim_release(c: Context) -> None:
    claim = await c.client.queue(c.options["queue"]).get_claim(c.options["claim_id"])
    await claim.release()
    c.out.record({"claim_id": claim.id, "released": True, "messages": [m.id for m in claim]})


#: The columns of subscriptions in a table.
SUBSCRIPTION_COLUMNS = ("id", "subscriber", "ttl", "age", "confirmed", "options")


def subscription_row(subscription: Any) -> dict[str, Any]:
    """A subscription as the row printed."""
    return {"id": subscription.id, "subscriber": subscription.subscriber, "ttl": subscription.ttl,
            "age": subscription.age, "confirmed": subscription.confirmed, "options": dict(subscription.options)}


async def _subscription_create(c: Context) -> None:
    o = c.options
    subscription = await c.client.queue(o["queue"]).subscribe(o["subscriber"], ttl=o["ttl"], options=o["options"])
    c.out.record(subscription_row(subscription))


async def _subscription_show(c: Context) -> None:
    c.out.record(subscription_row(await c.client.queue(c.options["queue"]).subscription(c.options["subscription_id"])))


async def _subscription_list(c: Context) -> None:
    subscriptions = await c.client.queue(c.options["queue"]).subscriptions(limit=c.options["limit"])
    c.out.rows([subscription_row(s) for s in subscriptions], SUBSCRIPTION_COLUMNS)


async def _subscription_update(c: Context) -> None:
    o = c.options
    if o["subscriber"] is None and o["ttl"] is None and o["options"] is None:
        raise usage.UsageError("subscription update needs at least one of --subscriber, --ttl, --options")
    queue = c.client.queue(o["queue"])
    subscription = await queue.subscription(o["subscription_id"])
    await subscription.update(subscriber=o["subscriber"], ttl=o["ttl"], options=o["options"])
    c.out.record(subscription_row(await subscription.reload()))


async def _subscription_delete(c: Context) -> None:
    subscription = await c.client.queue(c.options["queue"]).subscription(c.options["subscription_id"])
    await subscription.delete()
    c.out.record({"id": subscription.id, "deleted": True})


async def _subscription_confirm(c: Context) -> None:
    subscription = await c.client.queue(c.options["queue"]).subscription(c.options["subscription_id"])
    confirmed = not c.options["unconfirm"]
    await subscription.confirm(confirmed)
    c.out.record({"id": subscription.id, "confirmed": confirmed})


#: The columns of pools in a table.
POOL_COLUMNS = ("name", "uri", "weight", "flavor", "options")
#: The columns of flavors in a table.
FLAVOR_COLUMNS = ("name", "pool_list", "capabilities")


def _without_href(document: Any) -> dict[str, Any]:
    return {k: v for k, v in dict(document).items() if k != "href"}


async def _pool_create(c: Context) -> None:
    o = c.options
    pool = await c.client.create_pool(o["name"], o["uri"], o["weight"], flavor=o["flavor"], options=o["options"])
    c.out.record(_without_href(await pool.get(detailed=True)))


async def _pool_show(c: Context) -> None:
    c.out.record(_without_href(await c.client.pool(c.options["name"]).get(detailed=c.options["detailed"])))


async def _pool_update(c: Context) -> None:
    o = c.options
    if all(o[k] is None for k in ("uri", "weight", "flavor", "options")):
        raise usage.UsageError("pool update needs at least one of --uri, --weight, --flavor, --options")
    pool = c.client.pool(o["name"])
    await pool.update(uri=o["uri"], weight=o["weight"], flavor=o["flavor"], options=o["options"])
    c.out.record(_without_href(await pool.get(detailed=True)))


async def _pool_delete(c: Context) -> None:
    await c.client.pool(c.options["name"]).delete()
    c.out.record({"name": c.options["name"], "deleted": True})


async def _pool_list(c: Context) -> None:
    pools = await c.client.pools(limit=c.options["limit"], detailed=c.options["detailed"])
    c.out.rows([_without_href(p) for p in pools], POOL_COLUMNS if c.options["detailed"] else POOL_COLUMNS[:4])


async def _flavor_create(c: Context) -> None:
    flavor = await c.client.create_flavor(c.options["name"], c.options["pools"])
    c.out.record(_without_href(await flavor.get(detailed=True)))


async def _flavor_show(c: Context) -> None:
    c.out.record(_without_href(await c.client.flavor(c.options["name"]).get(detailed=c.options["detailed"])))


async def _flavor_update(c: Context) -> None:
    flavor = c.client.flavor(c.options["name"])
    await flavor.update(pool_list=c.options["pools"])
    c.out.record(_without_href(await flavor.get(detailed=True)))


async def _flavor_delete(c: Context) -> None:
    await c.client.flavor(c.options["name"]).delete()
    c.out.record({"name": c.options["name"], "deleted": True})


async def _flavor_list(c: Context) -> None:
    flavors = await c.client.flavors(limit=c.options["limit"], detailed=c.options["detailed"])
    c.out.rows([_without_href(f) for f in flavors], FLAVOR_COLUMNS if c.options["detailed"] else FLAVOR_COLUMNS[:2])


async def fitted_queue(client: Any, name: str) -> Any:
    """The queue C{name}, whose posts are split to fit its own C{_max_messages_post_size} when it has one."""
    from .. import ZaqarError

    try:
        size = (await client.queue(name).metadata()).max_messages_post_size
    except ZaqarError:  # no such queue yet, or a signed URL without GET: the server's limit
        size = None
    return client.queue(name, max_post_size=size)


def _bodies(c: Context) -> list[Any]:
    texts = c.options["messages"] or [line for line in c.stdin.read().splitlines() if line.strip()]
    if not texts:
        raise usage.UsageError("no messages: give JSON bodies as arguments, or one per line on standard input")
    return [json_argument(f"message {i}", t) for i, t in enumerate(texts, 1)]


async def _post(c: Context) -> None:
    bodies = _bodies(c)
    queue = await fitted_queue(c.client, c.options["queue"])
    ids = await queue.post([{"body": b} for b in bodies], ttl=c.options["ttl"], delay=c.options["delay"])
    c.out.rows([{"id": i} for i in ids], ("id",))


def _interval(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 3600:
        raise usage.UsageError(f"--interval must be seconds above 0 (at most 3600), not {text!r}")
    return seconds


def _websocket_url(o: Any) -> str | None:
    """C{tail}'s C{--websocket-url} (C{$ZAQAR_WEBSOCKET_URL}), checked; C{None} without it or without -f."""
    from .. import ClientValidationError
    from .._support import validation
    from ..auth import _environment as environment

    if not o["follow"]:
        if o["websocket-url"] is not None:
            raise usage.UsageError("--websocket-url is used only with -f")
        return None
    url: str | None = o["websocket-url"] or environment.variable("ZAQAR_WEBSOCKET_URL")
    if url is not None:
        try:
            validation.websocket_url(url)
        except ClientValidationError:
            raise usage.UsageError(f"--websocket-url must be a ws:// or wss:// URL, not {url!r}") from None
    return url


async def _tail(c: Context) -> None:
    from .._connect import websocket_push
    from ._follow import Stop, consume, drain, on_shutdown, tail
    from ._wake import PushReport, follow, safety_interval

    o = c.options
    interval = _interval(o["interval"])
    url = _websocket_url(o)
    queue = c.client.queue(o["queue"])

    def emit(message: Any) -> None:
        c.out.row(message_row(message), MESSAGE_COLUMNS)

    def say(line: str) -> None:
        c.stderr.write(f"txzaqar: {line}\n")
        c.stderr.flush()

    stop = Stop(c.reactor)
    push = None if url is None else websocket_push(c.client, url, tls=c.tls())
    meanwhile = "polling as usual until it is up" if o["consume"] else f"reading every {interval:g} s until it is up"
    with on_shutdown(c.reactor, stop), PushReport(say, meanwhile) if push is not None else nullcontext():
        if o["consume"] and o["follow"]:
            await consume(c.client, o["queue"], emit, stop, interval, push, safety_interval(interval), c.reactor)
        elif o["consume"]:
            await drain(queue, emit, stop)
        elif push is not None:
            await follow(queue, emit, stop, interval, push, say)
        else:
            await tail(queue, emit, stop, o["follow"], interval)


async def _redrive(c: Context) -> None:
    from ._follow import RedriveFailed, check_redrive, redrive

    o = c.options
    source_name, target_name = o["dead_letter_queue"], o["to"]
    if not target_name:
        raise usage.UsageError("redrive needs --to QUEUE")
    check_redrive(source_name, target_name, o["limit"])
    source = c.client.queue(source_name)
    target = await fitted_queue(c.client, target_name)

    def summary(moved: int) -> None:
        if c.out.format == "json":
            c.out.record({"moved": moved, "from": source_name, "to": target_name})
        else:
            c.out.stream.write(f"moved {moved} message{'' if moved == 1 else 's'} from {source_name} to {target_name}\n")
            c.out.stream.flush()

    try:
        moved = await redrive(source, target, o["limit"])
    except RedriveFailed as e:
        for old, new in e.duplicated:
            c.stderr.write(f"txzaqar: may be duplicated: message {old} of {source_name} "
                           f"(posted to {target_name} as {new}, not deleted)\n")
        c.stderr.flush()
        summary(e.moved)
        raise e.cause from None
    summary(moved)


_POST = ("post", "post messages: each argument (or each line of standard input) is one JSON body; "
         "split into as many requests as the queue's post size limit needs")
_POST_OPTIONS = dict(arguments=("queue", "messages*"), integers=("ttl", "delay"), parameters=(
    ("ttl", None, None, "seconds each message lives [default: the queue's]"),
    ("delay", None, None, "seconds before each message can be claimed [default: the queue's]")))

_LIMIT = ("limit", None, "10", "items asked for per request (1 to 20)")

#: Every command, in the order C{txzaqar --help} lists them.
COMMANDS: tuple[Command, ...] = (
    Command(("ping",), "check that Zaqar answers (with these credentials)", _ping),
    Command(("health",), "Zaqar's health (an admin's credentials)", _health),
    Command(("homedoc",), "Zaqar's home document (its API's resources)", _homedoc),
    Command(("queue", "list"), "the project's queues", _queue_list, parameters=(_LIMIT,),
            flags=(("detailed", None, "with each queue's metadata"),), integers=("limit",)),
    Command(("queue", "create"), "create a queue", _queue_create, ("name",),
            parameters=(("metadata", None, None, "its metadata, a JSON object"),)),
    Command(("queue", "delete"), "delete a queue and its messages", _queue_delete, ("name",)),
    Command(("queue", "stats"), "a queue's message counts", _queue_stats, ("name",)),
    Command(("queue", "metadata"), "a queue's metadata (openstack messaging queue get metadata)",
            _queue_metadata, ("name",)),
    Command(("queue", "set-metadata"), "replace a queue's metadata with a JSON object",
            _queue_set_metadata, ("name", "metadata")),
    Command(("queue", "purge"), "delete a queue's messages (and/or subscriptions), keep the queue",
            _queue_purge, ("name",),
            parameters=(("resource-types", None, None, "messages,subscriptions [default: both]"),)),
    Command(("queue", "signed-url"), "a pre-signed URL of a queue, as the JSON --signed-url-file reads",
            _queue_signed_url, ("name",),
            parameters=(("paths", None, None, "messages,subscriptions,claims [default: the server's]"),
                        ("methods", None, None, "GET,HEAD,OPTIONS,POST,PUT,DELETE [default: the server's]"),
                        ("expires", None, None, "expiry, ISO 8601 UTC [default: the server's, a day]"))),
    Command(("post",), _POST[1], _post, **_POST_OPTIONS),  # type: ignore[arg-type]
    Command(("message", "post"), _POST[1], _post, **_POST_OPTIONS),  # type: ignore[arg-type]
    Command(("message", "list"), "list a queue's messages without claiming them", _message_list, ("queue",),
            parameters=(_LIMIT, ("max", None, None, "list at most this many [default: all]")),
            flags=(("include-claimed", None, "also claimed messages"),), integers=("limit", "max")),
    Command(("message", "get"), "get messages by id", _message_get, ("queue", "ids...")),
    Command(("message", "delete"), "delete messages by id", _message_delete, ("queue", "ids..."),
            parameters=(("claim-id", None, None, "the claim holding them (required for claimed messages)"),)),
    Command(("message", "pop"), "claim and delete messages at once, printing them", _message_pop,
            ("queue",), parameters=(("count", None, "1", "how many (1 to 20)"),), integers=("count",)),
    Command(("claim", "create"), "claim messages of a queue, printing them with the claim's id", _claim_create,
            ("queue",), parameters=(
                ("ttl", None, None, "seconds the claim lasts unless renewed (60 to 43200) [default: 300]"),
                ("grace", None, None, "seconds the messages live beyond the claim (60 to 43200) [default: 60]"),
                ("limit", None, None, "claim at most this many (1 to 20) [default: 10]")),
            integers=("ttl", "grace", "limit")),
    Command(("claim", "query"), "a claim's ttl, age and messages (an expired or released one: not found)",
            _claim_query, ("queue", "claim_id")),
    Command(("claim", "renew"), "renew a claim: its ttl and grace start again (the same ttl unless --ttl)",
            _claim_renew, ("queue", "claim_id"), parameters=(
                ("ttl", None, None, "its new ttl (60 to 43200) [default: its ttl]"),
                ("grace", None, None, "its new grace (60 to 43200) [default: the server's]")),
            integers=("ttl", "grace")),
    Command(("claim", "release"), "release a claim: its messages can be claimed again at once "
            "(an expired or released one: not found)", _claim_release, ("queue", "claim_id")),
    Command(("subscription", "create"), "subscribe a URI (http(s)://, trust+http(s)://, mailto:) to a queue's "
            "messages", _subscription_create, ("queue", "subscriber"), parameters=(
                ("ttl", None, None, "seconds it lasts [default: 3600]"),
                ("options", None, None, "its options, a JSON object [default: {}]")),
            integers=("ttl",)),
    Command(("subscription", "update"), "change a subscription's subscriber, ttl or options", _subscription_update,
            ("queue", "subscription_id"), parameters=(
                ("subscriber", None, None, "its new subscriber URI"),
                ("ttl", None, None, "its new ttl, in seconds"),
                ("options", None, None, "its new options, a JSON object")),
            integers=("ttl",)),
    Command(("subscription", "delete"), "delete a subscription (one that does not exist: not found)",
            _subscription_delete, ("queue", "subscription_id")),
    Command(("subscription", "show"), "a subscription", _subscription_show, ("queue", "subscription_id")),
    Command(("subscription", "list"), "a queue's subscriptions", _subscription_list, ("queue",),
            parameters=(_LIMIT,), integers=("limit",)),
    Command(("subscription", "confirm"), "confirm a subscription (--unconfirm: take the confirmation back)",
            _subscription_confirm, ("queue", "subscription_id"),
            flags=(("unconfirm", None, "mark it not confirmed"),)),
    Command(("pool", "create"), "create (or replace) a storage pool (admin; a server with pooling)", _pool_create,
            ("name", "uri", "weight"), parameters=(
                ("flavor", None, None, "the flavor it belongs to"),
                ("options", None, None, "its storage options, a JSON object")),
            integers=("weight",)),
    Command(("pool", "show"), "a pool (admin)", _pool_show, ("name",),
            flags=(("detailed", None, "with its options"),)),
    Command(("pool", "update"), "change a pool's uri, weight, flavor or options (admin)", _pool_update, ("name",),
            parameters=(("uri", None, None, "its new storage URI"), ("weight", None, None, "its new weight"),
                        ("flavor", None, None, "its new flavor"),
                        ("options", None, None, "its new storage options, a JSON object")),
            integers=("weight",)),
    Command(("pool", "delete"), "delete a pool (admin; Zaqar 23 answers 204 for one that does not exist)",
            _pool_delete, ("name",)),
    Command(("pool", "list"), "the pools (admin)", _pool_list, parameters=(_LIMIT,),
            flags=(("detailed", None, "with each pool's options"),), integers=("limit",)),
    Command(("flavor", "create"), "create a flavor over existing pools (admin; each pool leaves its previous "
            "flavor)", _flavor_create, ("name", "pools...")),
    Command(("flavor", "show"), "a flavor (admin)", _flavor_show, ("name",),
            flags=(("detailed", None, "with its capabilities"),)),
    Command(("flavor", "update"), "replace a flavor's pools (admin)", _flavor_update, ("name", "pools...")),
    Command(("flavor", "delete"), "delete a flavor (admin; Zaqar 23 answers 204 for one that does not exist)",
            _flavor_delete, ("name",)),
    Command(("flavor", "list"), "the project's flavors (admin)", _flavor_list, parameters=(_LIMIT,),
            flags=(("detailed", None, "with each flavor's capabilities"),), integers=("limit",)),
    Command(("tail",), "print a queue's messages (claimed ones included) once each, without consuming them; "
            "-f: go on as they arrive until SIGINT or SIGTERM, woken by Zaqar's push notifications with "
            "--websocket-url, else reading every --interval", _tail, ("queue",),
            parameters=(("interval", None, "1", "seconds between reads with -f (while push is up: at least 30, "
                                                "the safety net)"),
                        ("websocket-url", None, None, "with -f: Zaqar's WebSocket transport, ws:// or wss://, "
                                                      "whose notifications wake tail at once (polling every "
                                                      "--interval while they do not flow) [default: "
                                                      "$ZAQAR_WEBSOCKET_URL; none: polling only]")),
            flags=(("follow", "f", "go on printing messages as they arrive, until SIGINT or SIGTERM"),
                   ("consume", None, "claim and delete each message printed (with -f: as a Subscriber "
                                     "does; without: until the queue is empty)"))),
    Command(("redrive",), "move messages out of a dead-letter queue into --to: claim, post, delete "
            "(never lost, at worst duplicated: then each such message is named on stderr)", _redrive,
            ("dead_letter_queue",),
            parameters=(("to", None, None, "the queue to move them to (required)"),
                        ("limit", None, None, "move at most this many [default: all]")),
            integers=("limit",)),
)


def find(words: Sequence[str]) -> Command:
    """The command of these words."""
    for command in COMMANDS:
        if command.words == tuple(words):
            return command
    raise KeyError(" ".join(words))
