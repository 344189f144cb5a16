-- Refresh-token rotation chains: run with -t N -c N so every thread owns one connection and
-- one session; each response's new refresh token is the next request's. Thread k starts
-- from the k-th token of $BENCH_REFRESH ('|'-separated).
local tokens = {}
for t in string.gmatch(os.getenv("BENCH_REFRESH") or "", "[^|]+") do
  table.insert(tokens, t)
end
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("current", tokens[counter])
end
request = function()
  local body = '{"refresh_token":"' .. current .. '"}'
  return wrk.format("POST", "/v1/auth/refresh", {["Content-Type"] = "application/json"}, body)
end
response = function(status, headers, body)
  if status == 200 then
    local next_token = string.match(body, '"refresh_token":"([^"]+)"')
    if next_token then current = next_token end
  end
end
