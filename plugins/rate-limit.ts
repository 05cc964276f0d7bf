// Registers @fastify/rate-limit: REST requests per address per window.
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import { clientKey } from '../src/access/client-address'

export default fp(async function rateLimitPlugin (fastify) {
  const { rateLimitMax, rateLimitWindowMs } = fastify.config
  // Per client address (behind a proxy, set TRUST_PROXY so it is the client's, not
  // the proxy's). The default leaves ample room for a client that polls history
  // every 3 s while its socket is down (20 requests a minute).
  await fastify.register(rateLimit, {
    max: rateLimitMax,
    timeWindow: rateLimitWindowMs,
    keyGenerator: (request) => clientKey(request.ip),
    errorResponseBuilder: (_request, context) => ({
      statusCode: 429,
      error: 'Too Many Requests',
      message: `rate limit exceeded: at most ${context.max} requests per ${rateLimitWindowMs / 1000} s; retry in ${context.after}`
    })
  })
}, { name: 'rate-limit', dependencies: ['config'] })
