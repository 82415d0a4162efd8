"""
The server-side checks of Zaqar 23.0.1 (C{zaqar/transport/validation.py}
and the C{[transport]} defaults), as data: every limit is one L{Bound} in
L{BOUNDS} (field, bound, Zaqar's description), and every typed field of
queue metadata and retry policies is one L{FieldCheck}.

A failed check raises L{ValidationFailed} with Zaqar's description; as in
Zaqar, the resource that ran it picks the title (most answer C{"Invalid
API request"}, a metadata PATCH answers C{"Invalid request body"}).  No
HTTP here.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from typing import Any

import attr

__all__ = [
    "BOUNDS",
    "DEFAULT_CLAIM_GRACE",
    "DEFAULT_CLAIM_LIMIT",
    "DEFAULT_CLAIM_TTL",
    "DEFAULT_MESSAGE_TTL",
    "DEFAULT_PER_PAGE",
    "DEFAULT_SUBSCRIPTION_TTL",
    "DOCUMENT_NOT_SUPPORTED",
    "MAX_POST_SIZE",
    "QUEUE_METADATA",
    "QUEUE_NAME_RE",
    "RETRY_POLICY",
    "SUBSCRIBER_TYPES",
    "Bound",
    "FieldCheck",
    "ValidationFailed",
    "check_metadata",
    "check_retry_policy",
    "check_subscription",
    "claim_document",
    "message_fields",
    "queue_post_size_description",
    "wash_change",
]

# -- limits and defaults (Zaqar 23.0.1, [transport]) ---------------------------

#: The shortest message ttl, in seconds.
MIN_MESSAGE_TTL = 60
#: The longest message ttl, in seconds (14 days).
MAX_MESSAGE_TTL = 1209600
#: The message ttl when none is given (a queue's C{_default_message_ttl} unless set).
DEFAULT_MESSAGE_TTL = 3600
#: The longest message delay, in seconds.
MAX_MESSAGE_DELAY = 900
#: The shortest claim ttl, in seconds.
MIN_CLAIM_TTL = 60
#: The longest claim ttl, in seconds (12 hours).
MAX_CLAIM_TTL = 43200
#: The shortest claim grace, in seconds.
MIN_CLAIM_GRACE = 60
#: The longest claim grace, in seconds.
MAX_CLAIM_GRACE = 43200
#: The claim ttl when none is given, in seconds.
DEFAULT_CLAIM_TTL = 300
#: The claim grace when none is given, in seconds.
DEFAULT_CLAIM_GRACE = 60
#: How many messages a claim takes when no C{limit} is given.
DEFAULT_CLAIM_LIMIT = 10
#: The largest page a listing (or C{ids}) may ask for.
MAX_PER_PAGE = 20
#: The page size of a listing when no C{limit} is given.
DEFAULT_PER_PAGE = 10
#: The most messages one claim or pop may take.
MAX_CLAIM_OR_POP = 20
#: The most bytes one post may carry.
MAX_POST_SIZE = 262144
#: The most bytes a queue's metadata may take.
MAX_METADATA_SIZE = 65536
#: The shortest subscription ttl, in seconds.
MIN_SUBSCRIPTION_TTL = 60
#: The subscription ttl when none is given, in seconds.
DEFAULT_SUBSCRIPTION_TTL = 3600
#: The longest queue name, in characters.
MAX_QUEUE_NAME = 64
#: The longest project id (C{X-Project-ID}), in characters.
MAX_PROJECT_ID = 256
#: The URI schemes a subscriber may have.
SUBSCRIBER_TYPES = ["http", "https", "mailto", "trust+http", "trust+https"]
#: What a queue name may be made of.
QUEUE_NAME_RE = re.compile(r"^[a-zA-Z0-9_\-.]+$")
#: The values a retry policy's C{retry_backoff_function} may take.
RETRY_BACKOFF_FUNCTIONS = ("linear", "arithmetic", "geometric", "exponential")

#: What Zaqar's C{filter_stream} says of a JSON value of the wrong type.
DOCUMENT_NOT_SUPPORTED = "Document type not supported."


class ValidationFailed(ValueError):
    """Zaqar's C{ValidationFailed}: the message is the description to send."""


