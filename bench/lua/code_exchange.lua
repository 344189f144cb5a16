-- A full OpenID round per two requests, the browser already signed in: GET the authorization
-- endpoint with the session cookie ($BENCH_COOKIE) for a first-party client (a 303 to the
-- client with a code), then POST that code to the token endpoint with HTTP Basic
-- ($BENCH_BASIC), the redirect URI ($BENCH_REDIRECT, form-encoded) and the PKCE verifier
-- ($BENCH_VERIFIER). A refused exchange is a non-2xx answer, which fails the run.
local cookie = os.getenv("BENCH_COOKIE")
local authorize = os.getenv("BENCH_AUTHORIZE")
local basic = os.getenv("BENCH_BASIC")
local redirect = os.getenv("BENCH_REDIRECT")
local verifier = os.getenv("BENCH_VERIFIER")
local codes = {}

request = function()
  local code = table.remove(codes)
  if code then
    return wrk.format("POST", "/oauth/token", {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Authorization"] = basic,
    }, "grant_type=authorization_code&code=" .. code .. "&redirect_uri=" .. redirect .. "&code_verifier=" .. verifier)
  end
  return wrk.format("GET", authorize, { ["Cookie"] = cookie })
end

response = function(status, headers, body)
  if status == 303 then
    local code = (headers["Location"] or headers["location"] or ""):match("[?&]code=([^&]+)")
    if code then
      table.insert(codes, code)
    end
  end
end
