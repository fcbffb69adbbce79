#!lua name=numballoc_1
-- SPDX-License-Identifier: MIT
-- redis.lua - one numballoc ID pool in Redis: a Redis 7 function library.
-- Every operation of lib/redis.c is one FCALL of numballoc_1, which Redis
-- runs atomically: no other command runs between its first call and its
-- last, and with appendfsync always its writes reach the AOF before the
-- reply. The library is loaded once (FUNCTION LOAD, kept in the AOF and
-- in snapshots), so a call runs no more than the operation.
--
-- Keys of pool P, all in one hash slot ({P}):
--   nb:{P}:meta     hash: magic, version, capacity, base (decimal text),
--                   policy, flags, cursor (CYCLIC: the bit after the last
--                   one handed out), gen (made by the creator: a handle of
--                   an earlier pool of that name gets ESTALE)
--   nb:{P}:bits     string: bit i set = ID base + i allocated; its length
--                   is fixed at creation (ceil(capacity / 8) bytes)
--   nb:{P}:full     string: bit c set = every ID of chunk c (CH bits) is
--                   allocated. The summary that keeps lowest-free searches
--                   short: it is exact after every run of this script.
--   nb:{P}:leases   zset: "first:count:holder", score first; a run of IDs
--                   a holder leases (allocations made with a holder)
--   nb:{P}:exp      zset: holder, score = the time (ms, server clock) its
--                   lease ends; every allocation and renew moves it on
--   nb:{P}:h:H      set: the leases members of holder H
--   nb:{P}:req:T    string: "seq reply" of client T's last changing
--                   request, so that a request sent again after a lost
--                   reply is answered from the record, not done twice
--
-- Every key is read (which fails with WRONGTYPE on a key of another type)
-- before the function first writes it, and every key before the first
-- write of all (Redis does not undo a function's writes when a later call
-- fails): an operation reads what it needs anyway, and a key it would
-- write without reading gets a STRLEN. The record key is only SET, which
-- replaces a key of any type. Then a run releases what expired holders
-- held, then does its operation.
--
-- KEYS: meta, bits, full, leases, exp, req
-- ARGV: op, gen, seq ("" for none; "rSEQ": sent again after a lost reply),
--       holder ("" for none), ttl ms, args...
-- Reply: { status, values... }; status is "OK" or an errno name.

local CH = 4096
local MAGIC = 'numballoc-ids'
-- The call's keys and arguments, set by numballoc() for the helpers below.
local KEYS, ARGV
local KM, KB, KF, KL, KE, KR, op, gen, seq, holder, ttl, HP, now, cap, meta
local no_leases	-- the pool has no lease at all: a free need not look

local function typeok(k, want)
	local ty = redis.call('TYPE', k)['ok']
	return ty == 'none' or ty == want
end

-- Set bits [f, e] of key K to V (0 or 1): edges bit by bit, whole bytes at once.
local function fill(k, f, e, v)
	local i = f
	while i <= e and i % 8 ~= 0 do
		redis.call('SETBIT', k, i, v)
		i = i + 1
	end
	local n = math.floor((e + 1 - i) / 8)
	if n > 0 then
		redis.call('SETRANGE', k, i / 8, string.rep(v == 1 and '\255' or '\0', n))
		i = i + n * 8
	end
	while i <= e do
		redis.call('SETBIT', k, i, v)
		i = i + 1
	end
end

-- Keep the summary exact for chunks c0..c1 after bits were set.
local function summary_set(c0, c1, f, e)
	for c = c0, c1 do
		local lo, hi = c * CH, math.min(c * CH + CH - 1, cap - 1)
		if (lo >= f and hi <= e) or
		    redis.call('BITCOUNT', KB, lo, hi, 'BIT') == hi - lo + 1 then
			redis.call('SETBIT', KF, c, 1)
		end
	end
end

-- Mark bits [f, e] allocated (V 1) or free (V 0), summary included.
local function mark(f, e, v)
	if f == e then
		redis.call('SETBIT', KB, f, v)
	else
		fill(KB, f, e, v)
	end
	local c0, c1 = math.floor(f / CH), math.floor(e / CH)
	if v == 0 then
		fill(KF, c0, c1, 0)
	else
		summary_set(c0, c1, f, e)
	end
