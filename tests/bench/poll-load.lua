-- SPDX-License-Identifier: Apache-2.0
-- poll-load.lua — wrk script for tests/bench/poll-load.sh: every request is a DDI base
-- poll of the next target (ids and tokens follow the pattern the bench registered),
-- each wrk thread starting at a different offset. Non-200 answers are counted by wrk.
local n = tonumber(os.getenv("BENCH_TARGETS") or "10000")
local tenant = os.getenv("BENCH_TENANT") or "default"
local threads = {}
local counter = 0

function setup(thread)
        thread:set("offset", counter * 7919)
        counter = counter + 1
        table.insert(threads, thread)
end

function init(args)
        i = offset % n
end

function request()
        i = (i + 1) % n
        local cid = string.format("b-%05d", i)
        return wrk.format("GET", "/" .. tenant .. "/controller/v1/" .. cid,
                { ["Authorization"] = "TargetToken tok-" .. cid .. "-0123456789abcdef" })
end
