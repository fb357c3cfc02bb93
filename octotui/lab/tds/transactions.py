"""One session's transaction bookkeeping: @@TRANCOUNT, the transaction descriptor, savepoints.

SQL Server counts nested BEGIN TRANSACTIONs but only the outermost begins a real transaction, only the
COMMIT that brings the count to 0 commits, and ROLLBACK (unless to a savepoint) ends everything at once.
Those edges are what the client hears about: from TDS 7.2 an ENVCHANGE (8 begin, 9 commit, 10 rollback)
carrying an 8-byte descriptor, which FreeTDS and pytds keep to know whether they are in a transaction.
The lab's state changes are not undone by a rollback: the only change the front makes, CREATE DATABASE,
is refused inside a transaction, as SQL Server refuses it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from octotui.lab.sqlserver import SqlError


@dataclass
class TransactionChanged:
    """@@TRANCOUNT left or reached 0: ENVCHANGE 8 (begin), 9 (commit) or 10 (rollback) with the descriptor."""

    kind: str  # "begin" | "commit" | "rollback"
    descriptor: bytes


class Transactions:
    """A session's transactions, driven by SQL text and by transaction-manager requests alike."""

    def __init__(self) -> None:
        self.count = 0  # @@TRANCOUNT
        self.descriptor = b""
        self.savepoints: set[str] = set()
        self.implicit = False  # SET IMPLICIT_TRANSACTIONS ON

    def begin(self) -> TransactionChanged | None:
        """BEGIN TRANSACTION: the count goes up; leaving 0 opens a transaction."""
        self.count += 1
        if self.count > 1:
            return None
        self.descriptor = os.urandom(8)
        self.savepoints = set()
        return TransactionChanged("begin", self.descriptor)

    def commit(self) -> TransactionChanged | None:
        """COMMIT: the count goes down; reaching 0 commits. With nothing open, SQL Server's 3902."""
        if self.count == 0:
            raise SqlError(3902, "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.")
        self.count -= 1
        return None if self.count else TransactionChanged("commit", self._end())

    def rollback(self, name: str | None = None) -> TransactionChanged | None:
        """ROLLBACK to a savepoint (the count stays) or of everything. With nothing open, 3903."""
        if self.count == 0:
            raise SqlError(3903, "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.")
        if name is not None and name.lower() in self.savepoints:
            return None
        self.count = 0
        return TransactionChanged("rollback", self._end())

    def save(self, name: str) -> None:
        """SAVE TRANSACTION name: a savepoint a later ROLLBACK TRANSACTION name returns to."""
        if self.count == 0:
            raise SqlError(628, "Cannot issue SAVE TRANSACTION when there is no active transaction.")
        self.savepoints.add(name.lower())

    def _end(self) -> bytes:
        descriptor, self.descriptor, self.savepoints = self.descriptor, b"", set()
        return descriptor
