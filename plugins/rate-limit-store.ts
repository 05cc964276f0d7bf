// The REST limit's store with REDIS_URL: @fastify/rate-limit's Redis store, its local store beside it for while Redis is away.
import type { FastifyRateLimitOptions, FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import RedisStore from '@fastify/rate-limit/store/RedisStore.js'
import LocalStore from '@fastify/rate-limit/store/LocalStore.js'
import type { RedisLimits } from '../src/access/redis-limits'

type Result = Parameters<Parameters<FastifyRateLimitStore['incr']>[1]>[1]
type Callback = (error: Error | null, result?: Result) => void

/**
 * The plugin's own Redis store, with its own local store beside it: a count Redis
 * cannot make (it is away) is made here, so requests are never refused or held for
 * Redis's sake, and the limit holds per instance meanwhile.
 */
export function sharedStore (shared: RedisLimits, key: string): FastifyRateLimitStoreCtor {
  class SharedStore implements FastifyRateLimitStore {
    constructor (private readonly redis: FastifyRateLimitStore, private readonly local: FastifyRateLimitStore) {}

    incr (ip: string, callback: Callback, timeWindow: number, max: number): void {
      this.redis.incr(ip, (err, result) => {
        if (err === null) return callback(null, result)
        shared.fellBack(err)
        this.local.incr(ip, callback, timeWindow, max)
      }, timeWindow, max)
    }

    child (routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): FastifyRateLimitStore {
      return new SharedStore(this.redis.child(routeOptions), this.local.child(routeOptions))
    }
  }
  return class extends SharedStore {
    constructor (options: FastifyRateLimitOptions) {
      // The plugin passes its resolved settings, these two among them.
      const { continueExceeding = false, exponentialBackoff = false } = options as { continueExceeding?: boolean, exponentialBackoff?: boolean }
      super(new RedisStore(continueExceeding, exponentialBackoff, shared.redis, key), new LocalStore(continueExceeding, exponentialBackoff))
    }
  }
}
