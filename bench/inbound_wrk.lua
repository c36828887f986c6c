-- wrk script for bench/bench_inbound.py: post each pre-signed STOP exactly once.
--
-- wrk -s inbound_wrk.lua <url> -- <requests file> <threads> <expected reply substring>
-- The file has one request per line: "<X-Twilio-Signature> <urlencoded body>". Thread i posts
-- lines i, i+n, i+2n, ...; a thread stops once each of its lines was answered. A connection
-- that asks for a request after its thread's lines ran out waits a second and sends a GET (a
-- cheap 405, no database work) so that nothing is posted twice; those are counted apart.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file, n, i = args[1], tonumber(args[2]), 0
  expected = args[3]
  requests = {}
  for line in io.lines(file) do
    if i % n == id then
      local signature, body = line:match("^(%S+) (.*)$")
      requests[#requests + 1] = wrk.format("POST", wrk.path, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = signature,
      }, body)
    end
    i = i + 1
  end
  expected_answers = #requests
  if id == 0 then
    -- wrk calls request() once on the first thread's state to check the script (before any
    -- connection): give that call a placeholder instead of a real STOP.
    table.insert(requests, 1, wrk.format("GET", wrk.path))
  end
  sent, answered, extra, bad_status, bad_body = 0, 0, 0, 0, 0
end

function delay()
  if sent >= #requests then
    return 1000
  end
  return 0
end

function request()
  sent = sent + 1
  if sent > #requests then
    extra = extra + 1
    return wrk.format("GET", wrk.path)
  end
  return requests[sent]
end

function response(status, headers, body)
  if status == 405 then
    return  -- an idle connection's placeholder
  end
  answered = answered + 1
  if status ~= 200 then
    bad_status = bad_status + 1
  elseif not body:find(expected, 1, true) then
    bad_body = bad_body + 1
  end
  if answered >= expected_answers then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests_)
  local totals = {answered = 0, extra = 0, bad_status = 0, bad_body = 0}
  for _, thread in ipairs(threads) do
    for key, _ in pairs(totals) do
      totals[key] = totals[key] + thread:get(key)
    end
  end
  io.write(string.format(
    "WRK {\"requests\": %d, \"seconds\": %.3f, \"errors\": %d, \"answered\": %d, \"extra\": %d, " ..
    "\"bad_status\": %d, \"bad_body\": %d, \"p50_ms\": %.2f, \"p90_ms\": %.2f, \"p99_ms\": %.2f, " ..
    "\"max_ms\": %.2f, \"mean_ms\": %.2f}\n",
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    totals.answered, totals.extra, totals.bad_status, totals.bad_body,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, latency.mean / 1e3))
end
