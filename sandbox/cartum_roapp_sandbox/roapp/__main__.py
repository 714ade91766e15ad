"""``python -m cartum_roapp_sandbox.roapp``: serve the RO App sandbox.

Rate limited to RO App's own 3 requests per second per key unless ``--rate-limit 0``.
"""

from __future__ import annotations

import argparse

from ..server import add_common_arguments, faults_from_arguments, serve_from_command_line
from .app import DEFAULT_API_KEY, RoAppSandbox
from .profile import PROFILES
from .validation import LIST_FORMATS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cartum_roapp_sandbox.roapp", description=__doc__)
    add_common_arguments(parser, default_port=8702)
    parser.add_argument("--locations", type=int, default=3, help="how many RO App locations (branches)")
    parser.add_argument("--employees", type=int, default=8, help="how many employees (at least 4)")
    parser.add_argument("--api-key", action="append", dest="api_keys",
                        help=f"an accepted API key; repeatable (default {DEFAULT_API_KEY!r})")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="documented",
                        help="which side of each disagreement between the public sources to serve (profile.py)")
    parser.add_argument("--list-format", choices=LIST_FORMATS, default=None,
                        help='lists answer {"data", "count"} or {"data", "paging"} (default: the profile\'s)')
    parser.add_argument("--rate-limit", type=int, default=3, help="requests per window per key; 0 turns it off")
    parser.add_argument("--rate-window", type=float, default=1.0, help="the sliding window, in seconds")
    args = parser.parse_args(argv)
    app = RoAppSandbox.seeded(args.api_keys or [DEFAULT_API_KEY], list_format=args.list_format,
                              profile=args.profile, seed=args.seed,
                              locations=args.locations, employees=args.employees)
    serve_from_command_line(app, args, faults_from_arguments(args, rate_limit=args.rate_limit,
                                                             rate_window=args.rate_window))


if __name__ == "__main__":
    main()
