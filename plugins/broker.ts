// Decorates broker: in-process, or Redis when REDIS_URL is set.
import fp from 'fastify-plugin'
import { createInProcessBroker, type Broker } from '../src/fanout/broker'

declare module 'fastify' {
  interface FastifyInstance {
    broker: Broker
  }
}

const CONNECT_WAIT_MS = 5000

export default fp(async function brokerPlugin (fastify) {
  const { config: { redisPrefix }, redis: commands } = fastify
  let broker: Broker = createInProcessBroker()
  if (commands !== null) {
    // Loaded only when it is used: a start without Redis stays short.
    const { createRedisBroker } = await import('../src/fanout/redis-broker')
    const redis = createRedisBroker({ commands, prefix: redisPrefix, log: fastify.log })
    // Start serving without Redis if it is not there (readiness says so), but give it a
    // moment first: a publish before the connection would reach this instance only.
    if (!await redis.ready(CONNECT_WAIT_MS)) fastify.log.warn('redis is not reachable yet; starting degraded (see /health)')
    broker = redis
  }
  fastify.decorate('broker', broker)
  fastify.addHook('onClose', async () => broker.close())
}, { name: 'broker', dependencies: ['config', 'redis'] })
