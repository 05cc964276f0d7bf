// Registers @fastify/rate-limit (REST requests per address per window) and decorates
// clientKey, the one address rule of every per-address limit.
import fp from 'fastify-plugin'
import rateLimit, { normalizeIP, type FastifyRateLimitOptions, type FastifyRateLimitStore, type FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import RedisStore from '@fastify/rate-limit/store/RedisStore.js'
import LocalStore from '@fastify/rate-limit/store/LocalStore.js'
import type { FastifyRequest } from 'fastify'
import type { RedisLimits } from '../src/access/redis-limits'

/** An IPv6 client holds a whole /64 (one home, one phone): one key for all of it. */
const IPV6_PREFIX = 64
// Addresses whose key is kept: a bound, cleared when reached.
const KEPT_KEYS = 10_000

declare module 'fastify' {
  interface FastifyInstance {
    /** The key of the request's client address for REST limits, socket caps, login and room limits. */
    clientKey (request: FastifyRequest): string
  }
}

export default fp(async function rateLimitPlugin (fastify) {
  const { rateLimitMax, rateLimitWindowMs } = fastify.config
  // No peer address (a unix socket, an injected request): one shared key. Every
  // request and connect asks (twice for a socket): the keys of recent addresses are kept.
  const keys = new Map<string, string>()
  const clientKey = (request: FastifyRequest) => {
    const { ip } = request
    if (!ip) return 'unknown'
    let key = keys.get(ip)
    if (key === undefined) {
      if (keys.size >= KEPT_KEYS) keys.clear()
      key = normalizeIP(ip, IPV6_PREFIX)
      keys.set(ip, key)
    }
    return key
  }
  fastify.decorate('clientKey', clientKey)
  // Per client address (behind a proxy, set TRUST_PROXY so it is the client's, not
  // the proxy's). The default leaves ample room for a client that polls history
  // every 3 s while its socket is down (20 requests a minute).
  const { shared } = fastify.limits
  await fastify.register(rateLimit, {
    // With REDIS_URL every instance counts an address's requests in one place.
    ...(shared === null ? {} : { store: sharedStore(shared, `${fastify.config.redisPrefix}:limit:rest:`) }),
    max: rateLimitMax,
    timeWindow: rateLimitWindowMs,
    keyGenerator: clientKey,
    errorResponseBuilder: (_request, context) => ({
      statusCode: 429,
      error: 'Too Many Requests',
      message: `rate limit exceeded: at most ${context.max} requests per ${rateLimitWindowMs / 1000} s; retry in ${context.after}`
    })
  })
}, { name: 'rate-limit', dependencies: ['config', 'limits'] })

type Result = Parameters<Parameters<FastifyRateLimitStore['incr']>[1]>[1]
type Callback = (error: Error | null, result?: Result) => void

/**
 * The plugin's own Redis store, with its own local store beside it: a count Redis
 * cannot make (it is away) is made here, so requests are never refused or held for
 * Redis's sake, and the limit holds per instance meanwhile.
 */
function sharedStore (shared: RedisLimits, key: string): FastifyRateLimitStoreCtor {
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
