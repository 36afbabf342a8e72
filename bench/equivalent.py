#!/usr/bin/env python3
"""Roster's cost per request, read off in wall time against ceilings that
do a known amount of work.

On this shared two-core machine wrk runs beside the server, so a server's
req/s is not its CPU cost alone: every microsecond it spends per request
also makes wrk wait, sleep and be woken more, and the kernel's share grows
with it. To say what Roster costs *in the benchmark's own terms*, this
script serves each path's bytes from the ceiling (bench/ceiling.rs) doing
0, 1, 2 and 3 µs of arithmetic per request, measures those and Roster
alternately with wrk, and interpolates: Roster answers like a bare hyper
server that does N ns of its own work per request.

That answers the question issue #11's GET-one row raises: how much of
Roster's work per request a path can afford for its ratio to the ceiling
to reach another path's.

    bench/equivalent.py                          # GET one, and a reseller's first page
    bench/equivalent.py --rounds 5 --path /v3/customers/ID target/release/roster

Builds roster and the ceiling (release) first, installs wrk if missing, and
uses the small database of bench/instructions.py (2,000 customers).
"""

import argparse
import statistics
import tempfile
from pathlib import Path

from instructions import small_database
from run import CEILING, OUT, ROSTER, Process, build, ensure_tools, get, wait_for, wrk

ROSTER_PORT = 18480
CEILING_PORT = 18490


def equivalent(work, times, roster_time):
    """The work (ns) at which the ceilings' time per request would equal
    Roster's: linear between the two nearest levels, or past the last two."""
    pairs = list(zip(work, times))
    for (w0, t0), (w1, t1) in zip(pairs, pairs[1:]):
        if roster_time <= t1:
            break
    return w0 + (roster_time - t0) * (w1 - w0) / (t1 - t0)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary", nargs="?", help="the roster binary (default: the release build, built first)")
    parser.add_argument("--path", action="append", help="a path to request (repeatable)")
    parser.add_argument("--work", default="0,1000,2000,3000", help="the ceilings' work per request, ns")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    args = parser.parse_args()
    work = [int(n) for n in args.work.split(",")]
    if len(work) < 2 or work != sorted(work):
        raise SystemExit("--work: at least two levels, in increasing order")

    ensure_tools()
    build()
    args.binary = args.binary or str(ROSTER)
    scratch = Path(tempfile.mkdtemp(prefix="roster-equivalent."))
    database, headers, paths = small_database(args.binary, scratch)
    OUT.mkdir(parents=True, exist_ok=True)
    roster = Process([args.binary, "serve", "--database", database, "--listen", f"127.0.0.1:{ROSTER_PORT}",
                      "--rate-limit", "0"], OUT / "roster-equivalent.log")
    try:
        wait_for(f"http://127.0.0.1:{ROSTER_PORT}/readyz")
        for path in args.path or paths:
            body = scratch / "body"
            body.write_bytes(get(f"http://127.0.0.1:{ROSTER_PORT}{path}", headers))
            ceilings = [Process([CEILING, f"127.0.0.1:{CEILING_PORT + i}", body, str(ns)], OUT / f"ceiling-equivalent-{i}.log")
                        for i, ns in enumerate(work)]
            try:
                for i in range(len(work)):
                    wait_for(f"http://127.0.0.1:{CEILING_PORT + i}/")
                rounds = []
                for _ in range(args.rounds):
                    ceiling_rps = [wrk(f"http://127.0.0.1:{CEILING_PORT + i}{path}", headers, args.seconds)["rps"]
                                   for i in range(len(work))]
                    roster_rps = wrk(f"http://127.0.0.1:{ROSTER_PORT}{path}", headers, args.seconds)["rps"]
                    rounds.append((ceiling_rps, roster_rps))
            finally:
                for ceiling in ceilings:
                    ceiling.stop()
            print(f"{path} ({body.stat().st_size:,} bytes), the median of {args.rounds} round(s), wrk -t2 -c64 {args.seconds} s:")
            for i, ns in enumerate(work):
                rps = statistics.median(r[0][i] for r in rounds)
                ratio = statistics.median(r[0][i] / r[0][0] for r in rounds)
                print(f"  the ceiling + {ns:5,} ns of work  {rps:9,.0f} req/s  {ratio:4.0%} of the bare ceiling")
            rps = statistics.median(r[1] for r in rounds)
            ratio = statistics.median(r[1] / r[0][0] for r in rounds)
            ns = statistics.median(equivalent(work, [1 / x for x in r[0]], 1 / r[1]) for r in rounds)
            print(f"  roster                        {rps:9,.0f} req/s  {ratio:4.0%}"
                  f"  = the ceiling + about {ns:,.0f} ns of work")
    finally:
        roster.stop()


if __name__ == "__main__":
    main()
