-- tools/bench/soak/mix.lua - wrk script: a weighted mix of authenticated REST calls
-- through the gateway, as an HR platform and the people in a running programme make
-- them. data.lua (written by setup.py) holds the key and the ids.
--
--   weight  call
--     30    list      GET  /v1/programmes/{p}/participants?pageSize=50[&role=...]
--     10    get       GET  /v1/participants/{id}
--      5    programme GET  /v1/programmes/{p}
--     15    enrol     POST /v1/programmes/{intake}/participants   (a new person each time)
--     10    matches   GET  /v1/programmes/{p}/matches?pageSize=50
--      5    score     GET  /v1/programmes/{p}/score?mentorId=&menteeId=
--      5    suggest   GET  /v1/programmes/{p}/suggestions?menteeId=&k=5
--     15    checkin   POST /v1/matches/{m}/checkIns
--      5    report    GET  /v1/programmes/{p}/report
-- Each connection waits SOAK_DELAY_MS (default 20) between its requests.
-- StartMatchingRun is not in the mix: soak.sh starts one every SOAK_MATCH_EVERY s.
local data = dofile(os.getenv("SOAK_DATA"))
local delay_ms = tonumber(os.getenv("SOAK_DELAY_MS") or "20")
local kinds = {
  {"list", 30}, {"get", 10}, {"programme", 5}, {"enrol", 15}, {"matches", 10},
  {"score", 5}, {"suggest", 5}, {"checkin", 15}, {"report", 5},
}
if #data.matches == 0 then -- no matches (matching not working): no check-ins
  for _, k in ipairs(kinds) do if k[1] == "checkin" then k[2] = 0 end end
end
local total = 0
for _, k in ipairs(kinds) do total = total + k[2] end

local threads = {}
tid = 0 -- global: setup() gives each thread its own (thread:set)

function setup(thread)
  tid = tid + 1
  thread:set("tid", tid)
  table.insert(threads, thread)
end

-- Globals, so that done() can read them from every thread (thread:get).
sent = {}
statuses = {}
errors = {}
n_errors = 0
seq = 0

function init(args)
  math.randomseed(os.time() + (tid or 0) * 7919)
  wrk.headers["Authorization"] = "Bearer " .. data.key
  wrk.headers["Content-Type"] = "application/json"
end

local function pick(list) return list[math.random(#list)] end

local function choose()
  local r = math.random(total)
  for _, k in ipairs(kinds) do
    r = r - k[2]
    if r <= 0 then return k[1] end
  end
end

local P = "/v1/programmes/" .. data.programme
local roles = {"", "&role=MENTOR", "&role=MENTEE"}

function request()
  local kind = choose()
  sent[kind] = (sent[kind] or 0) + 1
  seq = seq + 1
  if kind == "list" then
    return wrk.format("GET", P .. "/participants?pageSize=50" .. pick(roles))
  elseif kind == "get" then
    return wrk.format("GET", "/v1/participants/" .. pick(data.participants))
  elseif kind == "programme" then
    return wrk.format("GET", P)
  elseif kind == "enrol" then
    local ext = string.format("soak-%d-%d-%d", tid, os.time(), seq)
    local role = (seq % 3 == 0) and "MENTOR" or "MENTEE"
    local body = string.format('{"externalId":"%s","displayName":"Soak Person %s",' ..
      '"email":"%s@soak.example","role":"%s","seniorityLevel":%d,"office":"London",' ..
      '"practiceArea":"Corporate","interests":["legal tech"],"languages":["en"],' ..
      '"skills":[{"name":"generative AI","level":3}],"goals":["ai"]}',
      ext, ext, ext, role, seq % 11)
    return wrk.format("POST", "/v1/programmes/" .. data.intake .. "/participants", nil, body)
  elseif kind == "matches" then
    return wrk.format("GET", P .. "/matches?pageSize=50")
  elseif kind == "score" then
    return wrk.format("GET", P .. "/score?mentorId=" .. pick(data.mentors) ..
      "&menteeId=" .. pick(data.mentees))
  elseif kind == "suggest" then
    return wrk.format("GET", P .. "/suggestions?menteeId=" .. pick(data.mentees) .. "&k=5")
  elseif kind == "checkin" then
    local i = math.random(#data.matches)
    local body = string.format('{"participantId":"%s","occurredTime":"%s",' ..
      '"durationMinutes":45,"rating":%d,"topics":["Legal tech the clients already use"],' ..
      '"notes":"soak"}', data.match_mentors[i], data.occurred, 3 + seq % 3)
    return wrk.format("POST", "/v1/matches/" .. data.matches[i] .. "/checkIns", nil, body)
  else
    return wrk.format("GET", P .. "/report")
  end
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status >= 400 and n_errors < 20 then
    local msg = tostring(status) .. " " .. string.sub(body or "", 1, 160)
    if errors[msg] == nil then
      errors[msg] = true
      n_errors = n_errors + 1
    end
  end
end

function delay()
  return delay_ms
end

function done(summary, latency, requests)
  local s, k = {}, {}
  for _, t in ipairs(threads) do
    for name, n in pairs(t:get("sent")) do s[name] = (s[name] or 0) + n end
    for code, n in pairs(t:get("statuses")) do k[code] = (k[code] or 0) + n end
  end
  io.write("mix sent:")
  for name, n in pairs(s) do io.write(string.format(" %s=%d", name, n)) end
  io.write("\nmix statuses:")
  for code, n in pairs(k) do io.write(string.format(" %s=%d", code, n)) end
  io.write("\n")
  local seen = {}
  for _, t in ipairs(threads) do
    for msg, _ in pairs(t:get("errors")) do
      if not seen[msg] then
        seen[msg] = true
        io.write("mix error sample: " .. msg .. "\n")
      end
    end
  end
end
