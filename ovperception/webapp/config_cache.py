"""Parsed configs of the web app, each file read once per version.

A change of task or model in the page asks several questions of the same config (its weights
on this machine, its trained classes, its background words, whether it chooses names); each
used to parse the file again. :class:`ConfigCache` parses a file once and again only when its
modification time or size changes (the configs it imports through ``read_base()`` are not
watched: restart the app after editing one, as for the models it has built).
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any


class ConfigCache:
    """Parsed mmengine configs by path and file version (modification time and size).

    Args:
        max_entries: configs kept, least recently used dropped first.
    """

    def __init__(self, max_entries: int = 512) -> None:
        self.max_entries = int(max_entries)
        self._entries: OrderedDict[str, tuple[tuple[int, int], Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: str) -> Any:
        """The ``mmengine.Config`` of the file ``path`` (shared: read it, do not change it).

        Raises:
            OSError: no such file; whatever ``Config.fromfile`` raises for a bad config
                (a failure is not kept: the next call reads the file again).
        """
        from mmengine.config import Config
        key = os.path.abspath(path)
        stat = os.stat(key)
        version = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            kept = self._entries.get(key)
            if kept is not None and kept[0] == version:
                self._entries.move_to_end(key)
                return kept[1]
        cfg = Config.fromfile(key)
        with self._lock:
            self._entries[key] = (version, cfg)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return cfg
