-- Shared by the scenario scripts: parameters, the range set-up, sending in
-- passes, the measurement and the result line (see README.md).
--
-- Parameters come from the environment, since pktgen passes no arguments to
-- a script: PG_DST_MAC (the forwarder's port), PG_SIZE (frame bytes with the
-- FCS), PG_FLOWS, PG_SECONDS, PG_WARMUP and PG_RESULT (the file the result
-- line goes to).
local M = {}

M.port = "0"
local pid = 0

local function env(name, default)
    local v = os.getenv(name)
    if v == nil or v == "" then
        return default
    end
    return v
end

M.dst_mac = env("PG_DST_MAC", "02:67:73:6d:00:01")
M.size = tonumber(env("PG_SIZE", "64"))
M.seconds = tonumber(env("PG_SECONDS", "10"))
M.warmup = tonumber(env("PG_WARMUP", "3"))
M.result = env("PG_RESULT", "/tmp/pktgen-result.txt")

function M.flows(default)
    return tonumber(env("PG_FLOWS", tostring(default)))
end

-- Pktgen 23.06.1 does not vary range fields packet by packet on the wire: it
-- writes the range's next values into every mbuf of the port's range pool
-- (24576 mbufs) when sending starts, then sends those mbufs over and over.
-- One start therefore sends at most this many distinct packets; the next
-- start continues the range where the last one stopped.
M.pool = 24576

-- Wall clock in seconds, 10 ms resolution (Lua's os.time has 1 s).
function M.now()
    local f = assert(io.open("/proc/uptime"))
    local t = f:read("n")
    f:close()
    return t
end

-- "100.64.0.0" + n, as a dotted quad.
function M.ip(base, n)
    local a, b, c, d = base:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
    local v = ((tonumber(a) * 256 + tonumber(b)) * 256 + tonumber(c)) * 256 + tonumber(d) + n
    return string.format("%d.%d.%d.%d", v >> 24 & 255, v >> 16 & 255, v >> 8 & 255, v & 255)
end

local function field(set, f)
    set(M.port, "start", f.min)
    set(M.port, "min", f.min)
    set(M.port, "max", f.max)
    set(M.port, "inc", f.inc)
end

-- Range traffic to the forwarder. r.proto "udp" or "tcp"; r.src_ip, r.dst_ip
-- {min, max, inc} as dotted quads; r.sport, r.dport {min, max, inc}. Every
-- range field steps once a packet, all at the same time.
function M.range(r)
    local p = M.port
    pktgen.range.dst_mac(p, "start", M.dst_mac)
    pktgen.range.ip_proto(p, r.proto)
    field(pktgen.range.src_ip, r.src_ip)
    field(pktgen.range.dst_ip, r.dst_ip)
    field(pktgen.range.src_port, r.sport)
    field(pktgen.range.dst_port, r.dport)
    pktgen.range.pkt_size(p, "start", M.size)
    pktgen.range.pkt_size(p, "min", M.size)
    pktgen.range.pkt_size(p, "max", M.size)
    pktgen.range.pkt_size(p, "inc", 0)
    pktgen.set_range(p, "on")
end

-- Feeds pktgen command lines (for settings Lua has no binding for).
function M.commands(lines)
    local name = os.tmpname()
    local f = assert(io.open(name, "w"))
    f:write(table.concat(lines, "\n"), "\n")
    f:close()
    -- pktgen.run checks for three arguments and reads two.
    pktgen.run("cmd", name, "")
    os.remove(name)
end

-- Sends `packets` packets and returns when they are out, in passes of at
-- most one pool: each pass restarts sending, so each is a new stretch of the
-- range and no packet is sent twice.
function M.passes(packets)
    local left = packets
    while left > 0 do
        local n = math.min(left, M.pool)
        pktgen.set(M.port, "count", n)
        pktgen.start(M.port)
        repeat
            pktgen.delay(1)
        until pktgen.isSending(M.port)[pid] == "n"
        left = left - n
    end
    pktgen.set(M.port, "count", 0)
end

-- Received: the rx/tx lcore's own count of IPv4 packets in, always current.
-- Sent: the port's counters, which pktgen's timer thread refreshes about
-- once a second.
local function counters()
    local s = pktgen.portStats(M.port, "port")[pid]
    return pktgen.pktStats(M.port)[pid].ip_pkts, s.opackets
end

-- Waits for a refresh of the port counters (running step meanwhile), so
-- that both ends of a measurement are refreshes, timed to the poll.
local function refresh(step)
    local _, o0 = counters()
    local give_up = M.now() + 3
    while true do
        step()
        local i, o = counters()
        if o ~= o0 or M.now() > give_up then
            return M.now(), i, o
        end
    end
end

-- Received and sent Mpps over about `seconds`, while step() keeps the
-- traffic going (default: it flows by itself, just wait).
function M.measure(seconds, step)
    step = step or function()
        pktgen.delay(2)
    end
    local t0, i0, o0 = refresh(step)
    while M.now() < t0 + seconds - 0.5 do
        step()
    end
    local t1, i1, o1 = refresh(step)
    local dt = t1 - t0
    return (i1 - i0) / dt / 1e6, (o1 - o0) / dt / 1e6, dt
end

-- Runs the scenario body, writes "result k=v ..." to PG_RESULT (or the
-- error), and quits pktgen either way: a script that stops early would leave
-- pktgen at its prompt, spinning.
function M.run(name, body)
    -- pktgen-bench.sh waits for this: pktgen's threads are all up now.
    local started = io.open(M.result .. ".started", "w")
    if started then
        started:close()
    end
    pktgen.screen("off")
    pktgen.set_mac(M.port, "dst", M.dst_mac)
    -- No payload pattern: the default "abcd..." is written a byte at a time
    -- into every mbuf of the pool at each start, 200 ms a start here against
    -- 10 ms without it (13-23 ms with "zero").
    pktgen.pattern(M.port, "none")
    local ok, res = pcall(body)
    pktgen.stop(M.port)
    pktgen.delay(200)
    local f = io.open(M.result, "w")
    if f then
        if ok then
            local keys = {}
            for k in pairs(res) do
                keys[#keys + 1] = k
            end
            table.sort(keys)
            local parts = { "result", "scenario=" .. name }
            for _, k in ipairs(keys) do
                local v = res[k]
                if math.type(v) == "float" then
                    v = string.format("%.3f", v)
                end
                parts[#parts + 1] = k .. "=" .. tostring(v)
            end
            f:write(table.concat(parts, " "), "\n")
        else
            f:write("error ", tostring(res), "\n")
        end
        f:close()
    end
    -- pktgen-bench.sh reads pktgen's CPU time when the result appears.
    pktgen.delay(1000)
    pktgen.quit()
end

return M
