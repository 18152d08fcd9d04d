-- wrk script of bench/tracking_redirect.py: each thread cycles through the token file from its
-- own offset, counts what it sends (a granted contact's request must write one row) and stops
-- after its share of the requests; done() prints `bench.<key> <value>` lines for the script.
-- Arguments after `--`: the token file (lines `g <path>` or `w <path>`), the request count,
-- wrk's thread count and a folder where each thread leaves `done.<id>` once its share is
-- answered (wrk itself runs for its whole -d: the script interrupts it when all are there).

wrk.headers["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
  .. "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

-- wrk's own duration is its -d, even when every thread stopped early: the threads time
-- themselves with the C library's clock.
local ffi = require("ffi")
ffi.cdef([[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock, bench_timespec *now);
]])
local now = ffi.new("bench_timespec")

local function clock()
  ffi.C.clock_gettime(1, now) -- CLOCK_MONOTONIC
  return tonumber(now.tv_sec) + tonumber(now.tv_nsec) / 1e9
end

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local count, share = tonumber(args[2]), tonumber(args[3])
  requests, clicks, granted = {}, {}, {}
  for line in io.lines(args[1]) do
    local path = line:sub(3)
    table.insert(requests, wrk.format("GET", path))
    table.insert(clicks, path:sub(4, 4) == "c")
    table.insert(granted, line:sub(1, 1) == "g")
  end
  folder = args[4]
  quota = math.floor(count / share) + ((id < count % share) and 1 or 0)
  index = math.floor(#requests * id / share)
  issued, answered, bad_status, granted_clicks, granted_opens = 0, 0, 0, 0, 0
  started, stopped = clock(), 0
end

-- Once a thread has sent its share, its connections send this until every one of its real
-- requests is answered: a link that is not genuine, answered 404 and recording nothing, so
-- that no real request is still in flight when wrk stops.
local filler = wrk.format("GET", "/t/c/not-a-token")

function request()
  if not verified then
    -- wrk calls the first thread's request() once before it runs, to check what it returns;
    -- that request is never sent.
    verified = true
    if id == 0 then
      return requests[1]
    end
  end
  if issued >= quota then
    return filler
  end
  index = index % #requests + 1
  issued = issued + 1
  if granted[index] then
    if clicks[index] then
      granted_clicks = granted_clicks + 1
    else
      granted_opens = granted_opens + 1
    end
  end
  return requests[index]
end

function response(status, headers, body)
  if status == 404 then
    return
  end
  answered = answered + 1
  if status ~= 302 and status ~= 200 then
    bad_status = bad_status + 1
  end
  if answered >= quota and stopped == 0 then
    stopped = clock()
    io.open(folder .. "/done." .. id, "w"):close()
    wrk.thread:stop()
  end
end

function done(summary, latency, _)
  local sums = { issued = 0, answered = 0, granted_clicks = 0, granted_opens = 0, bad_status = 0 }
  local first, last = math.huge, 0
  for _, thread in ipairs(threads) do
    for key, _ in pairs(sums) do
      sums[key] = sums[key] + thread:get(key)
    end
    first = math.min(first, thread:get("started"))
    last = math.max(last, thread:get("stopped"))
  end
  local errors = summary.errors
  local out = {
    all_requests = summary.requests,
    -- A thread that never reached its share ran for wrk's whole -d.
    seconds = (last > first) and (last - first) or summary.duration / 1e6,
    errors = errors.connect + errors.read + errors.write + errors.timeout,
    p50 = latency:percentile(50),
    p95 = latency:percentile(95),
    p99 = latency:percentile(99),
    max = latency.max,
  }
  for key, value in pairs(sums) do
    out[key] = value
  end
  for key, value in pairs(out) do
    io.write(string.format("bench.%s %s\n", key, value))
  end
end