@attr.s(auto_attribs=True, frozen=True)
class Bound:
    """
    An inclusive range (C{None}: unbounded on that side) and what Zaqar
    says when a value is outside it (C{{low}} and C{{high}} are filled in).
    """

    #: The smallest allowed value, or C{None}.
    low: int | None
    #: The largest allowed value, or C{None}.
    high: int | None
    #: Zaqar's text for a value out of bounds (a C{str.format} template of C{low} and C{high}).
    description: str

    def check(self, value: Any) -> None:
        """@raise ValidationFailed: C{value} is out of bounds."""
        if not ((self.low is None or self.low <= value)
                and (self.high is None or value <= self.high)):
            raise ValidationFailed(self.description.format(low=self.low, high=self.high))


_PAGE = "Limit must be at least 1 and may not be greater than {high}."
_MESSAGE_TTL = ("The TTL for a message may not exceed {high} seconds, and must be at least "
                "{low} seconds long.")

#: Every limit, by the field it bounds.  The texts are Zaqar's, typos
#: included (a missing space, a double space): clients match on them.
BOUNDS: dict[str, Bound] = {
    "message ttl": Bound(MIN_MESSAGE_TTL, MAX_MESSAGE_TTL, _MESSAGE_TTL),
    "message delay": Bound(0, MAX_MESSAGE_DELAY,
                           "The Delay TTL for a message may not exceed {high} seconds,"
                           "and must be at least 0 seconds long."),
    "post size": Bound(None, MAX_POST_SIZE, "Message collection size is too large. Max size {high}"),
    "claim ttl": Bound(MIN_CLAIM_TTL, MAX_CLAIM_TTL,
                       "The TTL for a claim may not exceed {high} seconds, and must be at least "
                       "{low} seconds long."),
    "claim grace": Bound(MIN_CLAIM_GRACE, MAX_CLAIM_GRACE,
                         "The grace for a claim may not exceed {high} seconds, and must be at "
                         "least {low} seconds long."),
    "claim limit": Bound(1, MAX_CLAIM_OR_POP, _PAGE),
    "pop": Bound(1, MAX_CLAIM_OR_POP,
                 "Pop value must be at least 1 and may not be greater than {high}."),
    "ids": Bound(1, MAX_PER_PAGE,
                 "ids parameter should have at least 1 and not greater than {high} values."),
    "message limit": Bound(1, MAX_PER_PAGE, _PAGE),
    "subscription limit": Bound(1, MAX_PER_PAGE, _PAGE),
    "queue limit": Bound(1, MAX_PER_PAGE, "Limit must be at least 1 and no greater than {high}."),
    "metadata size": Bound(None, MAX_METADATA_SIZE, "Queue metadata is too large. Max size: {high}"),
    "subscription ttl": Bound(MIN_SUBSCRIPTION_TTL, None,
                              "The TTL for a subscription must be at least {low} seconds long."),
    "_default_message_ttl": Bound(MIN_MESSAGE_TTL, MAX_MESSAGE_TTL,
                                  "_default_message_ttl can not exceed {high} seconds, and must "
                                  "be at least {low} seconds long."),
    "_max_messages_post_size": Bound(1, MAX_POST_SIZE,
                                     "_max_messages_post_size can not exceed {high},  and must "
                                     "be at least greater than 0."),
    "_dead_letter_queue_messages_ttl": Bound(MIN_MESSAGE_TTL, MAX_MESSAGE_TTL, _MESSAGE_TTL),
    "_default_message_delay": Bound(0, MAX_MESSAGE_DELAY,
                                    "The TTL can not exceed {high} seconds, and must be at least "
                                    "0 seconds long."),
}


def queue_post_size_description(queue_size: int) -> str:
    """What Zaqar says of a post over a queue's own C{_max_messages_post_size}."""
    return ("Message collection size is too large. The max size for current queue is "
            f"{min(queue_size, MAX_POST_SIZE)}. It is calculated by max size = "
            f"min(max_messages_post_size_config: {MAX_POST_SIZE}, "
            f"max_messages_post_size_queue: {queue_size}).")


