#!lua name=numballoc_2
-- SPDX-License-Identifier: MIT
-- redis.lua - one numballoc ID pool in Redis: a Redis 7 function library.
-- Every operation of lib/redis.c is one FCALL of numballoc_2, which Redis
-- runs atomically: no other command runs between its first call and its
-- last, and with appendfsync always its writes reach the AOF before the
-- reply. The library is loaded once (FUNCTION LOAD, kept in the AOF and
-- in snapshots), so a call runs no more than the operation.
--
-- Stored layout, version 2 (version 1, numballoc_1, kept the bitmap, the
-- summary and the cursor in keys of their own; its pools are refused with
-- EVERSION: remove and create them again). Keys of pool P, one hash slot:
--   nb:{P}:meta     hash: magic, version (2), capacity, base (decimal
--                   text), policy, flags, gen. Read by open only; an older
--                   library finds no bitmap key of its own and refuses it.
--   nb:{P}:ids      string: everything an operation reads or writes, so
--                   that one BITFIELD call can change a bit, the cursor
--                   and the request record at once. Bytes:
--       0..7        'nbids-2:': the layout and its version
--       8..23       gen (16 hex digits, made by the creator: a handle of an
--                   earlier pool of that name gets ESTALE). Open gives
--                   bytes 0..23 to the client, which sends them with
--                   every call: one comparison checks layout and pool.
--       24..31      capacity (u64, big-endian, as every number here)
--       32..35      cursor (u32; CYCLIC: the bit after the last one handed out)
--       36          policy; 37: 1 when holder leases may exist (else no
--                   clock, no expiry pass); 38..39 flags; 40..41 the
--                   next record slot to give a handle (u16, wraps)
--       64..        NSLOTS request records of SLOT bytes: token (u32 hi,
--                   u32 lo), seq (u32), status (u8; 0 none, 1 done, 2
--                   failed with ENOENT), value (u48)
--       SUM..       the summary: bit c set = every ID of chunk c (CH bits)
--                   is allocated; kept (exact after every call) only when
--                   the pool has more than one chunk
--       BITS..      bit i set = ID base + i allocated (ceil(capacity / 8) bytes)
--   nb:{P}:leases   zset: "first:count:holder", score first; a run of IDs
--                   a holder leases (allocations made with a holder)
--   nb:{P}:exp      zset: holder, score = the time (ms, server clock) its
--                   lease ends; every allocation and renew moves it on
--   nb:{P}:h:H      set: the leases members of holder H
--   nb:{P}:req:T    string: "seq status value" of client T's last change, when
--                   another handle's record took T's slot (see record())
--
-- A request sent again after a lost reply is answered from its record
-- instead of being done twice. A handle's records go to its slot (given
-- at open, round robin), in the same BITFIELD call as the change; a
-- handle that finds another's record in its slot moves that record to the
-- other's req:T key first, so a record is never lost. Only changes and
-- failed frees are recorded: any other operation that failed changed
-- nothing, and may run again.
--
-- Every key is read (which fails with WRONGTYPE on a key of another type)
-- before the function first writes any: the header read comes first, and
-- a pool with leases reads its zsets before it writes. Then a run
-- releases what expired holders held, then does its operation.
--
-- KEYS: meta, ids, leases, exp, req
-- ARGV: op, gen (the header's bytes 0..23), seq (below 2^32; "" for none;
--       "rSEQ": sent again after a lost reply),
--       holder ("" for none), ttl ms, slot, token hi, token lo, args...
-- Reply: { status, values... }; status is "OK" or an errno name.

local CH = 65536		-- IDs per chunk of the summary (8 KiB of bits)
local MAGIC = 'numballoc-ids'
local VERSION = 2
local HMAGIC = 'nbids-2:'	-- the header's first 8 bytes
local HDR = 64			-- header bytes
local NSLOTS, SLOT = 256, 24	-- request records
local SUM = HDR + NSLOTS * SLOT	-- byte offset of the summary
local O_CUR, O_NSLOT = '256', '320'	-- bit offsets in the header: cursor, next slot
local DONE, FAILED = 1, 2	-- a record's status: done (its value), failed with ENOENT

