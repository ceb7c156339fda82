"""Text bound for a worker command, refused at entry by the rule the worker's decoder applies."""

from __future__ import annotations

from accounts.exceptions import CommandTextInvalid
from execution_worker import messages


def command_text_check(*, command: str, key: str, value: str, field: str | None = None) -> str:
    """Return ``value`` if the worker would accept it as ``key`` of a ``command`` message.

    The rule is the stream contract's own (``execution_worker.messages.check_field``), so text
    that passes here is never dead-lettered as a bad field by the worker.

    :raises CommandTextInvalid: the worker would refuse it; ``field`` (default ``key``) names the input.
    """
    try:
        messages.check_field(command, key, value)
    except messages.MessageError as error:
        detail = error.text.split(": ", 1)[-1]
        raise CommandTextInvalid(f"{field or key} {detail}.", field=field or key) from error
    return value