@attr.s(auto_attribs=True, frozen=True)
class FieldCheck:
    """
    A typed field: a truthy value must be a C{kind}; a present (not
    C{None}) one must be in the bound of the same name in L{BOUNDS}, if any,
    and among C{choices}, if any.
    """

    #: The field's name (and of its bound in L{BOUNDS}).
    name: str
    #: The type a truthy value must be.
    kind: type
    #: Zaqar's text for a value of the wrong type.
    type_description: str
    #: The allowed values (none: any).
    choices: tuple[str, ...] = ()
    #: Zaqar's text for a value not among C{choices}.
    choices_description: str = ""

    def check(self, value: Any) -> None:
        """@raise ValidationFailed: C{value} is not acceptable."""
        if value and not isinstance(value, self.kind):
            raise ValidationFailed(self.type_description)
        if self.choices and value and value not in self.choices:
            raise ValidationFailed(self.choices_description)
        bound = BOUNDS.get(self.name)
        if bound is not None and value is not None:
            bound.check(value)


#: C{Validator.queue_metadata_putting}, in Zaqar's order.
QUEUE_METADATA: Sequence[FieldCheck] = (
    FieldCheck("_default_message_ttl", int, "_default_message_ttl must be integer."),
    FieldCheck("_max_messages_post_size", int, "_max_messages_post_size must be integer."),
    FieldCheck("_max_claim_count", int, "_max_claim_count must be integer."),
    FieldCheck("_dead_letter_queue_messages_ttl", int,
               "_dead_letter_queue_messages_ttl must be integer."),
    FieldCheck("_default_message_delay", int, "_default_message_delay must be integer."),
    FieldCheck("_enable_encrypt_messages", bool, "_enable_encrypt_messages must be boolean."),
)

#: C{Validator._validate_retry_policy}, in Zaqar's order.
RETRY_POLICY: Sequence[FieldCheck] = (
    *(FieldCheck(name, int, f"Retry policy: {name} must be a integer.")
      for name in ("retries_with_no_delay", "minimum_delay_retries", "minimum_delay",
                   "maximum_delay", "maximum_delay_retries")),
    FieldCheck("retry_backoff_function", str, "retry_backoff_function must be a string.",
               RETRY_BACKOFF_FUNCTIONS, "invalid retry_backoff_function."),
    FieldCheck("ignore_subscription_override", bool,
               "ignore_subscription_override must be a boolean."),
)


def check_metadata(metadata: Any) -> None:
    """
    C{Validator.queue_metadata_putting}.

    @raise ValidationFailed: a reserved key has a bad value.
    """
    if not metadata:
        return
    for field in QUEUE_METADATA:
        field.check(metadata.get(field.name))
    check_retry_policy(metadata.get("_retry_policy"))


def check_retry_policy(policy: Any) -> None:
    """
    A C{_retry_policy} of a queue or a subscription's options.

    @raise ValidationFailed: it is not acceptable.
    """
    if policy and not isinstance(policy, dict):
        raise ValidationFailed("retry_policy must be a dict.")
    if not policy:
        return
    for field in RETRY_POLICY:
        field.check(policy.get(field.name))
    low = policy.get("minimum_delay", 5)
    high = policy.get("maximum_delay", 30)
    if high < low:
        raise ValidationFailed("minimum_delay must less than maximum_delay.")
    if high - low < 10:
        raise ValidationFailed("invalid minimum_delay and maximum_delay.")


def check_subscription(document: Any, now: datetime.datetime) -> None:
    """
    C{Validator.subscription_patching}.

    @param now: the wall-clock time (a ttl past the end of time is refused).
    @raise ValidationFailed: the document is not acceptable.
    """
    if not document:
        raise ValidationFailed("No subscription to create.")
    if not isinstance(document, dict):
        raise ValidationFailed("Subscriptions must be a dict.")
    subscriber = document.get("subscriber")
    if subscriber:
        scheme = subscriber.split(":", 1)[0] if isinstance(subscriber, str) and ":" in subscriber else ""
        if scheme not in SUBSCRIBER_TYPES:
            raise ValidationFailed("The subscriber type of subscription must be supported in "
                                   f"the list {SUBSCRIBER_TYPES}.")
    options = document.get("options")
    if options and not isinstance(options, dict):
        raise ValidationFailed("Options must be a dict.")
    check_retry_policy(options.get("_retry_policy") if isinstance(options, dict) else None)
    ttl = document.get("ttl")
    if ttl:
        if not isinstance(ttl, int):
            raise ValidationFailed("TTL must be an integer.")
        BOUNDS["subscription ttl"].check(ttl)
        try:
            now + datetime.timedelta(seconds=ttl)
        except OverflowError:
            raise ValidationFailed("The TTL seconds for a subscription plus current time must "
                                   f"be less than {datetime.datetime.max}.") from None