-- The call's keys and arguments, set by numballoc() for the helpers below.
local ARGV, KM, KI, KL, KE, KR, op, gen, seq, holder, ttl, HP, now
local cap, pol, cursor, leases, nch, BO, SO	-- from the header
local no_leases	-- the pool has no lease at all: a free need not look

local function typeok(k, want)
	local ty = redis.call('TYPE', k)['ok']
	return ty == 'none' or ty == want
end

-- Bit offset of the bitmap in a pool of C IDs (after the summary, 8-byte aligned).
local function bits_off(c)
	local nsum = math.ceil(math.ceil(c / CH) / 8)
	return (SUM + math.ceil(nsum / 8) * 8) * 8
end

-- Set bits [f, e] (absolute bit offsets in ids) to V: edges bit by bit, whole bytes at once.
local function fill(f, e, v)
	local i = f
	while i <= e and i % 8 ~= 0 do
		redis.call('SETBIT', KI, i, v)
		i = i + 1
	end
	local n = math.floor((e + 1 - i) / 8)
	if n > 0 then
		redis.call('SETRANGE', KI, i / 8, string.rep(v == 1 and '\255' or '\0', n))
		i = i + n * 8
	end
	while i <= e do
		redis.call('SETBIT', KI, i, v)
		i = i + 1
	end
end

-- Keep the summary exact for chunks c0..c1 after bits were set.
local function summary_set(c0, c1, f, e)
	if nch == 1 then
		return
	end
	for c = c0, c1 do
		local lo, hi = c * CH, math.min(c * CH + CH - 1, cap - 1)
		if (lo >= f and hi <= e) or
		    redis.call('BITPOS', KI, 0, BO + lo, BO + hi, 'BIT') < 0 then
			redis.call('SETBIT', KI, SO + c, 1)
		end
	end
end

-- Mark bits [f, e] allocated (V 1) or free (V 0), summary included.
local function mark(f, e, v)
	if f == e then
		redis.call('SETBIT', KI, BO + f, v)
	else
		fill(BO + f, BO + e, v)
	end
	local c0, c1 = math.floor(f / CH), math.floor(e / CH)
	if v == 1 then
		summary_set(c0, c1, f, e)
	elseif nch > 1 then
		fill(SO + c0, SO + c1, 0)
	end
end

-- The lowest free bit in [lo, hi], or -1: the summary names the chunks to look in.
local function first_free(lo, hi)
	if lo > hi then
		return -1
	end
	if nch == 1 then
		local b = redis.call('BITPOS', KI, 0, BO + lo, BO + hi, 'BIT')
		return b < 0 and b or b - BO
	end
	local c, clast = math.floor(lo / CH), math.floor(hi / CH)
	while c <= clast do
		local fc = redis.call('BITPOS', KI, 0, SO + c, SO + clast, 'BIT')
		if fc < 0 then
			return -1
		end
		fc = fc - SO
		local s, e = math.max(lo, fc * CH), math.min(hi, fc * CH + CH - 1)
		local b = redis.call('BITPOS', KI, 0, BO + s, BO + e, 'BIT')
		if b >= 0 then
			return b - BO
		end
		c = fc + 1
	end
	return -1
end

-- ------------------------------------------------------------ request records

