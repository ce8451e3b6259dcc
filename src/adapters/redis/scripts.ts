// Every Lua script mailpush runs, each opening with what it takes and returns.
// All keys of one script share a user's hash tag, so they also run on Redis Cluster.

import { LIVE_MESSAGE_LUA } from './live-wire.js';
import { LuaScript } from './lua.js';

/**
 * The append script, publishing with `publish`: PUBLISH on one Redis, SPUBLISH on a Redis Cluster
 * (the live channel carries the user's hash tag, so it is in the slot of KEYS; channels.ts).
 */
function appendEventsScript(publish: 'PUBLISH' | 'SPUBLISH'): LuaScript {
  return new LuaScript(`appendEvents-5${publish === 'SPUBLISH' ? '-sharded' : ''}`, `
-- KEYS[1] the user's event stream
-- KEYS[2] the account's watermark hash
-- KEYS[3] the account's lease
-- KEYS[4] the user's push subscriptions hash
-- KEYS[5] the user's pending pushes (sorted set)
-- ARGV[1] lease value the caller holds ("<workerId>:<fence>")
-- ARGV[2] mailbox whose watermark moves, or ""
-- ARGV[3] watermark the caller read ("<uidValidity>:<uid>"), or "" when it read none
-- ARGV[4] the new watermark
-- ARGV[5] retention: keep about this many entries
-- ARGV[6] retention: drop entries below this id
-- ARGV[7] live channel to publish each event on (with ${publish})
-- ARGV[8] one character per event: "1" when its Web Push is to be queued
-- ARGV[9] the account id, which prefixes pending-push members
-- ARGV[10..] per event, two arguments (liveEventArgs in live-wire.ts): the header to publish it
--           with, then the event as a JSON object without its id
-- Returns {"ok", id, ...} | {"lease_lost"} | {"watermark_moved"}
${LIVE_MESSAGE_LUA}
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return {'lease_lost'} end
if ARGV[2] ~= '' then
  local current = redis.call('HGET', KEYS[2], ARGV[2]) or ''
  if current ~= ARGV[3] then return {'watermark_moved'} end
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
end
local result = {'ok'}
-- A push is pending from the moment its event exists until the worker has queued it, so a worker
-- that dies in between leaves it to the next holder (users without subscriptions get none).
local pushing = string.find(ARGV[8], '1', 1, true) and redis.call('EXISTS', KEYS[4]) == 1
local n = 0
for i = 10, #ARGV, 2 do
  n = n + 1
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*', 'e', ARGV[i + 1])
  result[#result + 1] = id
  redis.call('${publish}', ARGV[7], liveMessage(ARGV[i], id, ARGV[i + 1]))
  if pushing and string.sub(ARGV[8], n, n) == '1' then
    redis.call('ZADD', KEYS[5], tonumber(string.match(id, '^%d+')), ARGV[9] .. '/' .. id)
  end
end
if #ARGV >= 10 then redis.call('XTRIM', KEYS[1], 'MINID', '~', ARGV[6]) end
-- Pending pushes of events older than retention can never be sent: drop them.
if pushing then redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', '(' .. string.match(ARGV[6], '^%d+')) end
return result
`);
}

export const appendEvents = appendEventsScript('PUBLISH');
export const appendEventsSharded = appendEventsScript('SPUBLISH');

export const acquireLease = new LuaScript('acquireLease-2', `
-- KEYS[1] the account's lease
-- KEYS[2] the account's fence counter
-- ARGV[1] worker id
-- ARGV[2] time to live in ms
-- Returns the lease value "<workerId>:<fence>", or false when another worker holds it
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local value = ARGV[1] .. ':' .. redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return value
`);

export const renewLease = new LuaScript('renewLease-1', `
-- KEYS[1] the account's lease
-- ARGV[1] lease value the caller holds
-- ARGV[2] time to live in ms
-- Returns 1 when renewed, 0 when the lease is no longer the caller's
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`);

export const renewLeases = new LuaScript('renewLeases-packed', `
-- KEYS[1..n] leases of any accounts (one Redis only: on a cluster the keys of one call must share
--            a slot, so there each lease is renewed by renewLease on its own)
-- ARGV[1] time to live in ms
-- ARGV[2] the lease values the caller holds, in the order of KEYS, separated by spaces (one
--         argument, not n: a worker renews thousands every few seconds, and each argument costs
--         it an allocation or two in the client; a value with a space in it would only make its
--         leases answer "not renewed")
-- Returns the positions (1-based) of the leases that are no longer the caller's: usually none
local lost = {}
local i = 0
for value in string.gmatch(ARGV[2], '%S+') do
  i = i + 1
  if i > #KEYS then break end
  if redis.call('GET', KEYS[i]) == value then
    redis.call('PEXPIRE', KEYS[i], ARGV[1])
  else
    lost[#lost + 1] = i
  end
end
for j = i + 1, #KEYS do lost[#lost + 1] = j end
return lost
`);

