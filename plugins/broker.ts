import fp from 'fastify-plugin'
import { createInProcessBroker, type Broker } from '../src/broker'
import { createRedisBroker } from '../src/redis-broker'

declare module 'fastify' {
  interface FastifyInstance {
    broker: Broker
  }
}

export default fp(async function brokerPlugin (fastify) {
  const { redisUrl, redisPrefix } = fastify.config
  const broker = redisUrl === null
    ? createInProcessBroker()
    : createRedisBroker({ url: redisUrl, prefix: redisPrefix, log: fastify.log })
  fastify.decorate('broker', broker)
  fastify.addHook('onClose', async () => broker.close())
}, { name: 'broker', dependencies: ['config'] })
