// Registers @fastify/rate-limit: REST requests per address per window.
import fp from 'fastify-plugin'
import rateLimit, { normalizeIP } from '@fastify/rate-limit'

export default fp(async function rateLimitPlugin (fastify) {
  const { rateLimitMax, rateLimitWindowMs } = fastify.config
  // Per client address (behind a proxy, set TRUST_PROXY so it is the client's, not
  // the proxy's). The default leaves ample room for a client that polls history
  // every 3 s while its socket is down (20 requests a minute).
  await fastify.register(rateLimit, {
    max: rateLimitMax,
    timeWindow: rateLimitWindowMs,
    // A request with no peer address (a unix socket, an injected upgrade) shares one key.
    keyGenerator: (request) => (request.ip ? normalizeIP(request.ip, 64) : 'unknown'),
    errorResponseBuilder: (_request, context) => ({
      statusCode: 429,
      error: 'Too Many Requests',
      message: `rate limit exceeded: at most ${context.max} requests per ${rateLimitWindowMs / 1000} s; retry in ${context.after}`
    })
  })
}, { name: 'rate-limit', dependencies: ['config'] })
