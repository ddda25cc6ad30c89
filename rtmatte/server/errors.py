"""The errors a request can meet, each carrying the HTTP status it is answered with.

They are rtmatte's own :class:`~rtmatte.errors.UserError` subclasses, so code below the routes
raises typed errors as the rest of the library does, and one handler in :mod:`.app` turns any of
them into a JSON answer with its message.
"""

from __future__ import annotations

from rtmatte.errors import InputError, UserError


class RequestError(UserError):
    """A request the server refuses; ``status`` is the HTTP code it is answered with."""

    status = 422


class NotAuthorized(RequestError):
    status = 401


class CrossSite(RequestError):
    status = 403


class NotFound(RequestError):
    status = 404


class Conflict(RequestError):
    status = 409


class TooLarge(RequestError):
    status = 413


class Unsupported(RequestError, InputError):
    """An upload that is not the kind of media the route takes."""

    status = 415


class Busy(RequestError):
    status = 429
