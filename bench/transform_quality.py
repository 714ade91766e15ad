"""Transform and data quality of a large batch: 100,000 orders (300,000 lines) and 50,000
products, against parsing the same JSON with pandas, in the same run.

The batch is the Cartum sandbox's generated store (``cartum_roapp_sandbox.cartum.seed``):
its catalogue and customers, its orders repeated with new ids up to ``--orders``, each
order's lines filled up to ``--lines`` from the catalogue. It is written as JSON files, then
two fresh processes read them side by side:

- **sync**: what the ``transform`` and ``check_quality`` steps do with a run's raw
  records, without the state database: ``transform_batch`` (the raw batch dropped once
  transformed), each frame written as the JSON text ``transform`` stages and read back as
  records and a frame as ``check_quality`` does (the two steps are separate tasks: the
  frames are dropped once staged, and one entity's records are held at a time), then
  ``validate_entity`` for clients, products and orders;
- **pandas**: ``pandas.read_json`` of the same files (the orders with their nested lines).

Printed: each process's wall and CPU seconds, the ratio sync ÷ pandas, and each process's
peak memory (``ru_maxrss``). Targets of issue 14: ratio ≤ 2, peak ≤ 1.5 GB.

With ``--compare CHECKOUT`` (e.g. ``/work/main``) the other checkout's transform and
quality run on the same files in the same run, side by side (its package, this
interpreter), and the sync rows and the results (counts, valid and quarantined rows) are
compared.

    .venv/bin/python bench/transform_quality.py [--orders 100000] [--lines 3] [--products 50000] \
        [--compare /work/main]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cartum_roapp_sandbox.cartum.seed import CartumSeedConfig, generate  # noqa: E402

TARGET_RATIO, TARGET_PEAK_GB = 2.0, 1.5

MEASURE = r"""
import json, resource, sys, time
def usage():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
"""

SYNC = MEASURE + r"""
from cartum_roapp_sync.config import parse_store
from cartum_roapp_sync.entities import ENTITIES
from cartum_roapp_sync.pipeline import process
from cartum_roapp_sync.quality import validate_entity
from cartum_roapp_sync.quality.gx import Runtime
from cartum_roapp_sync.transform import transform_batch
folder, config = sys.argv[1], parse_store(json.loads(sys.argv[2]))
Runtime.get()   # Great Expectations' import: once per process, not the batch's cost
# A checkout that stages the frames' JSON text (process.frame_json) drops the raw batch once
# transformed and stages that text; an older one stages records (frame_to_records, its
# json.dumps into the state database and json.loads out of it not counted, as before).
as_text = hasattr(process, "frame_json")
wall, cpu = time.perf_counter(), usage()
stages = {}
def stage(name, started):
    stages[name] = stages.get(name, 0.0) + usage() - started
    return usage()
at = usage()
raw = {name: json.load(open(f"{folder}/{name}.json")) for name in ("orders", "products", "customers")}
at = stage("json.load", at)
result = transform_batch(raw, config=config)
if as_text:
    del raw   # as process.transform does
at = stage("transform_batch", at)
# transform: what it stages for check_quality, entity by entity
staged = {entity.name: (process.frame_json if as_text else process.frame_to_records)(getattr(result, entity.name))
          for entity in ENTITIES}
raw = result = None   # the transform step ends; check_quality starts from what was staged
at = stage("frames to records and back", at)
counts = {}
for entity in ENTITIES:
    # check_quality: data.transformed(entity), then the frame
    records = staged.pop(entity.name)
    records = json.loads(records) if as_text else records
    frame = process.records_to_frame(records, entity)
    at = stage("frames to records and back", at)
    checked = validate_entity(entity.name, frame, config)
    at = stage(f"validate_entity {entity.name}", at)
    counts[entity.name] = {"rows": len(records), "valid": len(checked.valid), "quarantined": len(checked.quarantined),
                           "batch_ok": checked.batch_ok}
    records = frame = checked = None   # the next entity's records replace these
print(json.dumps({"wall": time.perf_counter() - wall, "cpu": usage() - cpu,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "counts": counts, "stages": stages}))
"""

PANDAS = MEASURE + r"""
import pandas as pd
folder = sys.argv[1]
wall, cpu = time.perf_counter(), usage()
frames = {name: pd.read_json(f"{folder}/{name}.json", orient="records", dtype=False)
          for name in ("orders", "products", "customers")}
