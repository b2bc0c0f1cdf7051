-- SPDX-License-Identifier: Apache-2.0
-- posture-auth.lua: HAProxy 2.6+ asks posture-verifier about every request (GATEWAYS.md §2),
-- with HAProxy's own Lua httpclient and no other Lua module. See haproxy.cfg beside it:
--
--   http-request set-var(txn.posture_fp) ssl_c_der,sha2(256),hex if { ssl_c_used } { ssl_c_verify 0 }
--   http-request lua.posture-auth http://127.0.0.1:8081/v1/authz/policy/baseline
--
-- Allow (the verifier's 200): each X-Posture-* header of the answer replaces whatever the
-- client sent under that name, in the request that goes on to the application. Any other
-- answer is sent to the client by HAProxy itself: 401 and 403 with the verifier's
-- WWW-Authenticate, Content-Type and short problem body; anything else, or no answer within
-- a second, is 503. It fails closed.
--
-- What the verifier gets: the fingerprint of the certificate HAProxy verified (never a
-- client's header), the original method, scheme, host and URI, and Authorization/DPoP for
-- DPoP-bound tokens. No other client header is forwarded, so none can pose as the gateway's.

local POSTURE_HEADERS = {
    "x-posture-status", "x-posture-device-id", "x-posture-policy", "x-posture-expires",
    "x-posture-token",
}
local CLIENT_HEADERS = { "www-authenticate", "content-type", "x-posture-status" }
local TIMEOUT_MS = 1000

-- the first value of a header in a HAProxy header table (values are indexed from 0)
local function first(headers, name)
    local v = headers and headers[name]
    if v == nil then
        return nil
    end
    return v[0] or v[1]
end

local function ask(txn, url)
    local req = txn.http:req_get_headers()
    local headers = {
        ["x-forwarded-method"] = { txn.f:method() },
        ["x-forwarded-proto"] = { txn.f:ssl_fc() and "https" or "http" },
        ["x-forwarded-host"] = { first(req, "host") or "" },
        ["x-forwarded-uri"] = { txn.f:url() },
    }
    local fp = txn:get_var("txn.posture_fp")
    if fp then
        headers["x-client-cert-fp"] = { fp }
    end
    for _, name in ipairs({ "authorization", "dpop" }) do
        local v = first(req, name)
        if v then
            headers[name] = { v }
        end
    end
    -- the client's own copies never reach the application, whatever the answer
    for _, name in ipairs(POSTURE_HEADERS) do
        txn.http:req_del_header(name)
    end

    local res = core.httpclient():get({ url = url, headers = headers, timeout = TIMEOUT_MS })
    local status = res and res.status or 0
    if status == 200 then
        for _, name in ipairs(POSTURE_HEADERS) do
            txn.http:req_set_header(name, first(res.headers, name) or "-")
        end
        return
    end

    local out = { ["cache-control"] = { "no-store" } }
    local body = ""
    if status == 401 or status == 403 then
        for _, name in ipairs(CLIENT_HEADERS) do
            local v = first(res.headers, name)
            if v then
                out[name] = { v }
            end
        end
        body = res.body or ""
    else
        core.Warning("posture-auth: the verifier at " .. url .. " answered " .. tostring(status)
            .. "; denying with 503")
        status = 503
    end
    txn:done(txn:reply({ status = status, headers = out, body = body }))
end

core.register_action("posture-auth", { "http-req" }, ask, 1)
