import fp from 'fastify-plugin'
import { createConnectionRegistry } from '../src/connection-registry'

declare module 'fastify' {
  interface FastifyInstance {
    registry: ReturnType<typeof createConnectionRegistry>
  }
}

export default fp(async function registryPlugin (fastify) {
  const { broker, store, metrics, log } = fastify
  fastify.decorate('registry', createConnectionRegistry({
    broker,
    history: store,
    onError: (err) => log.error({ err }, 'reading missed messages failed'),
    metrics
  }))
}, { name: 'registry', dependencies: ['broker', 'store', 'metrics'] })
