// Decorates redis: with REDIS_URL, the instance's one Redis command connection (limits, presence and the broker share it).
import fp from 'fastify-plugin'
import type Redis from 'ioredis'

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis | null
  }
}

export default fp(async function redisPlugin (fastify) {
  const { redisUrl, redisPrefix } = fastify.config
  if (redisUrl === null) {
    fastify.decorate('redis', null)
    return
  }
  // Loaded only when it is used: a start without Redis stays short.
  const { createRedisCommands, closeRedis } = await import('../src/redis')
  const redis = createRedisCommands(redisUrl, redisPrefix)
  fastify.decorate('redis', redis)
  // Registered before its users, so closed after them (onClose runs last-registered first).
  fastify.addHook('onClose', async () => closeRedis(redis))
}, { name: 'redis', dependencies: ['config'] })
