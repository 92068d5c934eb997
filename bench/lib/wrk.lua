-- wrk script for bench/run: sends the session cookie of a signed-in contender (BENCH_COOKIE,
-- with the CSRF header a SPA's fetch sends), and prints p99.9, which `--latency` leaves out.
local cookie = os.getenv("BENCH_COOKIE")
if cookie ~= nil and cookie ~= "" then
  wrk.headers["Cookie"] = cookie
  wrk.headers["X-CSRF"] = "1"
  wrk.headers["Sec-Fetch-Site"] = "same-origin"
end

done = function(summary, latency, requests)
  io.write(string.format("P99.9: %.1f\n", latency:percentile(99.9)))
end
