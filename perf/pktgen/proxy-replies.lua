-- The remote site's replies to proxied connections. gslbd (its local server
-- down, the remote site up) proxies each new client flow to the remote VIP
-- 198.51.100.10:8080 from its PIP 192.0.2.200, taking PIP ports in order
-- from 1024 with one data core. Phase 1 opens PG_FLOWS such flows (default
-- 24576, at most 64512: the ports of one PIP): UDP from 100.64.0.0 upward,
-- port 40000, to the VIP 192.0.2.10:8080. Phase 2 sends, and measures, what
-- the remote VIP answers: 198.51.100.10:8080 -> 192.0.2.200, destination
-- ports 1024 to 1024 + PG_FLOWS - 1, which gslbd translates back to the
-- clients.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local pg = dofile(dir .. "common.lua")

local flows = math.min(pg.flows(pg.pool), 64512)

pg.run("proxy-replies", function()
    pg.range({
        proto = "udp",
        src_ip = { min = "100.64.0.0", max = pg.ip("100.64.0.0", flows - 1), inc = "0.0.0.1" },
        dst_ip = { min = "192.0.2.10", max = "192.0.2.10", inc = "0.0.0.0" },
        sport = { min = 40000, max = 40000, inc = 0 },
        dport = { min = 8080, max = 8080, inc = 0 },
    })
    pg.passes(flows)
    -- Long enough for a counter refresh: what came back of phase 1 went
    -- to the remote VIP.
    pktgen.delay(1500)
    local opened = pktgen.portStats(pg.port, "port")[0]

    pg.range({
        proto = "udp",
        src_ip = { min = "198.51.100.10", max = "198.51.100.10", inc = "0.0.0.0" },
        dst_ip = { min = "192.0.2.200", max = "192.0.2.200", inc = "0.0.0.0" },
        sport = { min = 8080, max = 8080, inc = 0 },
        dport = { min = 1024, max = 1024 + flows - 1, inc = 1 },
    })
    pktgen.start(pg.port)
    pktgen.delay(pg.warmup * 1000)
    local rx, tx, secs = pg.measure(pg.seconds)
    return { rx_mpps = rx, tx_mpps = tx, seconds = secs, flows = flows, size = pg.size,
        phase1_tx = opened.opackets, phase1_rx = opened.ipackets }
end)
