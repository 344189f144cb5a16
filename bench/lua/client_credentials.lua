-- POST /oauth/token with the client-credentials grant, the client $BENCH_CLIENT_ID /
-- $BENCH_CLIENT_SECRET authenticating with HTTP Basic ($BENCH_BASIC is the header value).
local basic = os.getenv("BENCH_BASIC")
request = function()
  return wrk.format("POST", "/oauth/token", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = basic,
  }, "grant_type=client_credentials")
end
