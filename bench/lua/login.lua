-- POST /v1/auth/login as the users of $BENCH_USERS ('|'-separated) in turn, each thread
-- starting at a different user, with password $BENCH_PASSWORD.
local users = {}
for u in string.gmatch(os.getenv("BENCH_USERS") or "", "[^|]+") do
  table.insert(users, u)
end
local password = os.getenv("BENCH_PASSWORD")
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("offset", counter * 7919)
end
local i = 0
request = function()
  i = i + 1
  local u = users[((offset or 0) + i) % #users + 1]
  local body = '{"identifier":"' .. u .. '","password":"' .. password .. '"}'
  return wrk.format("POST", "/v1/auth/login", {["Content-Type"] = "application/json"}, body)
end
