-- GET each path of $BENCH_PATHS (separated by '|') in turn, with the bearer token of
-- $BENCH_TOKEN, or as a signed-in browser with the session cookie of $BENCH_COOKIE (the
-- console's pages).
local token = os.getenv("BENCH_TOKEN")
local cookie = os.getenv("BENCH_COOKIE")
local paths = {}
for p in string.gmatch(os.getenv("BENCH_PATHS") or "/", "[^|]+") do
  table.insert(paths, p)
end
local i = 0
request = function()
  i = i + 1
  local headers = {}
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  if cookie and cookie ~= "" then headers["Cookie"] = cookie end
  return wrk.format("GET", paths[(i % #paths) + 1], headers)
end
