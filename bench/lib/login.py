#!/usr/bin/env python3
"""Logs in through a contender the way a browser would, and prints the `Cookie` header value
that carries the resulting session.

    login.py START_URL [COUNT]

START_URL is where a signed-out browser goes to sign in (the gateway's `/auth/login`, or a
protected Apache location). Redirects are followed by hand, one hop at a time, with the
cookies each host set (attributes are ignored: this is loopback). The provider (bench_provider)
skips its login form, so the hops are: contender → provider /authorize → contender callback
(code exchange, ID token validation) → the contender's landing page. Every cookie the
contender's origin holds at the end is printed as `name=value; name=value`.

With COUNT, logs in COUNT times in a row (fresh cookies each time; to measure what a login
costs the contender) and prints the last session.

Exit status 1, with the hop list, when no session cookie results.
"""

import http.client
import sys
import urllib.parse

MAX_HOPS = 12


def request(url, cookies):
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    headers = {"Accept": "text/html", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "none"}
    jar = cookies.get(parts.netloc, {})
    if jar:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
    conn.request("GET", target, headers=headers)
    response = conn.getresponse()
    response.read()
    for value in response.headers.get_all("Set-Cookie") or []:
        pair = value.split(";", 1)[0]
        if "=" not in pair:
            continue
        name, val = pair.split("=", 1)
        name = name.strip()
        expired = "max-age=0" in value.lower().replace(" ", "") or val == ""
        host_jar = cookies.setdefault(parts.netloc, {})
        if expired:
            host_jar.pop(name, None)
        else:
            host_jar[name] = val
    conn.close()
    return response.status, response.headers.get("Location")


def login(start):
    origin = urllib.parse.urlsplit(start).netloc
    cookies = {}
    url = start
    hops = []
    for _ in range(MAX_HOPS):
        status, location = request(url, cookies)
        hops.append(f"{status} {urllib.parse.urlsplit(url)._replace(query='').geturl()}")
        if status not in (301, 302, 303, 307, 308) or not location:
            break
        url = urllib.parse.urljoin(url, location)
    jar = cookies.get(origin, {})
    if not jar:
        sys.exit("login.py: no session cookie after: " + " → ".join(hops))
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: login.py START_URL [COUNT]")
    count = int(sys.argv[2]) if len(sys.argv) == 3 else 1
    cookie = ""
    for _ in range(count):
        cookie = login(sys.argv[1])
    print(cookie)


if __name__ == "__main__":
    main()
