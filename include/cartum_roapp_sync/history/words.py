"""The run history in sentences a person reads: one per record event, one per data quality
result. Shared by the CLI and the page."""

from __future__ import annotations

from typing import Any


def age_text(seconds: float | None) -> str:
    """An age as a person says it: 40 s, 12 min, 3 h 5 min, 2 d 4 h; "-" for none."""
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 172800:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(seconds // 3600, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _lines(detail: dict[str, Any]) -> str:
    parts = []
    for line in detail.get("lines") or []:
        product, _, price = str(line.get("line", "")).rpartition("@")
        text = f"{line.get('quantity', 0):g} × {product or line.get('line')}"
        if price:
            text += f" at {price}"
        if line.get("discount"):
            text += f" (discount {line['discount']:g})"
        parts.append(text)
    return "; ".join(parts)


def event_text(event: str, detail: dict[str, Any]) -> str:
    """One event as a sentence (``state.events.EVENTS``)."""
    d = detail or {}
    if event == "read":
        if "cartum_status" in d:
            paid = "paid" if d.get("paid") else "not paid"
            return (f"read from Cartum: status {d.get('cartum_status')} (RO App status {d.get('roapp_status_id')}), "
                    f"total {d.get('total')} {d.get('currency') or ''}".rstrip() +
                    f", {d.get('items', 0)} line(s), {paid}, buyer {d.get('client_key')}")
        if "title" in d:
            return f"read from Cartum: {d.get('title')!r}, price {d.get('price')}"
        return "read from Cartum (a new version)"
    if event == "created":
        return "created in RO App" + (" (a create a dead run began, finished)" if d.get("found_by_marker") else "")
    if event == "linked":
        if d.get("found_by_marker"):
            return "found in RO App by its marker (the state had lost it) and taken over"
        return ("matched to the RO App record this store made earlier" if d.get("ours")
                else "linked to a record RO App already held (the sync will not edit it)")
    if event == "updated":
        return "updated in RO App"
    if event in ("items_added", "items_changed"):
        return f"items {'added' if event == 'items_added' else 'changed'}: {_lines(d)}"
    if event == "items_removed":
        return f"items removed (their line left the Cartum order): {_lines(d)}"
    if event == "status_changed":
        text = f"RO App status set to {d.get('roapp_status_id')} (Cartum status {d.get('cartum_status')})"
        return text + (f", was {d['from']}" if d.get("from") is not None else "")
    if event == "comment_added":
        return f"comment posted ({d.get('comment', 'comment')})"
    if event == "quarantined":
        return f"quarantined at {d.get('stage')}: {d.get('reason')}"
    if event == "resolved":
        return "quarantine resolved: " + (d.get("resolution") or "RO App holds the record")
    if event == "retry_requested":
        return "retry requested" + (f" by {d['by']}" if d.get("by") else "") + ": the next run tries it again"
    return event.replace("_", " ")


def quality_words(entity: str, summary: dict[str, Any]) -> str:
    """One entity's data quality result of a run as a sentence."""
    rows = summary.get("rows", 0)
    lines = summary.get("order_items")
    text = f"{entity}: {rows} checked" + (f" ({lines} lines)" if lines is not None else "")
    text += f", {summary.get('valid_rows', 0)} passed"
    quarantined = summary.get("quarantined_rows", 0)
    if quarantined:
        held = summary.get("held_rows", 0)
        text += f", {quarantined} quarantined" + (f" ({held} only waiting for their Cartum status to be matched)"
                                                  if held else "")
    failed = [e for e in summary.get("expectations") or [] if e.get("success") is False]
    if failed:
        text += "; failed checks: " + ", ".join(
            f"{e.get('check')}" + (f" on {e['frame']}" if e.get("frame") and e["frame"] != entity else "")
            + f" ({e.get('unexpected_count', 0)} row(s))" for e in failed)
    if summary.get("batch_ok", True):
        text += ". Loaded."
    else:
        text += ". NOT loaded: " + "; ".join(summary.get("batch_errors") or ["the batch failed"])
    return text
