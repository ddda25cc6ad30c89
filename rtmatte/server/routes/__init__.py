"""The server's routes, one module per resource, each a ``router(...)`` built for one app.

:mod:`.pages` (the panel at ``/``), :mod:`.docs` (``/docs``), :mod:`.info` (``/api/info``),
:mod:`.pictures` (``/api/remove``), :mod:`.jobs` (``/api/jobs``), :mod:`.live`
(``/api/live``) and :mod:`.backgrounds` (``/api/backgrounds``, the panel's gallery). A route
only translates HTTP to the service below it and back; every JSON
answer is a pydantic model declared on its route, so the schema at ``/openapi.json`` lists it.
What every route shares (the token, the Host and Origin checks, the upload limit, errors as
``{"detail": message}``) is put around them once in :mod:`rtmatte.server.app`.
"""
