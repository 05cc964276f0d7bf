import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { HealthSchema } from '../src/schemas'
import { version } from '../package.json'

const health: FastifyPluginAsyncTypebox = async (fastify) => {
  // Liveness, and what the client checks before it does anything else: a 200.
  fastify.get('/', {
    schema: { response: { 200: HealthSchema } }
  }, async () => ({ status: 'ok' as const, service: 'parley', version }))
}

export default health
