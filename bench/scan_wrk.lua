-- wrk script for bench.scan: every request is POST /api/v1/scans {"code": <distinct code>} with a
-- consumer's Bearer token.  wrk ... -s bench/scan_wrk.lua URL -- DATA_FILE THREADS
-- DATA_FILE has one "token url" pair per line; thread i (1-based) sends lines i, i+T, i+2T, ...
-- so no code is sent twice.  done() prints one line "WRKJSON {...}" for bench.scan to parse, with the
-- latency quantiles at 0.1% steps so that bench.scan can merge several runs' distributions, and the
-- verdicts and reward count seen in the response bodies.

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  table.insert(threads, thread)
  next_id = next_id + 1
end

function init(args)
  local path, nthreads = args[1], tonumber(args[2])
  reqs = {}
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == id - 1 then
      local token, code = line:match("^(%S+) (%S+)$")
      reqs[#reqs + 1] = wrk.format("POST", "/api/v1/scans",
        {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"},
        '{"code":"' .. code .. '"}')
    end
    i = i + 1
  end
  sent = 0
  wrapped = 0
  statuses = {}
  verdicts = {}
  rewards = 0
end

function request()
  sent = sent + 1
  if sent > #reqs then      -- out of distinct codes: repeat (flagged, the run is then invalid)
    wrapped = wrapped + 1
    sent = 1
  end
  return reqs[sent]
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  local verdict = body and body:match('"verdict":%s*"([%w_]+)"')
  if verdict then
    verdicts[verdict] = (verdicts[verdict] or 0) + 1
    local _, n = body:gsub('"coupon_id"', "")
    rewards = rewards + n
  end
end

function done(summary, latency, requests)
  local counts, seen, wraps, won = {}, {}, 0, 0
  for _, thread in ipairs(threads) do
    wraps = wraps + (thread:get("wrapped") or 0)
    won = won + (thread:get("rewards") or 0)
    for k, v in pairs(thread:get("statuses") or {}) do counts[k] = (counts[k] or 0) + v end
    for k, v in pairs(thread:get("verdicts") or {}) do seen[k] = (seen[k] or 0) + v end
  end
  local parts, vparts = {}, {}
  for k, v in pairs(counts) do parts[#parts + 1] = string.format('"%s":%d', k, v) end
  for k, v in pairs(seen) do vparts[#vparts + 1] = string.format('"%s":%d', k, v) end
  local q = {}
  for i = 1, 1000 do q[i] = string.format("%d", latency:percentile(i / 10)) end
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
    .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,"wrapped":%d,"statuses":{%s},"verdicts":{%s},"rewards":%d,"quantiles_us":[%s]}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, wraps, table.concat(parts, ","), table.concat(vparts, ","),
    won, table.concat(q, ",")))
end
