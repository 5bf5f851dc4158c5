-- wrk script of bench/run_http.py: one scenario, one side (ours or the peer).
--
-- Run it with one connection per thread (`-tN -cN`). wrk gives every thread its own Lua state
-- but does not tell a script which connection a request goes out on, so "one connection per
-- thread" is what makes "this thread's state" mean "this connection's state": a thread holds one
-- value from the file and, in chain mode, one refresh-token chain that no other connection
-- touches. (gunicorn's sync workers close the connection after each response; wrk reconnects and
-- the thread's state carries on.)
--
-- Arguments after `--`, as key=value:
--   file=PATH threads=N   values, one a line; thread k (0-based) of the N uses lines k, k+N, k+2N...
--   mode=cycle         each request's body is the thread's next line (e.g. login bodies)
--   mode=fixed         every request's body is the thread's first line (e.g. a reusable refresh token)
--   mode=form          as fixed, sent as application/x-www-form-urlencoded (OAuth2 token requests)
--   mode=bearer        no body; `Authorization: Bearer <the thread's first line>`; with renew=NAME,
--                      a response header NAME (`Bearer <token>`) replaces the token (the middleware's
--                      re-signed token, which a real client keeps using)
--   mode=plain         no body, no header (the ceiling's bare view)
--   mode=chain         body {"<send>":"<token>"}, the token starting as the thread's first line and
--                      replaced by the `<take>` member of every 200 response (rotating refresh tokens)
--   send=NAME take=NAME   the JSON members of chain mode
--   mode=mixed         per thread, 20 requests in a fixed rotation: 16 validate, 3 refresh, 1 login
--                      (80/15/5); each line is `access<TAB>refresh<TAB>login body`; the refresh is a
--                      chain as above. vpath= vstyle=bearer|json (json: POST {"token": access}),
--                      rpath= (with send/take), lpath= lauth=HEADER-VALUE (the login's Authorization)
--   method=POST path=/api/x   header=Name:Value (repeatable)
--
-- done() prints one line, `BENCH_RESULT {json}`: requests, duration, p50/p95/p99 latency, wrk's
-- error counts and every status seen, the 200s of a chain that carried no new token, and the sum of
-- the `X-Bench-SQL` headers (statements per request, counted by bench/sql_counter.py) with the
-- number of responses that carried one.

local threads = {}
local thread_count = 0

function setup(thread)
   thread:set("id", thread_count)
   thread_count = thread_count + 1
   table.insert(threads, thread)
end

local values = {}
local cursor = 1
local mode, send, take, token, renew
local headers = {}
local mixed = {}
local rotation, last_kind = 0, nil
local access, login_body
statuses = {}
chain_missing = 0
sql_total = 0
sql_responses = 0
hash_us = 0

function init(args)
   local file, threads_total
   for _, arg in ipairs(args) do
      local name, value = arg:match("^([%w_]+)=(.*)$")
      if name == "file" then
         file = value
      elseif name == "mode" then
         mode = value
      elseif name == "threads" then
         threads_total = tonumber(value)
      elseif name == "send" then
         send = value
      elseif name == "take" then
         take = value
      elseif name == "method" then
         wrk.method = value
      elseif name == "path" then
         wrk.path = value
      elseif name == "renew" then
         renew = value
      elseif name == "vpath" or name == "vstyle" or name == "rpath" or name == "lpath" or name == "lauth" then
         mixed[name] = value
      elseif name == "header" then
         local header, content = value:match("^([^:]+):(.*)$")
         headers[header] = content
      else
         error("bench.lua: unknown argument " .. arg)
      end
   end
   local all = {}
   for line in io.lines(file) do
      if line ~= "" then
         table.insert(all, line)
      end
   end
   for i = id + 1, #all, threads_total do
      table.insert(values, all[i])
   end
   if #values == 0 then
      error("bench.lua: no line for thread " .. id .. " in " .. file)
   end
   token = values[1]
   if mode == "mixed" then
      access, token, login_body = token:match("^([^\t]+)\t([^\t]+)\t(.+)$")
      if not login_body then
         error("bench.lua: a mixed line is access<TAB>refresh<TAB>login body")
      end
      rotation = (id * 7) % 20 -- threads start at different points of the rotation
   elseif mode == "bearer" then
      headers["Authorization"] = "Bearer " .. token
   elseif mode ~= "cycle" and mode ~= "fixed" and mode ~= "chain" and mode ~= "form" and mode ~= "plain" then
      error("bench.lua: unknown mode " .. tostring(mode))
   end
   if mode == "form" then
      headers["Content-Type"] = "application/x-www-form-urlencoded"
   elseif mode ~= "bearer" and mode ~= "plain" then
      headers["Content-Type"] = "application/json"
   end
end

local function mixed_request()
   local slot = rotation
   rotation = (rotation + 1) % 20
   local json = {["Content-Type"] = "application/json"}
   if slot == 0 then
      last_kind = "login"
      if mixed.lauth and mixed.lauth ~= "" then
         json["Authorization"] = mixed.lauth
      end
      return wrk.format("POST", mixed.lpath, json, login_body)
   elseif slot <= 3 then
      last_kind = "refresh"
      return wrk.format("POST", mixed.rpath, json, '{"' .. send .. '":"' .. token .. '"}')
   end
   last_kind = "validate"
   if mixed.vstyle == "bearer" then
      return wrk.format("GET", mixed.vpath, {["Authorization"] = "Bearer " .. access}, nil)
   end
   return wrk.format("POST", mixed.vpath, json, '{"token":"' .. access .. '"}')
end

function request()
   local body = nil
   if mode == "mixed" then
      return mixed_request()
   elseif mode == "cycle" then
      body = values[cursor]
      cursor = cursor % #values + 1
   elseif mode == "fixed" or mode == "form" then
      body = token
   elseif mode == "chain" then
      body = '{"' .. send .. '":"' .. token .. '"}'
   end
   return wrk.format(nil, nil, headers, body)
end

function response(status, response_headers, body)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
   local sql = response_headers["X-Bench-SQL"]
   if sql then
      sql_total = sql_total + tonumber(sql)
      sql_responses = sql_responses + 1
   end
   local hashed = response_headers["X-Bench-Hash-Us"]
   if hashed then
      hash_us = hash_us + tonumber(hashed)
   end
   if renew and status == 200 then
      local renewed = response_headers[renew]
      if renewed then
         headers["Authorization"] = renewed
      end
   end
   if (mode == "chain" or (mode == "mixed" and last_kind == "refresh")) and status == 200 then
      local new = body:match('"' .. take .. '"%s*:%s*"([^"]+)"')
      if new then
         token = new
      else
         chain_missing = chain_missing + 1
      end
   end
end

function done(summary, latency, requests)
   local seen, missing, sql, sql_seen, hashed = {}, 0, 0, 0, 0
   for _, thread in ipairs(threads) do
      sql = sql + (thread:get("sql_total") or 0)
      hashed = hashed + (thread:get("hash_us") or 0)
      sql_seen = sql_seen + (thread:get("sql_responses") or 0)
      for status, count in pairs(thread:get("statuses") or {}) do
         seen[status] = (seen[status] or 0) + count
      end
      missing = missing + (thread:get("chain_missing") or 0)
   end
   local parts = {}
   for status, count in pairs(seen) do
      table.insert(parts, string.format('"%s":%d', status, count))
   end
   local errors = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,'
         .. '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,'
         .. '"statuses":{%s},"chain_missing":%d,"sql":%d,"sql_responses":%d,"hash_us":%d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
      latency:percentile(99), errors.connect, errors.read, errors.write, errors.status,
      errors.timeout, table.concat(parts, ","), missing, sql, sql_seen, hashed
   ))
end
