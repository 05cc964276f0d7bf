import fp from 'fastify-plugin'
import { createConnectionRegistry } from '../src/connection-registry'

declare module 'fastify' {
  interface FastifyInstance {
    registry: ReturnType<typeof createConnectionRegistry>
  }
}

export default fp(async function registryPlugin (fastify) {
  fastify.decorate('registry', createConnectionRegistry({ broker: fastify.broker }))
}, { name: 'registry', dependencies: ['broker'] })
