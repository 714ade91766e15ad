"""The run history pages as plain HTML (``web`` serves them): tables, forms, and the runs
chart as an inline SVG drawn here, so the page needs no build and no script. Every value
from the database is escaped."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any, Iterable
from urllib.parse import quote, urlencode

from ..config import StoreConfig
from .words import age_text as age

SERIES = (("created", "#2e7d32"), ("updated", "#1565c0"), ("unchanged", "#b0bec5"), ("quarantined", "#c62828"))

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:16px 24px;color:#1f2933;font-size:14px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:22px 0 6px} nav a{margin-right:14px}
table{border-collapse:collapse;margin:6px 0} th,td{border-bottom:1px solid #e4e7eb;padding:4px 8px;text-align:left;
vertical-align:top} th{background:#f5f7fa;font-weight:600} td.num{text-align:right} .ok{color:#2e7d32}
.failed{color:#c62828;font-weight:600} .running{color:#1565c0} .warn{color:#b26a00} .muted{color:#7b8794}
.note{background:#e8f5e9;padding:6px 10px;border-radius:4px} form.inline{display:inline} input,select,button{font:inherit}
.legend span{display:inline-block;margin-right:12px} .legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} s"


def _page(title: str, body: str, base: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title><style>{STYLE}</style>"
            f"</head><body><nav><a href='{base}/'>All stores</a><a href='{base}/orders'>Find an order</a></nav>"
            f"<h1>{_e(title)}</h1>{body}<p class='muted'>Times are UTC.</p></body></html>")


def _table(headers: Iterable[str], rows: Iterable[str], table_id: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f"<table id='{table_id}'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _status(status: str | None) -> str:
    css = {"success": "ok", "failed": "failed", "running": "running"}.get(status or "", "muted")
    return f"<span class='{css}'>{_e(status or '-')}</span>"


def stores_page(overview: list[dict[str, Any]], *, base: str) -> str:
    rows = []
    for s in overview:
        last = s["last_run"] or {}
        warnings = "<br>".join(_e(w) for w in s["warnings"]) or "<span class='muted'>none</span>"
        rows.append(
            f"<tr data-store='{_e(s['store_id'])}'><td><a href='{base}/stores/{quote(s['store_id'])}'>"
            f"{_e(s['store_id'])}</a><div class='muted'>{_e(s['name'])}</div></td>"
            f"<td>{_status(last.get('status'))}</td><td>{when(last.get('started_at'))}</td>"
            f"<td class='num'>{age(s['newest_in_roapp_age_s'])}</td><td class='num'>{age(s['oldest_pending_age_s'])}</td>"
            f"<td class='num'>{s['orders_synced_today']}</td><td class='num'>{s['orders_synced_week']}</td>"
            f"<td class='num'>{s['open_quarantine']}</td><td class='warn'>{warnings}</td></tr>")
    table = _table(("Store", "Last run", "Started", "Newest order in RO App", "Oldest change not yet there",
                    "Orders today", "Orders this week", "Open quarantine", "Warnings"), rows, "stores")
    explain = ("<p class='muted'>Newest order in RO App: how old the newest Cartum order is that RO App holds every "
               "order up to. Oldest change not yet there: how long the oldest change read from Cartum (or record "
               "held in quarantine) has waited. Orders: written to RO App (created or updated), store time.</p>")
    if not overview:
        table = "<p>No store has run yet.</p>"
    return _page("Cartum → RO App: all stores", table + explain, base)


def runs_chart(runs: list[dict[str, Any]], width: int = 900, height: int = 220) -> str:
    """The runs, oldest left: a stacked bar per run (created, updated, unchanged,
    quarantined) and the duration as a line on its own scale."""
    runs = list(reversed(runs))
    if not runs:
        return "<p class='muted'>No run yet.</p>"
    top = max(max(sum(r["totals"][k] for k, _ in SERIES) for r in runs), 1)
    longest = max(max(r.get("duration_s") or 0 for r in runs), 1)
    step = width / len(runs)
    bar = max(step * 0.7, 1)
    parts = []
    points = []
    for n, run in enumerate(runs):
        x, y = n * step, height
        for key, colour in SERIES:
            value = run["totals"][key]
            if value:
                h = value / top * (height - 10)
                y -= h
                parts.append(f"<rect class='bar {key}' x='{x:.1f}' y='{y:.1f}' width='{bar:.1f}' height='{h:.1f}' "
                             f"fill='{colour}'><title>{_e(run['run_id'])}: {key} {value}</title></rect>")
        duration = run.get("duration_s") or 0
        points.append(f"{x + bar / 2:.1f},{height - duration / longest * (height - 10):.1f}")
    parts.append(f"<polyline class='duration' points='{' '.join(points)}' fill='none' stroke='#f57c00' "
                 f"stroke-width='2'/>")
    legend = "".join(f"<span><i style='background:{c}'></i>{k}</span>" for k, c in SERIES)
    legend += f"<span><i style='background:#f57c00'></i>duration (longest {longest:.0f} s)</span>"
    return (f"<div class='legend'>{legend} <span class='muted'>(records per run, highest {top})</span></div>"
            f"<svg id='runs-chart' data-runs='{len(runs)}' width='{width}' height='{height}' "
            f"viewBox='0 0 {width} {height}' style='border:1px solid #e4e7eb;background:#fff'>{''.join(parts)}</svg>")


def store_page(store: StoreConfig, runs: list[dict[str, Any]], held: list[dict[str, Any]],
               quality: list[dict[str, Any]], chosen: str | None, *, base: str, filters: dict[str, Any],
               can_edit: bool, can_run: bool, done: str | None) -> str:
    me = f"{base}/stores/{quote(store.store_id)}"
    body = [f"<p class='muted'>{_e(store.name)} · DAG <a target='_top' href='/dags/{_e(store.dag_id)}'>"
            f"{_e(store.dag_id)}</a></p>"]
    if done:
        body.append(f"<p class='note'>{_e(done)}</p>")
    if can_run:
        body.append(f"<form class='inline' method='post' action='{me}/trigger'><button id='trigger-sync'>Sync now"
                    f"</button></form> <form class='inline' method='post' action='{me}/trigger'><input type='hidden' "
                    f"name='reconcile' value='true'><button id='trigger-reconcile'>Reconcile now</button></form>")
    statuses = "".join(f"<option value='{v}'{' selected' if filters['status'] == v else ''}>{v or 'any'}</option>"
                       for v in ("", "success", "failed", "running"))
    body.append(f"<h2>Runs</h2><form method='get' action='{me}'>Last <input name='last' size='5' "
                f"value='{_e(filters['last'])}'> runs, status <select name='status'>{statuses}</select> "
                f"<button>Show</button> · <a href='{base}/api/stores/{quote(store.store_id)}/runs?"
                f"{urlencode({'last': filters['last'], 'status': filters['status'], 'format': 'csv'})}'>CSV</a></form>")
    body.append(runs_chart(runs))
    rows = []
    for run in runs:
        t = run["totals"]
        link = f"/dags/{quote(store.dag_id)}/runs/{quote(run['run_id'], safe='')}"
        mine = f"{me}?{urlencode({'run': run['run_id'], 'last': filters['last'], 'status': filters['status']})}"
        rows.append(
            f"<tr data-run='{_e(run['run_id'])}'><td><a target='_top' href='{link}'>{_e(run['run_id'])}</a></td>"
            f"<td>{_status(run['status'])}</td><td>{_e(run.get('mode') or '-')}</td><td>{when(run['started_at'])}</td>"
            + "".join(f"<td class='num'>{t[k]}</td>" for k in ("created", "updated", "unchanged", "quarantined",
                                                               "failed"))
            + f"<td class='num'>{_seconds(run.get('duration_s'))}</td>"
            f"<td><a href='{mine}'>quality</a></td><td class='warn'>{'<br>'.join(_e(w) for w in run['warnings'])}"
            f"{_e(run.get('error') or '')}</td></tr>")
    body.append(_table(("Run", "Status", "Mode", "Started", "Created", "Updated", "Unchanged", "Quarantined",
                        "Failed", "Duration", "", "Warnings / error"), rows, "runs"))
    if chosen:
        sentences = "".join(f"<li class='{'ok' if q['success'] else 'failed'}'>{_e(q['text'])}</li>" for q in quality)
        body.append(f"<h2>Data quality of run {_e(chosen)}</h2><ul id='quality'>"
                    f"{sentences or '<li class=muted>not checked (the run stopped before its quality check)</li>'}</ul>")
    entities = "".join(f"<option value='{v}'{' selected' if filters['entity'] == v else ''}>{v or 'all'}</option>"
                       for v in ("", "orders", "clients", "products"))
    body.append(f"<h2>Open quarantine ({len(held)})</h2><form method='get' action='{me}'>Entity <select name='entity'>"
                f"{entities}</select> <button>Show</button> · <a href='{base}/api/stores/{quote(store.store_id)}/"
                f"quarantine?{urlencode({'entity': filters['entity'], 'format': 'csv'})}'>CSV</a></form>")
    rows = []
    for q in held:
        key = _e(q["source_key"])
        if q["entity"] == "orders":
            key = f"<a href='{base}/orders?{urlencode({'q': q['source_key'], 'store': store.store_id})}'>{key}</a>"
        act = ""
        if can_edit:
            act = (f"<form class='inline' method='post' action='{base}/quarantine/{q['id']}/retry'><button>Retry"
                   f"</button></form> <form class='inline' method='post' action='{base}/quarantine/{q['id']}/resolve'>"
                   f"<input name='note' placeholder='why it needs no sync' required> <button>Resolve</button></form>")
        rows.append(f"<tr data-quarantine='{q['id']}'><td>{q['id']}</td><td>{_e(q['entity'])}</td><td>{key}</td>"
                    f"<td>{_e(q['stage'])}</td><td>{_e(q['reason'])}</td><td class='num'>{q['attempts']}</td>"
                    f"<td>{when(q['first_seen_at'])}</td><td>{act}</td></tr>")
    body.append(_table(("#", "Entity", "Key", "Stage", "Reason", "Runs", "Since", ""), rows, "quarantine")
                if held else "<p class='muted'>Nothing is held back.</p>")
    return _page(f"Store {store.store_id}", "".join(body), base)


def orders_page(query: str, stories: list[dict[str, Any]], stores: dict[str, StoreConfig], *, base: str) -> str:
    body = [f"<form method='get' action='{base}/orders'><input id='order-query' name='q' size='40' "
            f"value='{_e(query)}' placeholder='Cartum order number, RO App order id, phone or e-mail' autofocus> "
            f"<button id='order-search'>Find</button></form>"]
    if query and not stories:
        body.append(f"<p id='no-order'>No order matches {_e(query)!s}: not read yet, or its history is older than "
                    f"the store's history_keep_days.</p>")
    for story in stories:
        store = stores.get(story["store_id"])
        runs_link = (lambda run: f"<a target='_top' href='/dags/{quote(store.dag_id)}/runs/{quote(run, safe='')}'>"
                     f"{_e(run)}</a>") if store else _e
        events = "".join(
            f"<tr><td>{when(e['at'])}</td><td>{runs_link(e['run_id']) if e['run_id'] else 'by hand'}</td>"
            f"<td>{_e(e['event'])}</td><td>{_e(e['text'])}</td></tr>" for e in story["events"])
        held = "".join(
            f"<li class='{'muted' if q['resolved_at'] else 'failed'}'>#{q['id']} {_e(q['stage'])}: {_e(q['reason'])} — "
            f"{('resolved ' + when(q['resolved_at']) + (' (' + _e(q['resolution']) + ')' if q['resolution'] else '')) if q['resolved_at'] else 'open'}"
            f"</li>" for q in story["quarantine"])
        roapp = story["roapp_id"] if story["roapp_id"] is not None else "not yet"
        body.append(
            f"<section class='story' data-store='{_e(story['store_id'])}' data-order='{_e(story['order'])}'>"
            f"<h2>Order {_e(story['order'])} of store {_e(story['store_id'])}</h2>"
            f"<p>RO App order <b class='roapp-id'>{_e(roapp)}</b> ({_e(story['state'] or 'not in RO App')}); "
            f"Cartum status {_e(story['cartum_status'])}, RO App status {_e(story['roapp_status_id'])}; buyer "
            f"{_e(story['client_key'])} (RO App client {_e(story['client_roapp_id'])})</p>"
            + _table(("When", "Run", "Event", "What happened"), [events], f"story-{_e(story['order'])}")
            + (f"<ul>{held}</ul>" if held else "") + "</section>")
    return _page("Find an order", "".join(body), base)
