// Limits that every instance of a deployment shares through Redis (loaded only when REDIS_URL is set).
import type Redis from 'ioredis'
import { createLocalBuckets, refillRate, type BucketFactory, type Buckets } from './buckets'

/**
 * One bucket, in a hash {tokens, at}: refilled from Redis's own clock (instances'
 * clocks may differ), a token taken when asked and there is one. A full bucket is
 * the same as none, so the key expires when it would be full again.
 */
const BUCKET = `
  local rate, burst, take = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
  local tokens, at = tonumber(state[1]), tonumber(state[2])
  if tokens == nil then tokens, at = burst, now end
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
  local allowed = 0
  if tokens >= 1 then
    allowed = 1
    if take then tokens = tokens - 1 end
  end
  if tokens < burst then
    redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
    redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
  end
  return allowed`

interface BucketRedis {
  parleyBucket (key: string, rate: number, burst: number, take: '0' | '1'): Promise<number>
}

export interface RedisLimitsOptions {
  /** The instance's command connection (src/redis.ts): no offline queue, auto-pipelined. */
  redis: Redis
  /** Keys are `${prefix}:limit:<family>:<key>`. */
  prefix: string
  log: { warn (obj: object, msg: string): void, info (obj: object, msg: string): void }
}

/**
 * The deployment's shared limits. While Redis is away every limit falls back to this
 * instance's own buckets (as strict per instance, looser across instances), said once
 * in the log; nothing waits for Redis (the connection has no offline queue: a limit
 * asked meanwhile is answered at once, locally) and nothing fails.
 */
export function createRedisLimits (opts: RedisLimitsOptions) {
  const { redis } = opts
  redis.defineCommand('parleyBucket', { numberOfKeys: 1, lua: BUCKET })
  const commands = redis as unknown as BucketRedis
  let away = false
  // Before the first connection (the moments after start) a limit is local without a
  // word: the broker's plugin already says when Redis cannot be reached at start.
  let connected = false
  redis.on('ready', () => {
    if (away && connected) opts.log.info({}, 'redis is back: limits are shared by every instance again')
    away = false
    connected = true
  })

  /** A limit that Redis could not answer: it is this instance's own until Redis is back. */
  function fellBack (err: unknown): void {
    if (!away && connected) opts.log.warn({ err: (err as Error).message }, 'redis unreachable: limits are per instance until it is back')
    away = true
  }

  /** Redis's answer, or the local bucket's while Redis cannot answer. */
  async function either (shared: () => Promise<number>, local: () => Promise<boolean>): Promise<boolean> {
    try {
      return (await shared()) === 1
    } catch (err) {
      fellBack(err)
      return local()
    }
  }

  const buckets: BucketFactory = (name, limits) => {
    const local = createLocalBuckets(limits)
    const rate = refillRate(limits)
    const key = (k: string) => `${opts.prefix}:limit:${name}:${k}`
    return {
      take: (k) => either(() => commands.parleyBucket(key(k), rate, limits.burst, '1'), () => local.take(k)),
      has: (k) => either(() => commands.parleyBucket(key(k), rate, limits.burst, '0'), () => local.has(k))
    } satisfies Buckets
  }

  return {
    redis,
    buckets,
    fellBack,
    /** Whether limits are counted here because Redis could not answer (the log's state). */
    get away (): boolean {
      return away
    }
  }
}

export type RedisLimits = ReturnType<typeof createRedisLimits>