def claim_document(document: Any) -> dict[str, int]:
    """
    The C{ttl} and C{grace} of a claim body, defaulted (Zaqar's
    C{filter_stream}); their bounds are checked apart.

    @raise ValidationFailed: not an object, or a field is not an integer
        (Zaqar's title for these is C{"Invalid request body"}).
    """
    if not isinstance(document, dict):
        raise ValidationFailed(DOCUMENT_NOT_SUPPORTED)
    result = {}
    for name, default in (("ttl", DEFAULT_CLAIM_TTL), ("grace", DEFAULT_CLAIM_GRACE)):
        value = document.get(name, default)
        if not isinstance(value, int):
            raise ValidationFailed(f'The value of the "{name}" field must be a int.')
        result[name] = value
    return result


def message_fields(items: Any, default_ttl: int, queue_delay: Any) -> list[dict[str, Any]]:
    """
    The C{ttl}, C{body} (and C{delay}) of each posted message, defaulted
    (Zaqar's C{filter_stream}).  A C{delay} is kept only on a queue with a
    C{_default_message_delay}: elsewhere it is dropped (quirk 4 of L{txzaqar.testing.quirks}).

    @raise ValidationFailed: not a list of objects, a field is missing or of
        the wrong type (Zaqar's title for these is C{"Invalid request body"}).
    """
    if not isinstance(items, list):
        raise ValidationFailed(DOCUMENT_NOT_SUPPORTED)
    spec: list[tuple[str, Any, Any]] = [("ttl", int, default_ttl), ("body", "*", None)]
    if queue_delay:
        spec.append(("delay", int, queue_delay))
    messages = []
    for item in items:
        if not isinstance(item, dict):
            raise ValidationFailed(DOCUMENT_NOT_SUPPORTED)
        filtered = {}
        for name, kind, default in spec:
            if name in item:
                value = item[name]
            elif default is not None:
                value = default
            else:
                raise ValidationFailed(f'Missing "{name}" field.')
            if kind != "*" and not isinstance(value, kind):
                raise ValidationFailed(f'The value of the "{name}" field must be a {kind.__name__}.')
            filtered[name] = value
        messages.append(filtered)
    return messages


_PATCH_OPS = ("add", "remove", "replace")


def wash_change(raw: Any) -> tuple[str, str, Any]:
    """
    C{Validator.queue_patching} for one JSON-patch operation.

    @return: C{(op, key, value)} (C{value} is C{None} for C{remove}).
    @raise ValidationFailed: the operation is malformed.
    """
    if not isinstance(raw, dict):
        raise ValidationFailed("Operations must be JSON objects.")
    op = raw.get("op")
    if op is None:
        raise ValidationFailed("Unable to find `op` in JSON Schema change. It must be one "
                               f"of the following: {', '.join(_PATCH_OPS)}.")
    if op not in _PATCH_OPS:
        raise ValidationFailed(f"Invalid operation: `{op}`. It must be one of the "
                               f"following: {', '.join(_PATCH_OPS)}.")
    if "path" not in raw:
        raise ValidationFailed("Unable to find 'path' in JSON Schema change")
    pointer = raw["path"]
    if not isinstance(pointer, str) or not pointer.startswith("/"):
        raise ValidationFailed(f'Pointer `{pointer}` does not start with "/".')
    if re.search(r"/\s*?/", pointer[1:]):
        raise ValidationFailed(f'Pointer `{pointer}` contains adjacent "/".')
    if len(pointer) > 1 and pointer.endswith("/"):
        raise ValidationFailed(f'Pointer `{pointer}` end with "/".')
    if re.search(r"~[^01]", pointer) or pointer.endswith("~"):
        raise ValidationFailed(
            f'Pointer `{pointer}` contains "~" not part of a recognized escape sequence.')
    path = [part.replace("~1", "/").replace("~0", "~").strip()
            for part in pointer.lstrip("/").split("/")]
    if len(path) != 2:
        raise ValidationFailed("Invalid JSON pointer for this resource: "
                               f"'/{'/'.join(path)}, e.g /metadata/key'")
    value = None
    if op != "remove":
        if "value" not in raw:
            raise ValidationFailed(f'Operation "{op}" requires a member named "value".')
        value = raw["value"]
        if path[0].lower() != "metadata":
            raise ValidationFailed("The root of path must be metadata, e.g /metadata/key.")
    return op, path[1], value
