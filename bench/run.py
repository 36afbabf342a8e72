#!/usr/bin/env python3
"""Roster's benchmark harness (issue #5).

Generates 1,000,000 customers over 2,000 resellers, imports them into a fresh
SQLite database and a fresh PostgreSQL database (time and peak memory),
serves them, and loads five scenarios with wrk. Each scenario is reported
as a ratio to the ceiling: a minimal server (bench/ceiling.rs) answering the
same URL with the same bytes from memory, measured in the same run, because
absolute numbers on a shared machine drift. Writes BENCHMARKS.md.

    bench/run.py                 # everything (about 20 minutes)
    bench/run.py --quick         # 100k customers, 1 run of 5 s per scenario
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
ROSTER = ROOT / "target" / "release" / "roster"
CEILING = ROOT / "target" / "release" / "examples" / "ceiling"
PG_PORT = int(os.environ.get("ROSTER_TEST_PG_PORT", "55432"))
ROSTER_PORT = 18180
CEILING_PORT = 18190
ALL_STATUSES = "&".join(f"status={s}" for s in ["1000", "1002", "1004", "1010", "1012", "1014", "1026"])


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def reseller_id(rank):
    """The generator's id for the reseller of size rank `rank` (0: largest)."""
    return str(2_000_000_000 + rank * 7_919)


def ensure_tools():
    if shutil.which("wrk") is None:
        log("installing wrk")
        prefix = [] if os.geteuid() == 0 else ["sudo"]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(prefix + ["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(prefix + ["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env,
                       stdout=subprocess.DEVNULL)


def build():
    log("building roster and the ceiling (release)")
    subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "roster", "--example", "ceiling"],
                   cwd=ROOT, check=True)


def run_measured(args, **kwargs):
    """Runs a command; returns (seconds, peak RSS in MiB, stdout)."""
    started = time.monotonic()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, **kwargs)
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - started
    if status != 0:
        raise SystemExit(f"{args[:2]} failed with status {status}")
    return elapsed, usage.ru_maxrss / 1024, stdout


def dataset(customers, resellers, seed):
    path = OUT / f"customers-{customers}-{resellers}-{seed}.ndjson"
    if not path.exists():
        log(f"generating {customers} customers over {resellers} resellers")
        with open(path.with_suffix(".partial"), "wb") as out:
            subprocess.run([ROSTER, "generate", "--customers", str(customers), "--resellers", str(resellers),
                            "--seed", str(seed)], stdout=out, check=True)
        path.with_suffix(".partial").rename(path)
    return path


def roster_json(database, *args):
    output = subprocess.run([ROSTER, *args], env=dict(os.environ, ROSTER_DATABASE=database),
                            stdout=subprocess.PIPE, check=True).stdout
    return json.loads(output)


def wait_for(url, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def get(url, headers):
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request) as response:
        return response.read()


def resident(pid):
    """A process's resident set in MiB: now, at its peak, and now split into
    anonymous memory (its heap) and mapped files (page cache it shares)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    kib = lambda name: int(fields[name].split()[0])
    return {"rss": kib("VmRSS") / 1024, "peak_rss": kib("VmHWM") / 1024,
            "anon_rss": kib("RssAnon") / 1024, "file_rss": kib("RssFile") / 1024}


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url, headers, seconds):
    args = ["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    output = subprocess.run(args + [url], stdout=subprocess.PIPE, check=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    latency = {}
    for percent, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE):
        latency[percent] = float(value) * UNITS[unit]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        raise SystemExit(f"{url}: {non_2xx.group(1)} responses were not 200")
    return {"rps": rps, "p50": latency["50"], "p99": latency["99"]}


class Process:
    def __init__(self, args, log_path, env=None):
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=self.log, env=env)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=60)
        self.log.close()


def scenarios(base, headers):
    """The five scenarios of issue #5 on the generated data."""
    largest = reseller_id(0)
    count = lambda reseller, query: json.loads(get(f"{base}/v3/resellers/{reseller}/customers?{query}&limit=1",
                                                   headers))["totalCount"]
    # A typical reseller: the one whose portfolio is closest to 500.
    sizes = {rank: count(reseller_id(rank), ALL_STATUSES) for rank in range(1, 2000, 7)}
    typical_rank = min(sizes, key=lambda rank: abs(sizes[rank] - 500))
    typical = reseller_id(typical_rank)
    active = count(largest, "")
    return [
        ("S1", f"default page, typical reseller ({sizes[typical_rank]} customers)",
         f"/v3/resellers/{typical}/customers"),
        ("S2", f"default page, largest reseller ({count(largest, ALL_STATUSES)} customers, {active} active)",
         f"/v3/resellers/{largest}/customers"),
        ("S3", "prefix search `name=north*`, largest", f"/v3/resellers/{largest}/customers?name=north*"),
        ("S4", "substring search `name=*tec*`, `sort-by=companyName`, largest",
         f"/v3/resellers/{largest}/customers?name=*tec*&sort-by=companyName"),
        ("S5", f"`offset={active - 20}` (the last page), largest",
         f"/v3/resellers/{largest}/customers?offset={active - 20}"),
    ]


