#!/usr/bin/env python3
"""Instructions per request, counted by valgrind's callgrind: a measure of
Roster's own per-request cost that the shared machine's noise does not
move (the same binary and requests give the same count to within about
1 %),
for comparing two builds where wrk's ±10 % would hide the difference.

Builds a small database (2,000 generated customers), starts each binary
under callgrind on it, sends warm-up requests, then counts the
instructions of N requests on four keep-alive connections, one request at
a time. The ceiling (bench/ceiling.rs) is counted the same way, serving
the bytes Roster answered for the first path.

    bench/instructions.py target/release/roster /tmp/roster-before
    bench/instructions.py --path /v3/customers/ID --requests 2000 BINARY...
    bench/instructions.py --serve-args '--metrics-listen 127.0.0.1:18898' BINARY

The count includes what the server does on the kernel's behalf in user
space (hyper, tokio), not the kernel's own work, and callgrind runs code
without SHA extensions, so the token's HMAC counts several times what it
costs on hardware that has them.
"""

import argparse
import glob
import http.client
import json
import os
import shlex
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = 18899


def roster_json(binary, database, *args):
    output = subprocess.run([binary, *args, "--database", database], stdout=subprocess.PIPE, check=True).stdout
    return json.loads(output)


def small_database(binary, work):
    """2,000 generated customers of five resellers in a SQLite database under
    `work`, a client for all of them: (database URL, request headers, default
    paths: one customer and its reseller's first page)."""
    database = f"sqlite://{work}/roster.db"
    data = work / "customers.ndjson"
    with open(data, "wb") as out:
        subprocess.run([binary, "generate", "--customers", "2000", "--resellers", "5", "--seed", "1"],
                       stdout=out, check=True)
    subprocess.run([binary, "import", "--database", database, data],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    client = roster_json(binary, database, "clients", "create", "--name", "bench", "--resellers", "*")
    token = roster_json(binary, database, "tokens", "issue", "--client-id", client["clientId"])["access_token"]
    headers = {"Authorization": f"Bearer {token}", "X-Api-Key": client["clientId"]}
    with open(data) as lines:
        record = json.loads(next(lines))
    return database, headers, [f"/v3/customers/{record['customerId']}",
                               f"/v3/resellers/{record['resellerId']}/customers"]


def count(args, path, headers, requests, out):
    """Instructions per request of the server `args` answering `path`, and its first answer."""
    server = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *args],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                probe = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
                probe.request("GET", "/readyz")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not become ready")
            time.sleep(0.5)
        connections = [http.client.HTTPConnection("127.0.0.1", PORT, timeout=30) for _ in range(4)]

        def send(i):
            connection = connections[i % len(connections)]
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.status not in (200, 304):
                raise SystemExit(f"{path}: {response.status} {body[:200]!r}")
            return body

        first = send(0)
        for i in range(1, 200):
            send(i)
        subprocess.run(["callgrind_control", "--zero", str(server.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        for i in range(requests):
            send(i)
        subprocess.run(["callgrind_control", "--dump", str(server.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    finally:
        server.terminate()
        server.wait()
    dump = min((f for f in glob.glob(out + ".*")), key=os.path.getmtime)
    with open(dump) as lines:
        total = next(int(line.split()[1]) for line in lines if line.startswith(("summary:", "totals:")))
    return total / requests, first


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries", nargs="+", help="roster binaries to count")
    parser.add_argument("--path", action="append",
                        help="a path to request (repeatable; default: one customer, and a reseller's first page)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--header", action="append", default=[],
                        help="another request header, as 'Name: value' (repeatable), e.g. 'X-Api-Version: 2025-11'")
    parser.add_argument("--serve-args", default="",
                        help="more arguments for `roster serve`, e.g. '--metrics-listen 127.0.0.1:18898'")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="roster-instructions."))
    database, headers, paths = small_database(args.binaries[0], work)
    headers.update(tuple(part.strip() for part in header.split(":", 1)) for header in args.header)
    paths = args.path or paths

    for path in paths:
        print(f"{path}, {args.requests} requests:")
        body = None
        for binary in args.binaries:
            serve = [binary, "serve", "--database", database, "--listen", f"127.0.0.1:{PORT}", "--rate-limit", "0",
                     *shlex.split(args.serve_args)]
            per_request, body = count(serve, path, headers, args.requests, str(work / "callgrind"))
            print(f"  {per_request:9,.0f}  {binary}")
        (work / "body").write_bytes(body)
        ceiling = [str(ROOT / "target" / "release" / "examples" / "ceiling"), f"127.0.0.1:{PORT}", str(work / "body")]
        if Path(ceiling[0]).exists():
            per_request, _ = count(ceiling, path, headers, args.requests, str(work / "callgrind"))
            print(f"  {per_request:9,.0f}  the ceiling, answering the same {len(body):,} bytes")


if __name__ == "__main__":
    main()
