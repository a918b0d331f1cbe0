"""A compact set of 64-bit test identities: what ``TestRun.passed_ids`` holds.

Takes the hashes the JUnit reader (``collect.junit``) computes for each test it reads; answers
``in`` and ``len`` for the stages after it (flaky across runs, ``collect.junit_runs``). Not a
record: built once, then only read; pydantic checks only that a field holds one
(``is_instance_schema``), and ``TestRun`` excludes the field from JSON.
"""

from __future__ import annotations

from array import array

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema


class Identities:
    """A compact set of 64-bit test identities (hashes, valid within one process).

    An open-addressing table in one ``array``: 8 bytes a test instead of the ~70 of a Python
    set of ints, so a 100,000-case report costs 2 MiB. ``add`` tells whether the identity was
    already there (a repeated name); ``exclude`` takes identities out of ``in`` (tests that
    did not pass). Built by the JUnit reader, then only read."""

    __slots__ = ("_excluded", "_filled", "_mask", "_table")

    def __init__(self) -> None:
        self._table = array("q", bytes(8 * 4096))
        self._mask = 4095
        self._filled = 0
        self._excluded: set[int] = set()

    def add(self, key: int) -> bool:
        """Insert ``key``; True if it was there already."""
        key = key or 1  # 0 marks a free slot
        slot, found = self._probe(key)
        if found:
            return True
        self._table[slot] = key
        self._filled += 1
        if self._filled * 2 > self._mask:
            self._grow()
        return False

    def exclude(self, key: int) -> None:
        self._excluded.add(key or 1)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, int):
            return False
        key = key or 1
        if key in self._excluded:
            return False
        return self._probe(key)[1]

    def _probe(self, key: int) -> tuple[int, bool]:
        """The slot holding ``key`` (True), or the free slot where it would go (False)."""
        table, mask = self._table, self._mask
        slot = key & mask
        while (found := table[slot]) != 0:
            if found == key:
                return slot, True
            slot = (slot + 1) & mask
        return slot, False

    def __len__(self) -> int:
        return self._filled - len(self._excluded)

    def _grow(self) -> None:
        """Four times the slots, so that a table is rebuilt only a few times."""
        old = self._table
        size = 4 * len(old)
        table = self._table = array("q", bytes(8 * size))
        mask = self._mask = size - 1
        for key in old:
            if key:
                slot = key & mask
                while table[slot] != 0:
                    slot = (slot + 1) & mask
                table[slot] = key

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: object, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.is_instance_schema(cls)