def measure(base, headers, scenario_list, runs, seconds, label):
    """wrk on the ceiling and on Roster, alternately, for each scenario."""
    results = []
    for key, description, path in scenario_list:
        body = get(base + path, headers)
        body_path = OUT / f"body-{label}-{key}.json"
        body_path.write_bytes(body)
        ceiling = Process([CEILING, f"127.0.0.1:{CEILING_PORT}", body_path], OUT / "ceiling.log")
        wait_for(f"http://127.0.0.1:{CEILING_PORT}/")
        ceiling_runs, roster_runs = [], []
        for run in range(runs):
            ceiling_runs.append(wrk(f"http://127.0.0.1:{CEILING_PORT}{path}", headers, seconds))
            roster_runs.append(wrk(base + path, headers, seconds))
            log(f"{label} {key} run {run + 1}: ceiling {ceiling_runs[-1]['rps']:.0f} req/s, "
                f"roster {roster_runs[-1]['rps']:.0f} req/s")
        ceiling.stop()
        results.append({"key": key, "description": description, "path": path, "bytes": len(body),
                        "ceiling": ceiling_runs, "roster": roster_runs})
    return results


def timed_import(database, data, label):
    """Imports the data into a fresh database: (seconds, peak MiB, outcome)."""
    log(f"importing into {label}")
    seconds, peak, output = run_measured([ROSTER, "import", "--database", database, data])
    log(f"{label} import: {seconds:.1f} s, peak {peak:.0f} MiB")
    return seconds, peak, json.loads(output)


def median_of(runs, field):
    return statistics.median(run[field] for run in runs)


def serve_and_measure(database, label, runs, seconds):
    server = Process([ROSTER, "serve", "--database", database, "--listen", f"127.0.0.1:{ROSTER_PORT}",
                      "--rate-limit", "0"], OUT / f"roster-{label}.log")
    started = time.monotonic()
    wait_for(f"http://127.0.0.1:{ROSTER_PORT}/healthz")
    startup = time.monotonic() - started
    client = roster_json(database, "clients", "create", "--name", "bench", "--resellers", "*")
    token = roster_json(database, "tokens", "issue", "--client-id", client["clientId"])["access_token"]
    headers = {"Authorization": f"Bearer {token}", "X-Api-Key": client["clientId"]}
    base = f"http://127.0.0.1:{ROSTER_PORT}"
    scenario_list = scenarios(base, headers)
    results = measure(base, headers, scenario_list, runs, seconds, label)
    memory = resident(server.process.pid)
    server.stop()
    return {"results": results, **memory, "startup": startup, "headers": headers, "scenarios": scenario_list}


def pgbench(database_name, reseller, runs, seconds):
    """The straightforward SQL for S2's page plus its count(*), with the index
    such an implementation would have, on as many connections as wrk uses."""
    script = OUT / "pgbench-s2.sql"
    script.write_text(
        f"SELECT doc FROM customers WHERE reseller_id = '{reseller}' AND status = 1000\n"
        f"  ORDER BY created_at DESC, customer_id ASC LIMIT 20 OFFSET 0;\n"
        f"SELECT count(*) FROM customers WHERE reseller_id = '{reseller}' AND status = 1000;\n")
    psql = ["psql", "-q", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "-d", database_name, "-c"]
    subprocess.run(psql + ["CREATE INDEX IF NOT EXISTS bench_s2 ON customers "
                           "(reseller_id, status, created_at DESC, customer_id)"], check=True)
    subprocess.run(psql + ["VACUUM ANALYZE customers"], check=True)
    pg_bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    tps = []
    for _ in range(runs):
        output = subprocess.run([pg_bin / "pgbench", "-n", "-c", "64", "-j", "2", "-T", str(seconds), "-f", script,
                                 "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", database_name],
                                stdout=subprocess.PIPE, check=True, text=True).stdout
        tps.append(float(re.search(r"tps = ([\d.]+)", output).group(1)))
        log(f"pgbench S2: {tps[-1]:.0f} tps")
    subprocess.run(psql + ["DROP INDEX bench_s2"], check=True)
    return tps


