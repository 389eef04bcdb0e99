-- TCP SYNs to the VIP 192.0.2.10:8080, every one from a new client address
-- and port: sources 100.64.0.0/10 and ports 1024-65535, stepping together
-- (a tuple comes back after 2^22 * 63 packets).
--
-- Pktgen repeats a pool of 24576 packets for as long as it sends (see
-- common.lua), so the script sends one pool at a time and starts again for
-- the next: every SYN is a new connection, and the rate is bounded by how
-- fast pktgen rebuilds its pool.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local pg = dofile(dir .. "common.lua")

pg.run("syn-flood", function()
    pg.range({
        proto = "tcp",
        src_ip = { min = "100.64.0.0", max = "100.127.255.255", inc = "0.0.0.1" },
        dst_ip = { min = "192.0.2.10", max = "192.0.2.10", inc = "0.0.0.0" },
        sport = { min = 1024, max = 65535, inc = 1 },
        dport = { min = 8080, max = 8080, inc = 0 },
    })
    -- The range packet's TCP flags start as ACK; Lua has no binding for them.
    pg.commands({ "range 0 tcp flag clr all", "range 0 tcp flag set syn" })

    local pass = function()
        pg.passes(pg.pool)
    end
    local t0 = pg.now()
    while pg.now() < t0 + pg.warmup do
        pass()
    end
    local rx, tx, secs = pg.measure(pg.seconds, pass)
    return { rx_mpps = rx, tx_mpps = tx, seconds = secs, size = pg.size }
end)
