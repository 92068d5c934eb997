#!/usr/bin/env python3
"""Helpers for bench/run: parse wrk output, read /proc CPU counters, build the report.

  wrk.py parse WRK_OUTPUT_FILE             -> one TSV line: rps requests p50_us p99_us errors
  wrk.py cputicks PID [PID ...]            -> utime+stime (clock ticks) of those processes
                                              and their direct children, summed
  wrk.py report RAW_TSV META_FILE [NGINX_KEEPALIVE]
                                           -> the Markdown report on stdout

RAW_TSV columns (written by bench/run, one line per wrk run):
  round contender conns rps requests p50_us p99_us errors proxy_ticks upstream_ticks

Everything is the median across rounds, metric by metric. CPU per request is
(utime+stime delta) / CLK_TCK / requests, in microseconds.
"""

import os
import re
import statistics
import sys

UNITS_US = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0, "m": 60_000_000.0}

# Order of rows in the table, and the human names.
CONTENDERS = [
    ("direct", "direct (wrk → upstream)"),
    ("nginx", "nginx"),
    ("gateway", "bff-gateway"),
    ("gateway-accesslog", "bff-gateway, access log ON"),
    ("gateway-auth", "**bff-gateway, signed-in API route** (4.3 KB session cookie → Bearer)"),
    ("nginx-bytes", "nginx, same bytes as the signed-in route (cookie dropped, static 2 KB Bearer; no crypto)"),
    ("apache-oidc", "Apache + mod_auth_openidc (5.3 KB client-cookie session → Bearer)"),
]
NAMES = dict(CONTENDERS)


def duration_us(text):
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unrecognised wrk duration {text!r}")
    return float(match.group(1)) * UNITS_US[match.group(2)]


