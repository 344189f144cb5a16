-- GET each path of $BENCH_PATHS (separated by '|') in turn as a signed-in browser: the
-- hosted pages' session cookie from $BENCH_COOKIE (the admin console's pages).
local cookie = os.getenv("BENCH_COOKIE")
local paths = {}
for p in string.gmatch(os.getenv("BENCH_PATHS") or "/", "[^|]+") do
  table.insert(paths, p)
end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1], { ["Cookie"] = cookie })
end