TARGETS = {"S1": 0.50, "S2": 0.40, "S3": 0.30, "S4": 0.10, "S5": 0.10}


def table(measured, with_targets):
    """The scenario table; the targets of issue #5 are SQLite's only."""
    lines = ["| scenario | Roster req/s, median (min–max) | ceiling req/s | ratio | p50 | p99 | target |",
             "|---|---|---|---|---|---|---|"]
    for result in measured["results"]:
        roster_rps = [run["rps"] for run in result["roster"]]
        ratio = median_of(result["roster"], "rps") / median_of(result["ceiling"], "rps")
        target = TARGETS[result["key"]]
        extra = ", p99 ≤ 25 ms" if result["key"] == "S4" else ""
        met = ratio >= target and (result["key"] != "S4" or median_of(result["roster"], "p99") <= 25)
        verdict = f"≥ {target:.0%}{extra} {'✅' if met else '❌'}" if with_targets else "—"
        lines.append(
            f"| {result['key']}: {result['description']} | {statistics.median(roster_rps):,.0f} "
            f"({min(roster_rps):,.0f}–{max(roster_rps):,.0f}) | {median_of(result['ceiling'], 'rps'):,.0f} | "
            f"**{ratio:.0%}** | {median_of(result['roster'], 'p50'):.2f} ms | "
            f"{median_of(result['roster'], 'p99'):.2f} ms | {verdict} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--resellers", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="100k customers, 1 run of 5 s")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the report from bench/out/report.json without measuring")
    args = parser.parse_args()
    if args.quick:
        args.customers, args.runs, args.seconds = 100_000, 1, 5
    if args.report_only:
        write_report(args, json.loads((OUT / "report.json").read_text()))
        return

    OUT.mkdir(parents=True, exist_ok=True)
    ensure_tools()
    build()
    data = dataset(args.customers, args.resellers, 1)
    work = Path(tempfile.mkdtemp(prefix="roster-bench."))
    # PostgreSQL runs as its own user and must reach its data directory here.
    work.chmod(0o755)
    report = {}
    save = lambda: (OUT / "report.json").write_text(json.dumps(report, indent=2, default=str))
    try:
        sqlite_url = f"sqlite://{work}/bench.db"
        report["sqlite_import"] = timed_import(sqlite_url, data, "SQLite")
        report["sqlite"] = serve_and_measure(sqlite_url, "sqlite", args.runs, args.seconds)
        save()

        if not args.no_postgres:
            subprocess.run([ROOT / "scripts" / "services", "start", work / "services"], check=True)
            try:
                subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "-c",
                                "CREATE DATABASE roster_bench"], check=True)
                postgres_url = f"postgres://postgres@127.0.0.1:{PG_PORT}/roster_bench"
                report["postgres_import"] = timed_import(postgres_url, data, "PostgreSQL")
                report["postgres"] = serve_and_measure(postgres_url, "postgres", args.runs, args.seconds)
                report["pgbench"] = pgbench("roster_bench", reseller_id(0), args.runs, args.seconds)
            finally:
                subprocess.run([ROOT / "scripts" / "services", "stop", work / "services"], check=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    save()
    write_report(args, report)


def write_report(args, report):
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // (1024 * 1024)
    shown = [arg for arg in sys.argv[1:] if arg != "--report-only"]
    command = "bench/run.py" + "".join(" " + arg for arg in shown)
    sqlite = report["sqlite"]
    seconds, peak, outcome = report["sqlite_import"]
    text = [
        "# Benchmarks",
        "",
        f"Measured {datetime.date.today().isoformat()} on {os.cpu_count()} cores ({cpu}), {memory} GiB, "
        f"{platform.system()} {platform.release()}, with `{command}`.",
        "",
        f"Data: `roster generate --customers {args.customers} --resellers {args.resellers} --seed 1`. "
        "Reseller sizes follow a Zipf law (the largest has about a tenth of all customers); 80 % are status 1000.",
        "",
        f"Load: `wrk -t2 -c64 -d{args.seconds}s --latency` on loopback, {args.runs} run(s) per scenario, with a "
        "valid token and API key and no X-Request-Id, against `roster serve --rate-limit 0`. "
        "**Ratio** is Roster's median req/s over the ceiling's median req/s. The ceiling is `bench/ceiling.rs`, "
        "a minimal tokio + hyper server answering the same URL with the same bytes from memory; the two are "
        "measured alternately in the same run. wrk runs on the same two cores, so every figure includes its share.",
        "",
        "## SQLite (embedded)",
        "",
        table(sqlite, with_targets=True),
        "",
        f"- Import of {outcome['records']:,} customers: **{seconds:.1f} s**, peak memory {peak:.0f} MiB "
        "(target ≤ 60 s).",
        f"- Server with {args.customers:,} customers: **{sqlite['rss']:.0f} MiB** resident after the load, "
        f"peak {sqlite['peak_rss']:.0f} MiB (target ≤ 300 MB): {sqlite['anon_rss']:.0f} MiB of its own memory "
        f"and {sqlite['file_rss']:.0f} MiB of mapped file pages (the pages of the document copy that the load "
        f"touched, and the binary); ready {sqlite['startup']:.1f} s after start (catalog and document copy).",
    ]
    if "postgres" in report:
        postgres = report["postgres"]
        seconds, peak, outcome = report["postgres_import"]
        s2 = next(r for r in postgres["results"] if r["key"] == "S2")
        tps = report["pgbench"]
        text += [
            "",
            "## PostgreSQL",
            "",
            table(postgres, with_targets=False),
            "",
            f"- Import of {outcome['records']:,} customers: {seconds:.1f} s, peak memory {peak:.0f} MiB.",
            f"- Server: {postgres['rss']:.0f} MiB resident after the load, peak {postgres['peak_rss']:.0f} MiB.",
            f"- **S2 against pgbench**: Roster {median_of(s2['roster'], 'rps'):,.0f} req/s; pgbench running the "
            f"straightforward SQL for the same page plus its `count(*)` (with an index on "
            f"`(reseller_id, status, created_at DESC, customer_id)`, 64 clients, 2 threads) "
            f"{statistics.median(tps):,.0f} transactions/s ({min(tps):,.0f}–{max(tps):,.0f}): Roster is "
            f"**{median_of(s2['roster'], 'rps') / statistics.median(tps):.1f}×** as fast (target ≥ 1×).",
        ]
    Path(args.output).write_text("\n".join(text) + "\n" + NOTES)
    log(f"wrote {args.output}")


NOTES = """
## Reading these figures

- SQLite, what changed: S1–S3 ran at 21–26 % of the ceiling before each
  server kept a mapped copy of the documents (docs/PERFORMANCE.md). A
  default page now costs the server about 40 µs of CPU, against about
  17 µs for the ceiling, and both make the same two system calls per
  request; no SQLite transaction, lock or futex is left on a page's path.
- Not met: S1, at 46 % against 50 %. S1 sits at its line rather than
  far below it: its three pairs of runs here gave 43 %, 48 % and 50 %,
  and shorter runs of the same build during development 50 % (twice).
  Where its time goes (docs/PERFORMANCE.md, "Where the time goes now"):
  per request the server spends about 20 µs in the kernel and 20 µs in
  user space, the ceiling about 13 µs and 4 µs. The kernel part is the
  same two system calls, dearer for Roster only because wrk, waiting on
  it, must be woken for each response. The user-space part is spread
  thin: the largest items are copying the page out of the map (~3.5 %),
  malloc and free (~5 %), hyper's parsing, the access line (~3 %) and
  dropping the request (~2 %). Closing the last points takes several of
  those at once (a zero-copy body, fewer allocations, a thread per core);
  docs/PERFORMANCE.md weighs them.
- Memory: the resident set counts the pages of the document copy that the
  load touched (page cache, which the kernel can reclaim and re-read);
  "of its own memory" is the server's heap, mostly the catalog. A partner
  sweeping every page would map up to the whole copy (~0.8 GB per million
  customers) as page cache; the server's own memory stays where it is.
- PostgreSQL reads every page from the database (no marker can be shared
  across machines cheaper than the round trip it would save), so its
  figures include the database itself on the same two cores; its table
  carries no targets (issue #5 sets only the pgbench comparison).
"""

if __name__ == "__main__":
    main()
