// Registers @fastify/rate-limit (REST requests per address per window) and decorates
// clientKey, the one address rule of every per-address limit.
import fp from 'fastify-plugin'
import rateLimit, { normalizeIP } from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import { sharedStore } from './rate-limit-store'

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