print(json.dumps({"wall": time.perf_counter() - wall, "cpu": usage() - cpu,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "counts": {name: {"rows": len(f)} for name, f in frames.items()}}))
"""


def make_batch(folder: Path, orders: int, lines: int, products: int) -> dict:
    """The generated store's records, grown to the asked size; returns the store's settings."""
    data = generate(CartumSeedConfig(seed=3, orders=min(orders, 5_000), products=products, customers=5_000, days=90))
    rng = random.Random(3)
    catalogue = data["products"]
    base = data["orders"]
    grown = []
    for n in range(orders):
        order = dict(base[n % len(base)])
        order["order_id"] = n + 1
        order_lines = list(order.get("products") or [])
        while len(order_lines) < lines:
            product = rng.choice(catalogue)
            order_lines.append({"article": product["article"], "title": order_lines[0]["title"] if order_lines
                                else product["article"], "price": product["price"], "quantity": 1,
                                "total_price": product["price"], "type": "product"})
        order["products"] = order_lines
        grown.append(order)
    for name, records in (("orders", grown), ("products", catalogue), ("customers", data.get("users") or [])):
        (folder / f"{name}.json").write_text(json.dumps(records, ensure_ascii=False))
    statuses = sorted({o["stat_status"] for o in grown})
    return {"store_id": "bench", "name": "Bench", "cartum_conn_id": "cartum_bench", "location_id": 101,
            "order_type_id": 301, "language": "ua", "product_key": "sku", "managers": "all",
            "status_map": {str(s): 200 + i for i, s in enumerate(statuses)}}


def run(code: str, *args: str, tree: Path = ROOT) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree / "include"),
                                                        *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=3, help="lines per order, at least")
    parser.add_argument("--products", type=int, default=50_000)
    parser.add_argument("--compare", type=Path, metavar="CHECKOUT",
                        help="also run another checkout's transform and quality (e.g. /work/main), side by side")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="transform_quality_"))
    store = make_batch(folder, args.orders, args.lines, args.products)
    sizes = {name: (folder / f"{name}.json").stat().st_size for name in ("orders", "products", "customers")}
    lines = sum(len(o["products"]) for o in json.loads((folder / "orders.json").read_text()))
    pandas = run(PANDAS, str(folder))
    sync = run(SYNC, str(folder), json.dumps(store))
    other = run(SYNC, str(folder), json.dumps(store), tree=args.compare.resolve()) if args.compare else None
    pandas_again = run(PANDAS, str(folder))   # before and after: a load spike shows as a spread
    base = min(pandas["wall"], pandas_again["wall"])
    base_cpu = min(pandas["cpu"], pandas_again["cpu"])
    print(f"\nBatch: {sync['counts']['orders']['rows']:,} orders ({lines:,} lines), "
          f"{sync['counts']['products']['rows']:,} products, {sync['counts']['clients']['rows']:,} clients; JSON "
          + ", ".join(f"{name} {size / 1e6:.0f} MB" for name, size in sizes.items()) + "\n")
    print("| process | wall s | CPU s | ratio to pandas (wall, CPU) | peak memory |")
    print("|---|---|---|---|---|")
    rows = [("pandas.read_json", pandas), ("pandas.read_json, again", pandas_again),
            ("transform + quality (sync)", sync)]
    if other is not None:
        rows.append((f"transform + quality ({args.compare})", other))
    for label, r in rows:
        print(f"| {label} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['wall'] / base:.2f}, {r['cpu'] / base_cpu:.2f} | "
              f"{r['maxrss_kb'] / 1024 / 1024:.2f} GB |")
    print("\n| entity | rows | valid | quarantined | batch ok |")
    print("|---|---|---|---|---|")
    for name, c in sync["counts"].items():
        print(f"| {name} | {c['rows']:,} | {c['valid']:,} | {c['quarantined']:,} | {c['batch_ok']} |")
    print("\n| sync stage | CPU s | share |")
    print("|---|---|---|")
    for name, seconds in sync["stages"].items():
        print(f"| {name} | {seconds:.1f} | {seconds / sync['cpu']:.0%} |")
    if other is not None:
        print(f"\nThis checkout ÷ {args.compare}: CPU {sync['cpu'] / other['cpu']:.2f}, peak memory "
              f"{sync['maxrss_kb'] / other['maxrss_kb']:.2f}; results "
              f"{'identical' if sync['counts'] == other['counts'] else 'DIFFER: ' + json.dumps(other['counts'])}.")
    ratio = sync["cpu"] / base_cpu
    peak = sync["maxrss_kb"] / 1024 / 1024
    print(f"\nTargets: time ÷ pandas {ratio:.2f} (CPU) against ≤ {TARGET_RATIO:.0f}: "
          f"{'met' if ratio <= TARGET_RATIO else 'not met'}; peak {peak:.2f} GB against ≤ {TARGET_PEAK_GB} GB: "
          f"{'met' if peak <= TARGET_PEAK_GB else 'not met'}.")


if __name__ == "__main__":
    main()