export const releaseLease = new LuaScript('releaseLease-1', `
-- KEYS[1] the account's lease
-- ARGV[1] lease value the caller holds
-- Returns 1 when released, 0 when it was not the caller's
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`);

export const createAccount = new LuaScript('createAccount-3', `
-- KEYS[1] the user's identity hash (mailbox identity -> account id)
-- KEYS[2] the account hash
-- KEYS[3] the user's account set
-- ARGV[1] mailbox identity
-- ARGV[2] account id
-- ARGV[3..] field, value pairs of the account hash
-- Returns 1 when created, 0 when the user already has an account for that mailbox
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
redis.call('SADD', KEYS[3], ARGV[2])
return 1
`);

export const updateAccount = new LuaScript('updateAccount-1', `
-- KEYS[1] the account hash
-- ARGV[1] JSON object of changes: a string value sets the field, false deletes it
-- Returns 1 when updated, 0 when the account no longer exists (it is never re-created)
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for field, value in pairs(cjson.decode(ARGV[1])) do
  if value == false then redis.call('HDEL', KEYS[1], field) else redis.call('HSET', KEYS[1], field, value) end
end
return 1
`);

export const upsertPushSubscription = new LuaScript('upsertPushSubscription-2', `
-- KEYS[1] the user's subscriptions hash (id -> JSON)
-- KEYS[2] the user's endpoint index (endpoint hash -> id)
-- ARGV[1] endpoint hash
-- ARGV[2] id the caller expects for this endpoint ("" when it saw none)
-- ARGV[3] the subscription JSON to store under that id (or a new id)
-- ARGV[4] the id to store it under
-- ARGV[5] most subscriptions the user may have
-- Returns 'created' | 'updated' | 'limit' | 'retry' (the endpoint index changed meanwhile)
local current = redis.call('HGET', KEYS[2], ARGV[1]) or ''
if current ~= ARGV[2] then return 'retry' end
if current == '' then
  if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[5]) then return 'limit' end
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
  redis.call('HSET', KEYS[1], ARGV[4], ARGV[3])
  return 'created'
end
redis.call('HSET', KEYS[1], ARGV[4], ARGV[3])
return 'updated'
`);

export const setQuietHours = new LuaScript('setQuietHours-2', `
-- KEYS[1] the device hash
-- KEYS[2] the user's quiet hours hash (device id -> JSON)
-- ARGV[1] device id
-- ARGV[2] the quiet hours as JSON
-- Returns 1 when saved, 0 when the device does not exist (removed meanwhile: nothing is left behind)
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
`);

export const addDevice = new LuaScript('addDevice-3', `
-- KEYS[1] the user's record hash
-- KEYS[2] the user's device set
-- KEYS[3] the device hash
-- ARGV[1] device id
-- ARGV[2..] field, value pairs of the device hash
-- Returns 1 when added, 0 when the user does not exist (deleted meanwhile)
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[3], unpack(ARGV, 2))
redis.call('SADD', KEYS[2], ARGV[1])
return 1
`);

export const claimMailbox = new LuaScript('claimMailbox-1', `
-- KEYS[1] the global mailbox index (identity -> "<userId>/<accountId>")
-- ARGV[1] mailbox identity
-- ARGV[2] "<userId>/<accountId>" of the account that wants it
-- Returns the holder afterwards: ARGV[2] when claimed, else the account that holds it already
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then return ARGV[2] end
return redis.call('HGET', KEYS[1], ARGV[1])
`);

export const releaseMailboxScript = new LuaScript('releaseMailbox-1', `
-- KEYS[1] the global mailbox index
-- ARGV[1] mailbox identity
-- ARGV[2] "<userId>/<accountId>" that must still hold it
-- Returns 1 when removed, 0 when another account holds it (or nobody)
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
return redis.call('HDEL', KEYS[1], ARGV[1])
`);

export const claimPairing = new LuaScript('claimPairing-1', `
-- KEYS[1] the pairing code's key (its value is the user id; it expires with the code)
-- Returns the user id, once: the key is gone afterwards (GETDEL, spelled out for Redis 6)
local userId = redis.call('GET', KEYS[1])
if userId then redis.call('DEL', KEYS[1]) end
return userId
`);

export const recordAttempt = new LuaScript('recordAttempt-1', `
-- KEYS[1] the attempt counter
-- ARGV[1] the window in ms, started by the first attempt
-- Returns the count including this attempt
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`);
