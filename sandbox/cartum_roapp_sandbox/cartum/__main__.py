"""``python -m cartum_roapp_sandbox.cartum``: serve a seeded Cartum sandbox over HTTP."""

from __future__ import annotations

import argparse

from ..server import add_common_arguments, faults_from_arguments, serve_from_command_line
from .app import CartumSandbox
from .profile import PROFILES
from .seed import CartumSeedConfig, generate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cartum_roapp_sandbox.cartum",
                                     description="Cartum store API sandbox")
    add_common_arguments(parser, default_port=8701)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--customers", type=int, default=150, help="registered customers (users/export)")
    parser.add_argument("--days", type=int, default=120, help="orders spread over this many days back")
    parser.add_argument("--languages", default="ua,ru,en", help="site languages, the first is the main one")
    parser.add_argument("--extra-statuses", type=int, default=2, help="store-defined statuses (ids 7, 8, ...)")
    parser.add_argument("--login", default="sandbox_admin")
    parser.add_argument("--password", default="sandbox-password")
    parser.add_argument("--orders-page-cap", type=int, default=None,
                        help="cap orders/get pages silently at this many orders (default: no cap)")
    parser.add_argument("--orders-sort", choices=("id", "newest_first"), default="id",
                        help="orders/get order: by id, or newest first by stat_created")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="documented",
                        help="which side of each disagreement between the public sources to serve: user as a "
                             "number (documented) or an object with a bot filter on script User-Agents "
                             "(alternative); see profile.py")
    parser.add_argument("--token-ttl", type=float, default=600.0, help="seconds a token lives")
    args = parser.parse_args(argv)

    languages = tuple(lang.strip() for lang in args.languages.split(",") if lang.strip())
    if not languages:
        parser.error("--languages needs at least one language code")
    data = generate(CartumSeedConfig(seed=args.seed, orders=args.orders, products=args.products,
                                     customers=args.customers, days=args.days, languages=languages,
                                     extra_statuses=args.extra_statuses))
    print(f"cartum sandbox seed {args.seed}: {len(data['orders'])} orders, {len(data['products'])} products, "
          f"{len(data['users'])} users, {len(data['statuses'])} statuses, languages {','.join(languages)}, "
          f"profile {args.profile}",
          flush=True)
    app = CartumSandbox(data, login=args.login, password=args.password, profile=args.profile)
    app.admin("set_orders_paging", {"page_cap": args.orders_page_cap, "sort": args.orders_sort})
    serve_from_command_line(app, args, faults_from_arguments(args, token_ttl=args.token_ttl))


if __name__ == "__main__":
    main()
