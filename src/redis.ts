// The instance's Redis command connection (loaded only when REDIS_URL is set).
import Redis from 'ioredis'

/** Reconnection delays: 200 ms more per attempt, at most 2 s, for as long as it takes. */
const reconnectDelay = (attempt: number) => Math.min(attempt * 200, 2000)

/**
 * The one connection an instance sends commands on: shared limits, presence and the
 * broker's publishes (a subscriber is a connection of its own: once subscribed it takes
 * no other command). No offline queue: a command while Redis is away fails at once, and
 * its caller falls back (a limit counted here, presence degraded, a publish delivered
 * on this instance only) instead of piling up. The commands of one event-loop turn go
 * in one write (auto-pipelining), in the order they were sent. Named `<prefix>:commands`
 * in Redis's `CLIENT LIST`.
 */
export function createRedisCommands (url: string, prefix = 'parley'): Redis {
  const redis = new Redis(url, { connectionName: `${prefix}:commands`, retryStrategy: reconnectDelay, enableOfflineQueue: false, maxRetriesPerRequest: 1, enableAutoPipelining: true })
  // Each user says what a loss means for it; unhandled, the error would end the process.
  redis.on('error', () => {})
  return redis
}

/** Resolves once the connection is ready: now, or when it next is. */
export function whenReady (redis: Redis): Promise<void> {
  return redis.status === 'ready' ? Promise.resolve() : new Promise((resolve) => redis.once('ready', () => resolve()))
}

/** quit() flushes what is pending on a live connection; a dead one is just dropped. */
export async function closeRedis (redis: Redis): Promise<void> {
  if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect())
  else redis.disconnect()
}
