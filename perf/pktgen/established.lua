-- Established UDP flows to the VIP 192.0.2.10:8080: clients 100.64.0.0
-- upward, 16 source ports each (1024-1039), PG_FLOWS flows in all (default
-- about 1M), PG_SIZE-byte frames (64 by default; 512 for the larger
-- variant).
--
-- First every flow is sent once, so that the forwarder has them all (gslbd
-- opens one per datagram); then the measurement runs on one pool of them:
-- pktgen repeats a pool's 24576 packets (see common.lua), so the flows hit
-- while measuring are 24576 of the PG_FLOWS in the table.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local pg = dofile(dir .. "common.lua")

local ports = 16
-- An odd number of addresses: source address and port step together, and
-- with an odd count against 16 ports every pair comes up once a period.
local addrs = (pg.flows(1000000) + ports - 1) // ports
if addrs % 2 == 0 then
    addrs = addrs + 1
end
local flows = addrs * ports

pg.run("established", function()
    pg.range({
        proto = "udp",
        src_ip = { min = "100.64.0.0", max = pg.ip("100.64.0.0", addrs - 1), inc = "0.0.0.1" },
        dst_ip = { min = "192.0.2.10", max = "192.0.2.10", inc = "0.0.0.0" },
        sport = { min = 1024, max = 1024 + ports - 1, inc = 1 },
        dport = { min = 8080, max = 8080, inc = 0 },
    })
    local t0 = pg.now()
    pg.passes(flows)
    local open_s = pg.now() - t0

    pktgen.start(pg.port)
    pktgen.delay(pg.warmup * 1000)
    local rx, tx, secs = pg.measure(pg.seconds)
    return { rx_mpps = rx, tx_mpps = tx, seconds = secs, flows = flows, hot_flows = math.min(flows, pg.pool),
        size = pg.size, open_s = open_s }
end)
