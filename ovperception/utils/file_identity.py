"""A file's identity ``(size, mtime_ns, inode)``, and digests remembered under it.

Hashing a multi-gigabyte file takes seconds; a file whose size, modification time (ns) and
inode are unchanged since it was hashed is taken to hold the same bytes. Two users:

* the annotation index (``ovperception.annotation.index``) keeps input hashes under
  :func:`stat_key`;
* cached weights (:mod:`ovperception.utils.download`, :mod:`ovperception.utils.hub_files`)
  keep a *verification stamp* next to the file (``NAME.verified``, JSON:
  ``{"size", "mtime_ns", "inode", "algorithm", "digest"}``), written atomically after a full
  hash matched: while the identity is unchanged a later start skips the hash
  (:func:`remembered_digest`).

A file that was modified within :data:`RACY_NS` of being hashed is never remembered (a second
write in the same clock tick would keep its mtime). Corruption that keeps size and mtime (bit
rot, a write that restores the mtime) is not caught while a stamp is valid:
``OVP_VERIFY_WEIGHTS=full`` (:func:`full_verification_forced`) ignores the stamps and hashes
every file at its first use in the process. A missing, unreadable or damaged stamp, or one
that cannot be written (a read-only cache), only costs the hash.
"""
from __future__ import annotations

import json
import os
import time
from typing import Callable

#: A file modified this recently (ns) before its hash was taken is hashed again next time.
RACY_NS = 2_000_000_000

#: ``OVP_VERIFY_WEIGHTS=full``: ignore verification stamps, hash every cached file.
VERIFY_ENV = 'OVP_VERIFY_WEIGHTS'

STAMP_SUFFIX = '.verified'


def stat_key(path: str) -> list[int] | None:
    """``[size, mtime_ns, inode]`` of ``path`` (following links), None if it cannot be read."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def settled(key: list[int], hashed_at_ns: int) -> bool:
    """Whether a file with identity ``key``, hashed from ``hashed_at_ns`` (``time.time_ns()``
    taken before reading), was last modified long enough before to be remembered."""
    return hashed_at_ns - key[1] > RACY_NS


def full_verification_forced() -> bool:
    """Whether ``OVP_VERIFY_WEIGHTS=full`` asks to hash every cached file (ignore stamps)."""
    return os.environ.get(VERIFY_ENV, '').strip().lower() == 'full'


def stamp_path(path: str) -> str:
    """The verification stamp of ``path``: ``path + '.verified'``."""
    return path + STAMP_SUFFIX


def remembered_digest(path: str, algorithm: str) -> str | None:
    """The ``algorithm`` digest stamped for ``path`` while its identity is unchanged, else
    None (no or broken stamp, file changed, or ``OVP_VERIFY_WEIGHTS=full``)."""
    if full_verification_forced():
        return None
    try:
        with open(stamp_path(path), encoding='utf-8') as handle:
            stamp = json.load(handle)
        recorded = [int(stamp['size']), int(stamp['mtime_ns']), int(stamp['inode'])]
        digest = str(stamp['digest'])
        same_algorithm = stamp['algorithm'] == algorithm
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return digest if same_algorithm and recorded == stat_key(path) else None


def remember_digest(path: str, algorithm: str, digest: str, key: list[int],
                    hashed_at_ns: int) -> None:
    """Stamp ``path`` (identity ``key`` when the hash started at ``hashed_at_ns``) with its
    verified ``digest``, atomically; nothing when the file changed meanwhile, was modified
    too recently to be trusted, or the folder is not writable."""
    if not settled(key, hashed_at_ns) or stat_key(path) != key:
        return
    from ovperception.utils.atomic import atomic_write_bytes
    stamp = dict(size=key[0], mtime_ns=key[1], inode=key[2], algorithm=algorithm,
                 digest=digest)
    try:
        atomic_write_bytes(stamp_path(path), json.dumps(stamp).encode('utf-8'))
    except OSError:
        pass  # a read-only cache: the next start hashes again


def verified_digest(path: str, algorithm: str, hash_file: Callable[[str], str],
                    accept: Callable[[str], bool]) -> str:
    """``path``'s ``algorithm`` digest: the stamped one while the file is unchanged (and
    ``accept`` takes it), else ``hash_file(path)``, stamped when ``accept`` takes it.

    Args:
        path: the file.
        algorithm: name of the digest (``'sha256'``, ``'git-sha1'``), kept in the stamp.
        hash_file: computes the digest from the bytes.
        accept: whether a digest is the expected one (only those are stamped or reused).
    """
    remembered = remembered_digest(path, algorithm)
    if remembered is not None and accept(remembered):
        return remembered
    key = stat_key(path)
    started = time.time_ns()
    digest = hash_file(path)
    if key is not None and accept(digest):
        remember_digest(path, algorithm, digest, key, started)
    return digest


__all__ = ['RACY_NS', 'STAMP_SUFFIX', 'VERIFY_ENV', 'full_verification_forced',
           'remember_digest', 'remembered_digest', 'settled', 'stamp_path', 'stat_key',
           'verified_digest']
