"""What a client may read of an error: the server's own paths never, the names it knows instead.

rtmatte's messages name the files they are about, which is right at a terminal and wrong over
HTTP: a job's upload lives at a temporary path the server made, and telling the client that
path tells it where the server keeps its files and under which account it runs. So a message
is rewritten before it leaves: each path the caller knows is replaced by the name the client
gave (the upload's own file name), and any other absolute path left in the text by its last
part only.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path

#: an absolute path as rtmatte's messages write it: up to a space, quote, bracket or comma
_PATH = re.compile(r"""(?<![\w.~:/-])/[^\s'"`,;()<>\[\]{}]+""")
#: device names (/dev/video0) are what the client itself chose from the panel's list
_NOT_PRIVATE = frozenset({"dev"})


def for_client(message: str, names: Mapping[str | Path, str] | None = None) -> str:
    """``message`` with every server path replaced: those in ``names`` by the name given there
    (longest path first, so a folder never swallows a file inside it), the rest by their last
    part."""
    for path, name in sorted((names or {}).items(), key=lambda item: -len(str(item[0]))):
        for form in {str(path), os.path.realpath(path)}:
            message = message.replace(form, name)
    return _PATH.sub(_last_part, message)


def _last_part(found: re.Match[str]) -> str:
    path = found[0]
    parts = [part for part in path.split("/") if part]
    if not parts or parts[0] not in _filesystem_roots() or parts[0] in _NOT_PRIVATE:
        return path  # not a file of this machine: an API route, a fraction, a device
    return parts[-1]


@functools.cache
def _filesystem_roots() -> frozenset[str]:
    """The top-level folders of this machine: a text starting with one of them is a path."""
    try:
        return frozenset(os.listdir("/"))
    except OSError:
        return frozenset()