-- Bit offsets (decimal strings) of the fields of each record slot, made
-- once per library load (they hold nothing of any pool's state).
local slot_offsets = {}

-- The bit offsets of the fields of the record slot S (a decimal string), or
-- nil when S is not a slot number (a client's slot is never trusted blindly).
local function slot_offs(s)
	local o = slot_offsets[s]
	if not o then
		local n = tonumber(s)
		if not n or n < 0 or n >= NSLOTS or n % 1 ~= 0 or tostring(n) ~= s then
			return nil
		end
		local so = (HDR + n * SLOT) * 8
		o = { tostring(so), tostring(so + 32), tostring(so + 64), tostring(so + 96),
		      tostring(so + 128) }
		slot_offsets[s] = o
	end
	return o
end

-- The BITFIELD operations that write this request's record (status ST,
-- value V) to its slot, appended to T.
local function rec_ops(t, st, v)
	local o = slot_offs(ARGV[6])
	local n = #t
	t[n + 1], t[n + 2], t[n + 3], t[n + 4] = 'SET', 'u32', o[1], ARGV[7]
	t[n + 5], t[n + 6], t[n + 7], t[n + 8] = 'SET', 'u32', o[2], ARGV[8]
	t[n + 9], t[n + 10], t[n + 11], t[n + 12] = 'SET', 'u32', o[3], seq
	t[n + 13], t[n + 14], t[n + 15], t[n + 16] = 'SET', 'u8', o[4], st
	t[n + 17], t[n + 18], t[n + 19], t[n + 20] = 'SET', 'u48', o[5], v
	return t
end

-- After a BITFIELD of rec_ops: R its reply, I the index of the record's
-- first old value. A record of another handle that was in the slot goes
-- to that handle's req key.
local function rec_moved(r, i)
	local hi, lo = r[i], r[i + 1]
	if r[i + 3] ~= 0 and (hi ~= tonumber(ARGV[7]) or lo ~= tonumber(ARGV[8])) then
		redis.call('SET', string.sub(KM, 1, -5) .. 'req:' .. string.format('%08x%08x', hi, lo),
			   string.format('%d %d %d', r[i + 2], r[i + 3], r[i + 4]), 'PX', 600000)
	end
end

-- Record this request (status ST, value V) on its own (the hot paths fold it into their write).
local function record(st, v)
	rec_moved(redis.call('BITFIELD', KI, unpack(rec_ops({}, st, v))), 1)
end

-- The record of this handle's request SEQ: its status and value, or nil if it did not run.
local function recorded()
	local o = slot_offs(ARGV[6])
	local r = redis.call('BITFIELD_RO', KI, 'GET', 'u32', o[1], 'GET', 'u32', o[2],
			     'GET', 'u32', o[3], 'GET', 'u8', o[4], 'GET', 'u48', o[5])
	if r[1] == tonumber(ARGV[7]) and r[2] == tonumber(ARGV[8]) then
		if r[4] ~= 0 and r[3] == tonumber(seq) then
			return r[4], r[5]
		end
		return nil	-- the slot has this handle's last record: not this one
	end
	local s, st, v = string.match(redis.call('GET', KR) or '', '^(%d+) (%d+) (%d+)$')
	if s and s == seq then
		return tonumber(st), tonumber(v)
	end
	return nil
end

-- ------------------------------------------------------------ leases

local function parse(m)
	local f, c, h = string.match(m, '^(%d+):(%d+):(.*)$')
	return tonumber(f), tonumber(c), h
end

local function add_lease(f, c, h)
	local m = string.format('%d:%d:%s', f, c, h)
	redis.call('ZADD', KL, f, m)
	redis.call('SADD', HP .. 'h:' .. h, m)
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
			redis.call('SREM', HP .. 'h:' .. h, ms[i])
			if lf < f then
				add_lease(lf, f - lf, h)
			end
			if le > e then
				add_lease(e + 1, le - e, h)
			end
			if redis.call('EXISTS', HP .. 'h:' .. h) == 0 then
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
	local ms = redis.call('SMEMBERS', HP .. 'h:' .. h)
	for i = 1, #ms do
		local f, c = parse(ms[i])
		mark(f, f + c - 1, 0)
		redis.call('ZREM', KL, ms[i])
		n = n + c
	end
	redis.call('DEL', HP .. 'h:' .. h)
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
		if leases == 0 then
			redis.call('SETRANGE', KI, 37, '\1')
			leases = 1
		end
	end
end

local function holder_count(h)
	local n = 0
	local ms = redis.call('SMEMBERS', HP .. 'h:' .. h)
	for i = 1, #ms do
		local _, c = parse(ms[i])
		n = n + c
	end
	return n
end

-- ------------------------------------------------------------ open, unlink

-- open: capacity, base, policy, flags, create, excl, newgen
local function do_open()
	if not (typeok(KM, 'hash') and typeok(KI, 'string') and typeok(KL, 'zset') and
		typeok(KE, 'zset')) then
		return { 'EKIND' }
	end
	local m = redis.call('HMGET', KM, 'magic', 'version', 'capacity', 'base', 'policy',
			     'flags', 'gen')
	local wcap, wbase, wpol = tonumber(ARGV[9]), ARGV[10], tonumber(ARGV[11])
	if not m[1] then
		if redis.call('EXISTS', KM) == 1 then
			return { 'EKIND' }
		end
		if ARGV[13] ~= '1' then
			return { 'ENOENT' }
		end
		if wcap < 1 or bits_off(wcap) / 8 + math.ceil(wcap / 8) > 536870912 then
			return { 'EINVAL' }	-- a Redis string holds 512 MiB
		end
		-- leftovers of a pool removed by hand
		redis.call('DEL', KI, KL, KE, HP .. 'bits', HP .. 'full')
		redis.call('HSET', KM, 'magic', MAGIC, 'version', VERSION, 'capacity', ARGV[9],
			   'base', wbase, 'policy', wpol, 'flags', ARGV[12], 'gen', ARGV[15])
		redis.call('SETRANGE', KI, 0, HMAGIC .. ARGV[15] ..
			   struct.pack('>I8I4BBI2', wcap, 0, wpol, 0, tonumber(ARGV[12])))
		redis.call('SETBIT', KI, bits_off(wcap) + wcap - 1, 0)
		m = { MAGIC, tostring(VERSION), ARGV[9], wbase, tostring(wpol), ARGV[12], ARGV[15] }
	else
		if m[1] ~= MAGIC then
			return { 'EKIND' }
		end
		if m[2] ~= tostring(VERSION) then
			return { 'EVERSION' }
		end
		if ARGV[14] == '1' then
			return { 'EEXIST' }
		end
		local c = tonumber(m[3])
		if (wcap ~= 0 and wcap ~= c) or (wbase ~= '0' and wbase ~= m[4]) or
		    (wpol ~= 0 and wpol ~= tonumber(m[5])) then
			return { 'EINVAL' }
		end
		local h = redis.call('GETRANGE', KI, 0, HDR - 1)
		if not c or c < 1 or #h ~= HDR or string.sub(h, 1, 8) ~= HMAGIC or
		    string.sub(h, 9, 24) ~= m[7] or struct.unpack('>I8', h, 25) ~= c or
		    redis.call('STRLEN', KI) ~= bits_off(c) / 8 + math.ceil(c / 8) then
			return { 'ECORRUPT' }
		end
	end
	-- this handle's record slot, round robin
	local slot = redis.call('BITFIELD', KI, 'OVERFLOW', 'WRAP', 'INCRBY', 'u16', O_NSLOT, 1)
	return { 'OK', m[3], m[4], m[5], m[6], HMAGIC .. m[7], (slot[1] - 1) % NSLOTS }
end

local function do_unlink()
	if not (typeok(KM, 'hash') and typeok(KE, 'zset')) then
		return { 'EKIND' }
	end
	local m = redis.call('HGET', KM, 'magic')
	if not m then
		return { 'ENOENT' }
	end
	if m ~= MAGIC then
		return { 'EKIND' }
	end
	local hs = redis.call('ZRANGE', KE, 0, -1)
	for i = 1, #hs do
		redis.call('DEL', HP .. 'h:' .. hs[i])
	end
	-- holders without an expiry do not exist: every lease is made with one.
	-- bits and full: a version 1 pool's
	redis.call('DEL', KM, KI, KL, KE, HP .. 'bits', HP .. 'full')
	return { 'OK' }
end

-- ------------------------------------------------------------ the hot paths

-- Numbers and strings derived from a capacity, made once per library
-- load (they hold nothing of any pool's state).
local geometries = {}

-- { chunks, bit offset of the bits, its decimal, of the last bit's } of a pool of C IDs
local function geometry(c)
	local g = geometries[c]
	if not g then
		local bo = bits_off(c)
		g = { math.ceil(c / CH), bo, tostring(bo), tostring(bo + c - 1) }
		geometries[c] = g
	end
	return g
end

-- An allocation in a pool of one chunk without a holder: a search, then
-- the bit, the cursor and the record in one BITFIELD. G: geometry(cap).
local function fast_alloc(g)
	local a1, a2 = tonumber(ARGV[9]), tonumber(ARGV[10])
	local s, b = a1
	if not a1 or not a2 or a1 > a2 or a2 >= cap then
		return { 'EINVAL' }
	end
	if pol == 1 then
		s = cursor
	elseif pol == 2 then
		s = tonumber(ARGV[11])
	end
	if not s or s < a1 or s > a2 then
		s = a1
	end
	if s == 0 and a2 == cap - 1 then
		b = redis.call('BITPOS', KI, '0', g[3], g[4], 'BIT')
	else
		b = redis.call('BITPOS', KI, '0', BO + s, BO + a2, 'BIT')
	end
	if b < 0 and s > a1 then
		b = redis.call('BITPOS', KI, '0', BO + a1, BO + s - 1, 'BIT')
	end
	if b < 0 then
		return { 'ENOSPC' }
	end
	local o, v = slot_offs(ARGV[6]), b - BO
	if pol == 1 then
		rec_moved(redis.call('BITFIELD', KI, 'SET', 'u1', b, '1',
				     'SET', 'u32', O_CUR, v + 1 < cap and v + 1 or 0,
				     'SET', 'u32', o[1], ARGV[7], 'SET', 'u32', o[2], ARGV[8],
				     'SET', 'u32', o[3], seq, 'SET', 'u8', o[4], '1',
				     'SET', 'u48', o[5], v), 3)
	else
		rec_moved(redis.call('BITFIELD', KI, 'SET', 'u1', b, '1',
				     'SET', 'u32', o[1], ARGV[7], 'SET', 'u32', o[2], ARGV[8],
				     'SET', 'u32', o[3], seq, 'SET', 'u8', o[4], '1',
				     'SET', 'u48', o[5], v), 2)
	end
	return { 'OK', v }
end

-- A free of one ID in a pool of one chunk without leases: the bit and
-- the record in one BITFIELD (the old bit says whether it was allocated).
local function fast_free()
	local o, a1 = slot_offs(ARGV[6]), tonumber(ARGV[9])
	if not a1 or a1 >= cap then
		return { 'EINVAL' }
	end
	local r = redis.call('BITFIELD', KI, 'SET', 'u1', BO + a1, '0',
			     'SET', 'u32', o[1], ARGV[7], 'SET', 'u32', o[2], ARGV[8],
			     'SET', 'u32', o[3], seq, 'SET', 'u8', o[4], '1',
			     'SET', 'u48', o[5], '0')
	rec_moved(r, 2)
	if r[1] == 0 then
		-- it was free: nothing changed but the record, which says so
		redis.call('BITFIELD', KI, 'SET', 'u8', o[4], FAILED)
		return { 'ENOENT' }
	end
	return { 'OK' }
end

-- ------------------------------------------------------------ operations

-- The hot allocation: one bit in [a1, a2] by the policy, bit + cursor + record in one write.
local function op_alloc(a1, a2, a3)
	local s = a1
	if pol == 1 then
		s = cursor
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
	if nch > 1 or holder ~= '' then
		claimed(b, 1)
		if pol == 1 then
			redis.call('BITFIELD', KI, 'SET', 'u32', O_CUR, b + 1 < cap and b + 1 or 0)
		end
		if seq ~= '' then
			record(DONE, b)
		end
		return { 'OK', b }
	end
	local t = { 'SET', 'u1', BO + b, 1 }
	if pol == 1 then
		t[5], t[6], t[7], t[8] = 'SET', 'u32', O_CUR, b + 1 < cap and b + 1 or 0
	end
	if seq ~= '' then
		local n = #t / 4
		rec_moved(redis.call('BITFIELD', KI, unpack(rec_ops(t, DONE, b))), n + 1)
	else
		redis.call('BITFIELD', KI, unpack(t))
	end
	return { 'OK', b }
end

-- The hot free of one bit: the bit, the summary and the record in one write.
local function op_free1(a1)
	local t = { 'SET', 'u1', BO + a1, 0 }
	if nch > 1 then
		-- the chunk is not full now (if the bit was free, it was not full before)
		t[5], t[6], t[7], t[8] = 'SET', 'u1', SO + math.floor(a1 / CH), 0
	end
	local n = #t / 4
	local r = redis.call('BITFIELD', KI, unpack(seq ~= '' and rec_ops(t, DONE, 0) or t))
	if seq ~= '' then
		rec_moved(r, n + 1)
	end
	if r[1] == 0 then
		-- it was free: nothing changed but the record, which says so
		if seq ~= '' then
			redis.call('BITFIELD', KI, 'SET', 'u8', slot_offs(ARGV[6])[4], FAILED)
		end
		return { 'ENOENT' }
	end
	return { 'OK' }
end

-- The operations on an open pool; ARGV[9..] are bit numbers and counts.
local function do_op()
	local a1, a2, a3 = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
	local reply, v
	if op == 'alloc' then
		-- a1 lo, a2 hi, a3 start (SPREAD: the handle's position)
		return op_alloc(a1, a2, a3)
	elseif op == 'release' and a2 == 1 and no_leases then
		return op_free1(a1)
	elseif op == 'alloc_bit' then
		if redis.call('GETBIT', KI, BO + a1) == 1 then
			return { 'EEXIST' }
		end
		claimed(a1, 1)
		reply, v = { 'OK' }, 0
	elseif op == 'alloc_run' then
		-- a1 count, a2 align: the lowest aligned run of a1 free bits
		local p = 0
		while not reply do
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
			local q = redis.call('BITPOS', KI, 1, BO + b, BO + b + a1 - 1, 'BIT')
			if q < 0 then
				claimed(b, a1)
				reply, v = { 'OK', b }, b
			else
				p = q - BO + 1
			end
		end
	elseif op == 'release' or op == 'release_own' then
		local e = a1 + a2 - 1
		if op == 'release_own' and held_by(a1, e, holder) ~= a2 then
			-- not all leased to this holder (its lease ended, and the IDs
			-- may be another's now): nothing freed
			return { 'ENOENT' }
		end
		local n = a2 == 1 and redis.call('GETBIT', KI, BO + a1) or
			redis.call('BITCOUNT', KI, BO + a1, BO + e, 'BIT')
		if n ~= a2 then
			if seq ~= '' then
				record(FAILED, 0)	-- a resend must not free it once another has it
			end
			return { 'ENOENT' }
		end
		mark(a1, e, 0)
		if not no_leases then
			unlease(a1, e)
		end
		reply, v = { 'OK' }, 0
	elseif op == 'test' then
		return { 'OK', redis.call('GETBIT', KI, BO + a1) }
	elseif op == 'next' then
		local b = redis.call('BITPOS', KI, 1, BO + a1, BO + cap - 1, 'BIT')
		if b < 0 then
			return { 'ENOENT' }
		end
		return { 'OK', b - BO }
	elseif op == 'count' then
		-- the words themselves: the client counts the longest free run
		local f, e = BO / 8, BO / 8 + math.ceil(cap / 8) - 1
		return { 'OK', redis.call('BITCOUNT', KI, f, e), redis.call('GETRANGE', KI, f, e) }
	elseif op == 'renew' then
		local n = holder_count(holder)
		if n > 0 then
			redis.call('ZADD', KE, now + ttl, holder)
		end
		reply, v = { 'OK', n }, n
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
		local ms = redis.call('SMEMBERS', HP .. 'h:' .. holder)
		local r = { 'OK' }
		for i = 1, #ms do
			local f, c = parse(ms[i])
			r[#r + 1] = f
			r[#r + 1] = c
		end
		return r
	else
		return { 'EINVAL' }
	end
	if seq ~= '' then
		record(DONE, v)
	end
	return reply
end

local function numballoc(keys, args)
	ARGV = args
	KM, KI, KL, KE, KR = keys[1], keys[2], keys[3], keys[4], keys[5]
	op, gen, seq, holder = args[1], args[2], args[3], args[4]
	if op == 'open' or op == 'unlink' then
		HP = string.sub(KM, 1, -5)	-- "nb:{P}:"
	end
	if op == 'open' then
		return do_open()
	elseif op == 'unlink' then
		return do_unlink()
	end
	-- the header: the first read, so a key of another type fails before any write
	local h = redis.call('GETRANGE', KI, 0, HDR - 1)
	if string.sub(h, 1, 24) ~= gen then
		return { 'ESTALE' }
	end
	cap, cursor, pol, leases = struct.unpack('>I8I4BB', h, 25)
	if not slot_offs(ARGV[6]) then
		return { 'EINVAL' }
	end
	local g = geometry(cap)
	nch, BO = g[1], g[2]
	if nch == 1 and leases == 0 and holder == '' and seq ~= '' and
	    string.byte(seq, 1) ~= 114 then
		-- one chunk, no lease in the pool (nothing can expire), none to
		-- make, not sent again: the hot paths
		if op == 'alloc' then
			return fast_alloc(g)
		elseif op == 'release' and ARGV[10] == '1' then
			return fast_free()
		end
	end
	SO = SUM * 8
	ttl = tonumber(args[5]) or 0
	HP = string.sub(KM, 1, -5)	-- "nb:{P}:"
	now = nil
	local resent = string.sub(seq, 1, 1) == 'r'
	if resent then
		seq = string.sub(seq, 2)
	end
	if resent then
		-- sent again: answered from the record when the first one ran
		local st, v = recorded()
		if st == DONE then
			return { 'OK', v }
		elseif st == FAILED then
			return { 'ENOENT' }
		end
	end
	-- No lease in the pool and none to make: no clock, nothing to expire
	-- (a holder is in exp only while it holds a lease).
	local reclaimed = 0
	no_leases = true
	if leases ~= 0 or holder ~= '' or op == 'reclaim' then
		redis.call('ZCARD', KL)	-- types, before the first write
		if holder ~= '' then
			redis.call('SCARD', HP .. 'h:' .. holder)
		end
		local t = redis.call('TIME')
		now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
		reclaimed = expire()	-- reads KE before anything writes it
		no_leases = leases == 0 and reclaimed == 0
	end
	local reply
	if op == 'reclaim' then
		reply = { 'OK', reclaimed }
		if seq ~= '' then
			record(DONE, reclaimed)
		end
	else
		reply = do_op()
	end
	if leases ~= 0 and redis.call('ZCARD', KL) == 0 then
		redis.call('SETRANGE', KI, 37, '\0')	-- no lease left: no clock from now on
	end
	return reply
end

redis.register_function('numballoc_2', numballoc)