end

-- The lowest free bit in [lo, hi], or -1: the summary names the chunks to look in.
local function first_free(lo, hi)
	if lo > hi then
		return -1
	end
	local c, clast = math.floor(lo / CH), math.floor(hi / CH)
	while c <= clast do
		local fc = redis.call('BITPOS', KF, 0, c, clast, 'BIT')
		if fc < 0 then
			return -1
		end
		local s, e = math.max(lo, fc * CH), math.min(hi, fc * CH + CH - 1)
		local b = redis.call('BITPOS', KB, 0, s, e, 'BIT')
		if b >= 0 then
			return b
		end
		c = fc + 1
	end
	return -1
end

local function parse(m)
	local f, c, h = string.match(m, '^(%d+):(%d+):(.*)$')
	return tonumber(f), tonumber(c), h
end

local function add_lease(f, c, h)
	local m = string.format('%d:%d:%s', f, c, h)
	redis.call('ZADD', KL, f, m)
	redis.call('SADD', HP .. h, m)
end

-- The leases that overlap [f, e] lose that part (a free of leased IDs).
local function unlease(f, e)
	local ms = redis.call('ZREVRANGEBYSCORE', KL, f, '-inf', 'LIMIT', 0, 1)
	local more = redis.call('ZRANGEBYSCORE', KL, '(' .. f, e)
	for i = 1, #more do
		ms[#ms + 1] = more[i]
	end
	for i = 1, #ms do
		local lf, lc, h = parse(ms[i])
		local le = lf + lc - 1
		if le >= f and lf <= e then
			redis.call('ZREM', KL, ms[i])
			redis.call('SREM', HP .. h, ms[i])
			if lf < f then
				add_lease(lf, f - lf, h)
			end
			if le > e then
				add_lease(e + 1, le - e, h)
			end
			if redis.call('EXISTS', HP .. h) == 0 then
				redis.call('ZREM', KE, h)
			end
		end
	end
end

-- How many IDs of [f, e] holder H leases.
local function held_by(f, e, h)
	local ms = redis.call('ZREVRANGEBYSCORE', KL, f, '-inf', 'LIMIT', 0, 1)
	local more = redis.call('ZRANGEBYSCORE', KL, '(' .. f, e)
	local n = 0
	for i = 1, #more do
		ms[#ms + 1] = more[i]
	end
	for i = 1, #ms do
		local lf, lc, lh = parse(ms[i])
		local lo, hi = math.max(f, lf), math.min(e, lf + lc - 1)
		if lh == h and hi >= lo then
			n = n + hi - lo + 1
		end
	end
	return n
end

-- Release everything held by holder H; the number of IDs released.
local function drop_holder(h)
	local n = 0
	local ms = redis.call('SMEMBERS', HP .. h)
	redis.call('STRLEN', KB)	-- types, before the first write
	redis.call('STRLEN', KF)
	for i = 1, #ms do
		local f, c = parse(ms[i])
		mark(f, f + c - 1, 0)
		redis.call('ZREM', KL, ms[i])
		n = n + c
	end
	redis.call('DEL', HP .. h)
	redis.call('ZREM', KE, h)
	return n
end

-- Release what every holder whose lease ended before now held.
local function expire()
	local n = 0
	local hs = redis.call('ZRANGEBYSCORE', KE, '-inf', now)
	for i = 1, #hs do
		n = n + drop_holder(hs[i])
	end
	return n
end

-- An allocation of [f, f + c - 1] by this request's holder, if any.
local function claimed(f, c)
	mark(f, f + c - 1, 1)
	if holder ~= '' then
		add_lease(f, c, holder)
		redis.call('ZADD', KE, now + ttl, holder)
	end
end

local function holder_count(h)
	local n = 0
	local ms = redis.call('SMEMBERS', HP .. h)
	for i = 1, #ms do
		local _, c = parse(ms[i])
		n = n + c
	end
	return n
end

local function types_ok()
	return typeok(KM, 'hash') and typeok(KB, 'string') and typeok(KF, 'string') and
		typeok(KL, 'zset') and typeok(KE, 'zset') and typeok(KR, 'string')
end

-- open: capacity, base, policy, flags, create, excl, newgen
local function do_open()
	local m = redis.call('HMGET', KM, 'magic', 'capacity', 'base', 'policy', 'flags', 'gen')
	local wcap, wbase, wpol = tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])
	if not m[1] then
		if redis.call('EXISTS', KM) == 1 then
			return { 'EKIND' }
		end
		if ARGV[10] ~= '1' then
			return { 'ENOENT' }
		end
		if wcap < 1 then
			return { 'EINVAL' }
		end
		redis.call('DEL', KB, KF, KL, KE)
		redis.call('HSET', KM, 'magic', MAGIC, 'version', 1, 'capacity', ARGV[6],
			   'base', wbase, 'policy', wpol, 'flags', ARGV[9], 'cursor', 0,
			   'gen', ARGV[12])
		redis.call('SETBIT', KB, wcap - 1, 0)
		redis.call('SETBIT', KF, math.floor((wcap - 1) / CH), 0)
		return { 'OK', ARGV[6], wbase, wpol, ARGV[9], ARGV[12] }
	end
	if m[1] ~= MAGIC then
		return { 'EKIND' }
	end
	if ARGV[11] == '1' then
		return { 'EEXIST' }
	end
	local c = tonumber(m[2])
	if (wcap ~= 0 and wcap ~= c) or (wbase ~= '0' and wbase ~= m[3]) or
	    (wpol ~= 0 and wpol ~= tonumber(m[4])) then
		return { 'EINVAL' }
	end
	if not c or c < 1 or redis.call('STRLEN', KB) ~= math.ceil(c / 8) or
	    redis.call('STRLEN', KF) ~= math.ceil(math.ceil(c / CH) / 8) then
		return { 'ECORRUPT' }
	end
	return { 'OK', m[2], m[3], m[4], m[5], m[6] }