def parse(path):
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    total = re.search(r"^\s*(\d+) requests in ", text, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    p999 = re.search(r"^P99\.9:\s+([0-9.]+)", text, re.M)
    if not (rps and total and p50 and p99 and p999):
        raise SystemExit(f"cannot parse wrk output in {path}:\n{text}")
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if non2xx:
        errors += int(non2xx.group(1))
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if sock:
        errors += sum(int(sock.group(i)) for i in range(1, 5))
    print(
        "\t".join(
            [
                rps.group(1),
                total.group(1),
                f"{duration_us(p50.group(1)):.1f}",
                f"{duration_us(p99.group(1)):.1f}",
                str(errors),
                p999.group(1),
            ]
        )
    )


def ticks_of(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            stat = handle.read()
    except OSError:
        return 0
    # The command name (field 2) may contain spaces; fields after the last ')' are fixed.
    fields = stat[stat.rindex(")") + 2 :].split()
    # utime is field 14, stime field 15 (1-based); fields[0] here is field 3.
    return int(fields[11]) + int(fields[12])


def children_of(pid):
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as handle:
                    kids.extend(handle.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return kids


def cputicks(pids):
    seen = set()
    total = 0
    for pid in pids:
        for p in [pid, *children_of(pid)]:
            if p not in seen:
                seen.add(p)
                total += ticks_of(p)
    print(total)


def fmt_us(us):
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    return f"{us:.0f} µs"


def fmt_ratio(value):
    return "—" if value is None else f"{value:.2f}×"


def report(raw_path, meta_path, nginx_keepalive=None, extra_path=None):
    clk_tck = os.sysconf("SC_CLK_TCK")
    runs = {}
    with open(raw_path, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            (rnd, who, conns, rps, reqs, p50, p99, errors, p999, pticks, uticks) = line.split(
                "\t"
            )
            runs.setdefault((who, int(conns)), []).append(
                {
                    "rps": float(rps),
                    "reqs": int(reqs),
                    "p50": float(p50),
                    "p99": float(p99),
                    "p999": float(p999),
                    "errors": int(errors),
                    "proxy_us": (int(pticks) / clk_tck * 1e6 / int(reqs)) if int(reqs) else 0,
                    "upstream_us": (int(uticks) / clk_tck * 1e6 / int(reqs)) if int(reqs) else 0,
                }
            )

    med = {}
    for key, samples in runs.items():
        med[key] = {
            metric: statistics.median(s[metric] for s in samples)
            for metric in ("rps", "p50", "p99", "p999", "proxy_us", "upstream_us")
        }
        med[key]["errors"] = sum(s["errors"] for s in samples)
        med[key]["rounds"] = len(samples)
        med[key]["spread"] = (
            (max(s["rps"] for s in samples) - min(s["rps"] for s in samples))
            / med[key]["rps"]
            if med[key]["rps"]
            else 0
        )

    with open(meta_path, encoding="utf-8") as handle:
        sys.stdout.write(handle.read())

    conns_all = sorted({c for (_, c) in med})
    print()
    print(
        "| contender | conns | req/s | p50 | p99 | p99.9 | proxy CPU µs/req | upstream CPU µs/req "
        "| req/s vs direct | req/s vs nginx | p99 vs nginx | CPU vs nginx | rps spread | errors |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for conns in conns_all:
        direct = med.get(("direct", conns))
        nginx = med.get(("nginx", conns))
        for who, label in CONTENDERS:
            row = med.get((who, conns))
            if row is None:
                continue
            vs_direct = row["rps"] / direct["rps"] if direct and who != "direct" else None
            vs_nginx = (
                row["rps"] / nginx["rps"]
                if nginx and who not in ("direct", "nginx")
                else None
            )
            p99_vs_nginx = (
                row["p99"] / nginx["p99"]
                if nginx and who not in ("direct", "nginx")
                else None
            )
            proxy_cpu = "—" if who == "direct" else f"{row['proxy_us']:.1f}"
            cpu_vs_nginx = (
                row["proxy_us"] / nginx["proxy_us"]
                if nginx and nginx["proxy_us"] and who not in ("direct", "nginx")
                else None
            )
            print(
                f"| {label} | {conns} | {row['rps']:,.0f} | {fmt_us(row['p50'])} "
                f"| {fmt_us(row['p99'])} | {fmt_us(row['p999'])} | {proxy_cpu} "
                f"| {row['upstream_us']:.1f} "
                f"| {fmt_ratio(vs_direct)} | {fmt_ratio(vs_nginx)} | {fmt_ratio(p99_vs_nginx)} "
                f"| {fmt_ratio(cpu_vs_nginx)} "
                f"| {row['spread'] * 100:.0f}% | {row['errors']} |"
            )

    print()
    print("Ratios are of medians. *rps spread* is (max − min) / median req/s across rounds.")
    if nginx_keepalive is not None:
        over = [c for c in conns_all if c > nginx_keepalive and ("nginx", c) in med]
        if over:
            print()
            print(
                f"**Caution:** at {', '.join(map(str, over))} connections nginx's upstream pool "
                f"(`keepalive {nginx_keepalive}`) is smaller than the number of concurrent "
                "requests, so nginx opens and closes upstream connections for the excess; those "
                "nginx rows are not a like-for-like comparison with the gateway (whose pool keeps "
                "up to 256 idle connections). Re-run with `BENCH_NGINX_KEEPALIVE=256` for that."
            )
    print()
    print("**Target (issue 2), at 64 connections: gateway ≥ 0.9× nginx req/s, p99 ≤ 1.2× nginx.**")
    print()
    gw = med.get(("gateway", 64))
    ng = med.get(("nginx", 64))
    if gw and ng:
        thr = gw["rps"] / ng["rps"]
        lat = gw["p99"] / ng["p99"]
        print(
            f"- throughput: {thr:.2f}× nginx — {'met' if thr >= 0.9 else 'MISSED'} "
            f"({gw['rps']:,.0f} vs {ng['rps']:,.0f} req/s)"
        )
        print(
            f"- p99: {lat:.2f}× nginx — {'met' if lat <= 1.2 else 'MISSED'} "
            f"({fmt_us(gw['p99'])} vs {fmt_us(ng['p99'])})"
        )
    else:
        print("- no 64-connection rows for both nginx and the gateway in this run")
    print()
    print(
        "**Targets (issue 6), signed-in API route at 64 connections: ≥ 0.9× nginx req/s, "
        "CPU/req ≤ 1.2× nginx, p99 ≤ 1.2× nginx; added p99 over direct < 300 µs at 1 connection.**"
    )
    print()
    auth = med.get(("gateway-auth", 64))
    if auth and ng:
        checks = [
            ("throughput", auth["rps"] / ng["rps"], ">=", 0.9),
            ("CPU per request", auth["proxy_us"] / ng["proxy_us"] if ng["proxy_us"] else 0, "<=", 1.2),
            ("p99", auth["p99"] / ng["p99"], "<=", 1.2),
        ]
        for name, value, op, limit in checks:
            ok = value >= limit if op == ">=" else value <= limit
            print(f"- {name}: {value:.2f}× nginx — {'met' if ok else 'MISSED'} (target {op} {limit}×)")
    else:
        print("- no 64-connection rows for both nginx and the signed-in route in this run")
    auth1 = med.get(("gateway-auth", 1))
    direct1 = med.get(("direct", 1))
    if auth1 and direct1:
        added = auth1["p99"] - direct1["p99"]
        print(
            f"- added p99 over direct at 1 connection: {fmt_us(added)} — "
            f"{'met' if added < 300 else 'MISSED'} (target < 300 µs)"
        )
    apache = med.get(("apache-oidc", 64))
    if auth and apache:
        ratio = auth["rps"] / apache["rps"]
        print(
            f"- vs Apache + mod_auth_openidc: {ratio:.1f}× its req/s — "
            f"{'met' if ratio >= 6 else 'MISSED'} (target >= 6×); CPU per request "
            f"{auth['proxy_us']:.1f} vs {apache['proxy_us']:.1f} µs"
        )
    if extra_path:
        print_extra(extra_path)
    if any(row["errors"] for row in med.values()):
        print()
        print("**Some runs had errors (non-2xx responses or socket errors); see the raw wrk output.**")


def print_extra(path):
    """Memory, login cost and time to ready, from bench/run's KIND/WHO/VALUE lines."""
    values = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3 or not parts[2]:
                continue
            kind, who, value = parts
            values.setdefault((kind, who), []).append(float(value))
    if not values:
        return

    def mib(kib):
        return f"{kib / 1024:.1f} MiB"

    print()
    print("### Memory, login and startup")
    print()
    count = values.get(("idle_conns_count", "-"), [0])[0]
    print(f"| contender | idle PSS | peak PSS under load | RSS with {count:,.0f} idle connections "
          "| CPU per full login | time to ready |")
    print("|---|---:|---:|---:|---:|---:|")
    for who, label in CONTENDERS:
        idle = values.get(("idle_pss", who))
        peak = values.get(("peak_pss", who))
        conns = values.get(("idle_conns_rss", who))
        login = values.get(("login_cpu_us", who))
        ready = values.get(("ready_ms", who))
        if not any((idle, peak, conns, login, ready)):
            continue
        print(
            f"| {label} | {mib(idle[0]) if idle else '—'} | {mib(max(peak)) if peak else '—'} "
            f"| {mib(conns[0]) if conns else '—'} "
            f"| {f'{login[0]:,.0f} µs' if login else '—'} "
            f"| {f'{ready[0]:.0f} ms' if ready else '—'} |"
        )
    print()
    print(
        "PSS is summed over a contender's processes (nginx: master + worker; Apache: parent + "
        "child). Idle connections: each made one request, then stays open (HTTP/1.1 keep-alive). "
        "Login: gateway (or Apache) CPU for the whole flow — login redirect, callback, code "
        "exchange, ID token validation, session cookie — divided by the logins. Time to ready: "
        "spawn to the first 200 from `/readyz` (median of 5; with a token handler this includes "
        "provider discovery)."
    )
    idle = values.get(("idle_pss", "gateway"))
    conns = values.get(("idle_conns_rss", "gateway"))
    print()
    print("**Targets (issue 6): idle RSS < 20 MiB; RSS at 10,000 idle connections < 150 MiB.**")
    print()
    if idle:
        print(f"- idle: {mib(idle[0])} PSS — {'met' if idle[0] < 20 * 1024 else 'MISSED'}")
    if conns:
        verdict = "met" if conns[0] < 150 * 1024 else "MISSED"
        if count != 10000:
            verdict += f" at {count:,.0f} connections (the target is for 10,000)"
        print(f"- with {count:,.0f} idle connections: {mib(conns[0])} RSS — {verdict}")


def main(argv):
    if len(argv) >= 3 and argv[1] == "parse":
        parse(argv[2])
    elif len(argv) >= 3 and argv[1] == "cputicks":
        cputicks(argv[2:])
    elif len(argv) in (4, 5, 6) and argv[1] == "report":
        report(
            argv[2],
            argv[3],
            int(argv[4]) if len(argv) >= 5 else None,
            argv[5] if len(argv) == 6 else None,
        )
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
