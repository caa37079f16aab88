"""How every consumer decorator finds its message, once: :func:`consumer_decorator`.

A consumer is a function ``consumer(message, **kwargs)`` or a method
``consumer(self, message, **kwargs)`` (a class-based consumer's handler, bound or not). The
decorators of this project (``channel_session``, ``enforce_ordering``, ``http_session``,
``channel_and_http_session``, ``channel_session_user``, ...) work on both: the message is the
first positional argument that is a :class:`~channels_core.message.Message` (or, failing that, a
``message=`` keyword argument). A call without one raises ``ValueError`` naming the decorator and
the consumer, before anything else happens.

Each decorator states only what it does around the consumer, as an *around* function
``around(message, proceed)`` that calls ``proceed()`` (the consumer with its original
arguments) zero or one time and returns what the wrapped call returns. Decorators that build on
another (``enforce_ordering`` needs the channel session) compose their around functions, so the
error of a call without a message names the decorator the user wrote.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from .message import Message

__all__ = [
    "Around",
    "Proceed",
    "compose",
    "consumer_decorator",
    "consumer_name",
    "find_message",
]

F = TypeVar("F", bound=Callable[..., Any])
Proceed = Callable[[], Any]
Around = Callable[[Message, Proceed], Any]


def consumer_name(consumer: Any) -> str:
    """A readable name for ``consumer`` in error messages (its qualified name)."""
    return str(getattr(consumer, "__qualname__", None) or repr(consumer))


def find_message(
    decorator: str, consumer: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> Message:
    """The first :class:`Message` among ``args`` (then ``kwargs["message"]``).

    Raises ``ValueError`` naming ``@decorator`` and the consumer when there is none.
    """
    for arg in args:
        if isinstance(arg, Message):
            return arg
    keyword = kwargs.get("message")
    if isinstance(keyword, Message):
        return keyword
    got = ", ".join(type(arg).__name__ for arg in args) or "no positional arguments"
    raise ValueError(
        f"@{decorator} on {consumer_name(consumer)}: called without a Message argument (got "
        f"{got}); decorate a consumer function or method that receives the message"
    )


def consumer_decorator(decorator: str, consumer: F, around: Around) -> F:
    """Wrap ``consumer`` (function or method) so that ``around(message, proceed)`` runs instead.

    ``decorator`` is the name used in the ``ValueError`` of a call without a message.
    """

    @functools.wraps(consumer)
    def inner(*args: Any, **kwargs: Any) -> Any:
        message = find_message(decorator, consumer, args, kwargs)
        return around(message, lambda: consumer(*args, **kwargs))

    return inner  # type: ignore[return-value]


def compose(outer: Around, inner: Around) -> Around:
    """The around function that runs ``outer`` around ``inner`` around the consumer."""

    def around(message: Message, proceed: Proceed) -> Any:
        return outer(message, lambda: inner(message, proceed))

    return around
