// Decorates limits: the buckets of per-key limits, this instance's own or (with REDIS_URL) shared by every instance.
import fp from 'fastify-plugin'
import { localBuckets, type BucketFactory } from '../src/access/buckets'
import type { RedisLimits } from '../src/access/redis-limits'

declare module 'fastify' {
  interface FastifyInstance {
    limits: {
      buckets: BucketFactory
      /** With REDIS_URL: the shared limits (REST requests count there too). */
      shared: RedisLimits | null
    }
  }
}

export default fp(async function limitsPlugin (fastify) {
  const { redis, config } = fastify
  if (redis === null) {
    fastify.decorate('limits', { buckets: localBuckets, shared: null })
    return
  }
  // Loaded only when it is used: a start without Redis stays short.
  const { createRedisLimits } = await import('../src/access/redis-limits')
  // Not waited for: the broker's plugin gives Redis a moment before the server listens,
  // and until the connection is up a limit is counted here.
  const shared = createRedisLimits({ redis, prefix: config.redisPrefix, log: fastify.log })
  fastify.decorate('limits', { buckets: shared.buckets, shared })
}, { name: 'limits', dependencies: ['config', 'redis'] })
