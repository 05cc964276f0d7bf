// Decorates limits: the buckets of per-key limits, this instance's own or (with REDIS_URL) shared by every instance.
import fp from 'fastify-plugin'
import { localBuckets, type BucketFactory } from '../src/access/buckets'
import type { RedisLimits } from '../src/access/redis-limits'

declare module 'fastify' {
  interface FastifyInstance {
    limits: {
      buckets: BucketFactory
      /** With REDIS_URL: the shared limits' connection (REST requests count there too). */
      shared: RedisLimits | null
    }
  }
}

export default fp(async function limitsPlugin (fastify) {
  const { redisUrl, redisPrefix } = fastify.config
  if (redisUrl === null) {
    fastify.decorate('limits', { buckets: localBuckets, shared: null })
    return
  }
  // Loaded only when it is used: a start without Redis stays short.
  const { createRedisLimits } = await import('../src/access/redis-limits')
  const shared = createRedisLimits({ url: redisUrl, prefix: redisPrefix, log: fastify.log })
  // Not waited for: the broker's plugin gives Redis a moment before the server listens,
  // and until this connection is up a limit is counted here.
  fastify.decorate('limits', { buckets: shared.buckets, shared })
  fastify.addHook('onClose', async () => shared.close())
}, { name: 'limits', dependencies: ['config'] })
