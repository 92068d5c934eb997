#!/usr/bin/env python3
"""Memory and connection helpers for bench/run.

    mem.py pss PID...             PSS of the processes and their children, in KiB
    mem.py rss PID...             RSS of the same, in KiB
    mem.py peak OUT PID...        samples PSS every 200 ms until SIGTERM, then writes the peak
                                  (KiB) to OUT
    mem.py idle HOST PORT N PATH  opens N keep-alive connections, sends one GET PATH on each and
                                  reads the answer, prints "ready N" and holds them open until
                                  stdin closes (or SIGTERM)

PSS (proportional set size) charges shared pages to each sharer in part, so a multi-process
server (nginx, Apache) is not over-counted for its shared code; `smaps_rollup` gives it cheaply.
"""

import os
import signal
import socket
import sys
import time


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


def family(pids):
    seen, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.append(pid)
        todo.extend(children_of(pid))
    return seen


def field_kib(pid, path, name):
    try:
        with open(f"/proc/{pid}/{path}", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss(pids):
    return sum(field_kib(p, "smaps_rollup", "Pss") for p in family(pids))


def rss(pids):
    return sum(field_kib(p, "status", "VmRSS") for p in family(pids))


def peak(out, pids):
    best = [pss(pids)]
    running = [True]

    def stop(*_):
        running[0] = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while running[0]:
        best[0] = max(best[0], pss(pids))
        time.sleep(0.2)
    best[0] = max(best[0], pss(pids))
    with open(out, "w", encoding="ascii") as handle:
        handle.write(f"{best[0]}\n")


def idle(host, port, count, path):
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    conns = []
    for _ in range(count):
        sock = socket.create_connection((host, port), timeout=10)
        sock.sendall(request)
        data = b""
        # Read the head and the (small, Content-Length) body of the one answer.
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit(f"connection {len(conns)} closed before an answer")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"connection {len(conns)}: {head.splitlines()[0]!r}")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            body += sock.recv(65536)
        conns.append(sock)
    print(f"ready {len(conns)}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.stdin.read()


def main(argv):
    if len(argv) >= 3 and argv[1] == "pss":
        print(pss(argv[2:]))
    elif len(argv) >= 3 and argv[1] == "rss":
        print(rss(argv[2:]))
    elif len(argv) >= 4 and argv[1] == "peak":
        peak(argv[2], argv[3:])
    elif len(argv) == 6 and argv[1] == "idle":
        idle(argv[2], int(argv[3]), int(argv[4]), argv[5])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
