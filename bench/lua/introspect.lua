-- POST /oauth/introspect: the client authenticates with HTTP Basic ($BENCH_BASIC) and asks
-- about one user access token ($BENCH_TOKEN, issued to it).
local basic = os.getenv("BENCH_BASIC")
local body = "token=" .. os.getenv("BENCH_TOKEN")
request = function()
  return wrk.format("POST", "/oauth/introspect", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = basic,
  }, body)
end
