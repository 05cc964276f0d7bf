import fp from 'fastify-plugin'
import { createInProcessBroker, type Broker } from '../src/broker'

declare module 'fastify' {
  interface FastifyInstance {
    broker: Broker
  }
}

export default fp(async function brokerPlugin (fastify) {
  const broker = createInProcessBroker()
  fastify.decorate('broker', broker)
  fastify.addHook('onClose', async () => broker.close())
}, { name: 'broker' })
