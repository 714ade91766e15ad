"""The read-only live probe (``cartum-roapp probe``): a few read calls to a store's real
Cartum and RO App accounts, and for every fact of ``assumptions`` a verdict, confirmed /
contradicted / not checkable, with the evidence.

Rules:

- **Reads only.** Every request goes through ``core.ReadOnlySession``, which refuses
  anything but Cartum's read functions (``auth``, ``orders/get``, ``catalog/export``,
  ``users/export``, ``orders/get_available_statuses``, all POSTs) and RO App GETs, before
  it is sent. Nothing is written to either system, nor to the state database.
- **A handful of calls**: 6 to Cartum (7 when the last 90 days hold no order) and 11 to
  RO App, each counted and timed.
- **No personal data out.** Evidence names fields and shapes (``user: number in 12 of 20
  orders``), never values. ``--record`` saves answers through ``redact``, which replaces
  names, phones, e-mails, addresses and free text with stable placeholders of the same
  shape, so that the files can become test fixtures.
- **Checks are a registry** (``core.check``): one function per fact, by name, per
  system (``cartum``, ``roapp``), reading what the gatherers observed. A fact whose
  observation is missing (no orders in the store, a call that failed) is not checkable,
  never confirmed.
"""

from .core import CONFIRMED, CONTRADICTED, NOT_CHECKABLE, Finding, ProbeReport, registered_facts

__all__ = ["CONFIRMED", "CONTRADICTED", "NOT_CHECKABLE", "Finding", "ProbeReport", "registered_facts"]
