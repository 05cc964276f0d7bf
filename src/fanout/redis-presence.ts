// Who is online in a room across instances: Redis sorted sets (loaded only when REDIS_URL is set).
import type Redis from 'ioredis'
import type { PresenceTracker } from './presence-tracker'

export interface RedisPresenceOptions {
  /** The instance's command connection (src/redis.ts): a command while Redis is away fails at once. */
  redis: Redis
  prefix?: string
  instanceId: string
  /** An entry not refreshed for this long is expired: the bound on a dead instance's ghosts. */
  ttlMs: number
  /** Called once for a user whose last entry expired (their instance died). */
  onExpired (roomId: string, userId: string): void
  log: { warn (obj: object, msg: string): void }
}

/**
 * Presence in Redis: a sorted set per room whose members are "<user>\n<instance>"
 * scored by their expiry. Each instance refreshes its own entries every ttl/3 and
 * sweeps the rooms it serves for expired ones (an instance that died stops
 * refreshing): the sweeper that removes the last entry of a user announces it.
 */
export function createRedisPresence (opts: RedisPresenceOptions): PresenceTracker {
  const prefix = `${opts.prefix ?? 'parley'}:presence:`
  // Presence degrades while Redis is away (its commands fail at once): nothing piles up.
  const { redis } = opts
  const local = new Map<string, Set<string>>()
  const member = (userId: string) => `${userId}\n${opts.instanceId}`
  const userOf = (entry: string) => entry.slice(0, entry.lastIndexOf('\n'))

  async function live (roomId: string): Promise<string[]> {
    return redis.zrangebyscore(prefix + roomId, Date.now(), '+inf')
  }

  async function refresh (): Promise<void> {
    if (local.size === 0) return
    const expiry = Date.now() + opts.ttlMs
    const batch = redis.pipeline()
    for (const [roomId, users] of local) {
      for (const userId of users) batch.zadd(prefix + roomId, expiry, member(userId))
      batch.pexpire(prefix + roomId, opts.ttlMs * 2)
    }
    await batch.exec()
  }

  async function sweep (): Promise<void> {
    const now = Date.now()
    for (const roomId of local.keys()) {
      const expired = await redis.zrangebyscore(prefix + roomId, '-inf', now)
      for (const entry of expired) {
        // Only the instance whose ZREM removes the entry announces it.
        if (await redis.zrem(prefix + roomId, entry) !== 1) continue
        const userId = userOf(entry)
        if (!(await live(roomId)).some((e) => userOf(e) === userId)) opts.onExpired(roomId, userId)
      }
    }
  }

  const timer = setInterval(() => {
    refresh().then(sweep).catch((err) => opts.log.warn({ err: err.message }, 'presence heartbeat failed'))
  }, Math.max(50, Math.floor(opts.ttlMs / 3)))
  timer.unref()

  return {
    shared: true,
    async enter (roomId, userId) {
      let users = local.get(roomId)
      if (!users) local.set(roomId, (users = new Set()))
      users.add(userId)
      const elsewhere = (await live(roomId)).some((e) => userOf(e) === userId)
      await redis.zadd(prefix + roomId, Date.now() + opts.ttlMs, member(userId))
      await redis.pexpire(prefix + roomId, opts.ttlMs * 2)
      return !elsewhere
    },
    async leave (roomId, userId) {
      const users = local.get(roomId)
      users?.delete(userId)
      if (users?.size === 0) local.delete(roomId)
      await redis.zrem(prefix + roomId, member(userId))
      return !(await live(roomId)).some((e) => userOf(e) === userId)
    },
    async online (roomId) {
      return [...new Set((await live(roomId)).map(userOf))]
    },
    async close () {
      clearInterval(timer)
      // A clean stop takes this instance's users out at once, not after the ttl.
      try {
        const batch = redis.pipeline()
        for (const [roomId, users] of local) for (const userId of users) batch.zrem(prefix + roomId, member(userId))
        await batch.exec()
      } catch {}
      local.clear()
    }
  }
}