end

local function do_unlink()
	local m = redis.call('HGET', KM, 'magic')
	if not m then
		return { 'ENOENT' }
	end
	if m ~= MAGIC then
		return { 'EKIND' }
	end
	local hs = redis.call('ZRANGE', KE, 0, -1)
	for i = 1, #hs do
		redis.call('DEL', HP .. hs[i])
	end
	-- holders without an expiry do not exist: every lease is made with one
	redis.call('DEL', KM, KB, KF, KL, KE)
	return { 'OK' }
end

-- The operations on an open pool; ARGV[6..] are bit numbers and counts.
local function do_op()
	local a1, a2, a3 = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
	if op == 'alloc' then
		-- a1 lo, a2 hi, a3 start (SPREAD: the handle's position)
		local pol = tonumber(meta[2])
		local s = a1
		if pol == 1 then
			s = tonumber(meta[3])
		elseif pol == 2 then
			s = a3
		end
		if s < a1 or s > a2 then
			s = a1
		end
		local b = first_free(s, a2)
		if b < 0 and s > a1 then
			b = first_free(a1, s - 1)
		end
		if b < 0 then
			return { 'ENOSPC' }
		end
		claimed(b, 1)
		if pol == 1 then
			redis.call('HSET', KM, 'cursor', b + 1 < cap and b + 1 or 0)
		end
		return { 'OK', b }
	elseif op == 'alloc_bit' then
		redis.call('STRLEN', KF)
		if redis.call('GETBIT', KB, a1) == 1 then
			return { 'EEXIST' }
		end
		claimed(a1, 1)
		return { 'OK' }
	elseif op == 'alloc_run' then
		-- a1 count, a2 align: the lowest aligned run of a1 free bits
		local p = 0
		while true do
			local b = first_free(p, cap - 1)
			if b < 0 then
				return { 'ENOSPC' }
			end
			if a2 > 1 then
				b = math.ceil(b / a2) * a2
			end
			if b + a1 > cap then
				return { 'ENOSPC' }
			end
			local q = redis.call('BITPOS', KB, 1, b, b + a1 - 1, 'BIT')
			if q < 0 then
				claimed(b, a1)
				return { 'OK', b }
			end
			p = q + 1
		end
	elseif op == 'release' or op == 'release_own' then
		local e = a1 + a2 - 1
		redis.call('STRLEN', KF)
		if op == 'release_own' and held_by(a1, e, holder) ~= a2 then
			-- not all leased to this holder (its lease ended, and the IDs
			-- may be another's now): nothing freed
			return { 'ENOENT' }
		end
		local n = a2 == 1 and redis.call('GETBIT', KB, a1) or
			redis.call('BITCOUNT', KB, a1, e, 'BIT')
		if n ~= a2 then
			return { 'ENOENT' }
		end
		mark(a1, e, 0)
		if not no_leases then
			unlease(a1, e)
		end
		return { 'OK' }
	elseif op == 'test' then
		return { 'OK', redis.call('GETBIT', KB, a1) }
	elseif op == 'next' then
		local b = redis.call('BITPOS', KB, 1, a1, cap - 1, 'BIT')
		if b < 0 then
			return { 'ENOENT' }
		end
		return { 'OK', b }
	elseif op == 'count' then
		-- the words themselves: the client counts the longest free run
		return { 'OK', redis.call('BITCOUNT', KB), redis.call('GET', KB) }
	elseif op == 'renew' then
		local n = holder_count(holder)
		if n > 0 then
			redis.call('ZADD', KE, now + ttl, holder)
		end
		return { 'OK', n }
	elseif op == 'holder' then
		local ms = redis.call('ZREVRANGEBYSCORE', KL, a1, '-inf', 'LIMIT', 0, 1)
		if #ms == 1 then
			local f, c, h = parse(ms[1])
			if a1 < f + c then
				return { 'OK', h }
			end
		end
		return { 'ENOENT' }
	elseif op == 'holdings' then
		local ms = redis.call('SMEMBERS', HP .. holder)
		local r = { 'OK' }
		for i = 1, #ms do
			local f, c = parse(ms[i])
			r[#r + 1] = f
			r[#r + 1] = c
		end
		return r
	end
	return { 'EINVAL' }
end

local function numballoc(keys, args)
	KEYS, ARGV = keys, args
	KM, KB, KF, KL, KE, KR = keys[1], keys[2], keys[3], keys[4], keys[5], keys[6]
	op, gen, seq, holder = args[1], args[2], args[3], args[4]
	ttl = tonumber(args[5]) or 0
	HP = string.sub(KM, 1, -5) .. 'h:'
	now = nil
	if op == 'open' or op == 'unlink' then
		if not types_ok() then
			return { 'EKIND' }
		end
		return op == 'open' and do_open() or do_unlink()
	end
	meta = redis.call('HMGET', KM, 'magic', 'policy', 'cursor', 'capacity', 'gen')
	if meta[1] ~= MAGIC or meta[5] ~= gen then
		return { 'ESTALE' }
	end
	cap = tonumber(meta[4])
	local nleases = redis.call('ZCARD', KL)
	if string.sub(seq, 1, 1) == 'r' then
		-- sent again: answered from the record when the first one ran
		seq = string.sub(seq, 2)
		local r = redis.call('GET', KR)
		local s, rest = string.match(r or '', '^(%d+) (.*)$')
		if s == seq then
			local out = {}
			for w in string.gmatch(rest, '%S+') do
				out[#out + 1] = tonumber(w) or w
			end
			return out
		end
	end
	-- No lease in the pool and none to make: no clock, nothing to expire
	-- (a holder is in exp only while it holds a lease).
	local reclaimed = 0
	if nleases > 0 or holder ~= '' or op == 'reclaim' then
		local t = redis.call('TIME')
		now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
		reclaimed = expire()	-- reads KE before anything writes it
	end
	local reply
	if op == 'reclaim' then
		reply = { 'OK', reclaimed }
	else
		no_leases = nleases == 0 and reclaimed == 0
		reply = do_op()
	end
	if seq ~= '' then
		local parts = {}
		for i = 1, #reply do
			parts[i] = tostring(reply[i])
		end
		redis.call('SET', KR, seq .. ' ' .. table.concat(parts, ' '), 'PX', 600000)
	end
	return reply
end

redis.register_function('numballoc_1', numballoc)
