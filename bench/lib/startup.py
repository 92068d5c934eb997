#!/usr/bin/env python3
"""Time to ready: starts a command, polls URL every 2 ms until it answers 200, prints the
milliseconds from spawn to that answer, then stops the command (SIGTERM, by PID).

    startup.py URL -- COMMAND...
"""

import http.client
import subprocess
import sys
import time
import urllib.parse


def main(argv):
    if len(argv) < 4 or argv[2] != "--":
        raise SystemExit(__doc__)
    url = urllib.parse.urlsplit(argv[1])
    started = time.monotonic()
    proc = subprocess.Popen(argv[3:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - started < 30:
            if proc.poll() is not None:
                raise SystemExit(f"startup.py: the command exited with {proc.returncode}")
            try:
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=1)
                conn.request("GET", url.path or "/")
                if conn.getresponse().status == 200:
                    print(f"{(time.monotonic() - started) * 1000:.1f}")
                    return
            except OSError:
                pass
            time.sleep(0.002)
        raise SystemExit("startup.py: not ready within 30 s")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main(sys.argv)
