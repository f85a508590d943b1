import type { Redis } from 'ioredis';

/**
 * The atomic steps of the backplane as Lua scripts (scale-out.md §2), run with EVALSHA by
 * ioredis. Each touches keys of one daemon only (one Cluster slot). Times come from Redis's
 * own clock (TIME), so node clocks never decide who owns what.
 */

const NOW_MS = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** Drops expired session fields, returns the live ones as a flat list (sid, node, sid, node…). */
const LIVE_SESSIONS = `
local function live_sessions(key, now)
  local all = redis.call('HGETALL', key)
  local out = {}
  for i = 1, #all, 2 do
    local value = all[i + 1]
    local sep = string.find(value, '|', 1, true)
    local expires = sep and tonumber(string.sub(value, sep + 1)) or 0
    if expires < now then redis.call('HDEL', key, all[i])
    else table.insert(out, all[i]) table.insert(out, string.sub(value, 1, sep - 1)) end
  end
  return out
end`;

const SCRIPTS = {
  /**
   * Takes the lease whoever holds it (the newest authenticated daemon connection wins): bumps the
   * epoch, sets owner = node:epoch. KEYS owner, epoch, sessions; ARGV node, leaseMs, epochTtlMs.
   * Returns {epoch, previous owner or '', sid, node, …} with the daemon's live sessions.
   */
  sbAcquire: {
    keys: 3,
    lua: `${NOW_MS} ${LIVE_SESSIONS}
local previous = redis.call('GET', KEYS[1]) or ''
local epoch = redis.call('INCR', KEYS[2])
-- Never below Redis's clock in ms: after a Redis that lost its data, a new epoch still beats
-- every epoch handed out before (an INCR from 0 would not).
if epoch < now then epoch = now redis.call('SET', KEYS[2], epoch) end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. epoch, 'PX', ARGV[2])
local out = { epoch, previous }
for _, v in ipairs(live_sessions(KEYS[3], now)) do table.insert(out, v) end
return out`,
  },
  /**
   * Compare-and-expire. KEYS owner, epoch; ARGV node:epoch, epoch, leaseMs, epochTtlMs. 1 renewed;
   * 2 the key had expired (or Redis lost it) and nobody took over, so it is re-asserted; 0 not
   * ours any more (self-fence).
   */
  sbRenew: {
    keys: 2,
    lua: `
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[3]) return 1 end
if current then return 0 end
local epoch = redis.call('GET', KEYS[2])
if epoch and epoch ~= ARGV[2] then return 0 end
if not epoch then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[4]) end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 2`,
  },
  /** Compare-and-delete. KEYS owner; ARGV node:epoch. */
  sbRelease: {
    keys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`,
  },
  /**
   * Registers a client session unless the daemon has `max` live ones cluster-wide.
   * KEYS sessions; ARGV sid, node, ttlMs, max. 1 registered, 0 over the limit, -1 already there.
   */
  sbRegisterSession: {
    keys: 1,
    lua: `${NOW_MS} ${LIVE_SESSIONS}
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return -1 end
local live = live_sessions(KEYS[1], now)
if #live / 2 >= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. (now + tonumber(ARGV[3])))
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[3]))
return 1`,
  },
  /** Extends this node's sessions of one daemon. KEYS sessions; ARGV node, ttlMs, sid… */
  sbTouchSessions: {
    keys: 1,
    lua: `${NOW_MS}
local value = ARGV[1] .. '|' .. (now + tonumber(ARGV[2]))
for i = 3, #ARGV do redis.call('HSET', KEYS[1], ARGV[i], value) end
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
return #ARGV - 2`,
  },
} as const;

type ScriptName = keyof typeof SCRIPTS;
type Arg = string | number;
type ScriptFn = (...args: Arg[]) => Promise<unknown>;

/** Defines the scripts on a connection and calls them by name. */
export class BackplaneScripts {
  private readonly redis: Redis;

  constructor(redis: Redis) {
    this.redis = redis;
    for (const [name, script] of Object.entries(SCRIPTS)) redis.defineCommand(name, { numberOfKeys: script.keys, lua: script.lua });
  }

  run(name: ScriptName, ...args: Arg[]): Promise<unknown> {
    return (this.redis as unknown as Record<ScriptName, ScriptFn>)[name](...args);
  }
}
