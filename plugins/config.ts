// Decorates config and isAllowedOrigin (the one origin rule, src/access/origins.ts).
import fp from 'fastify-plugin'
import type { Config } from '../src/config'
import { createOriginCheck } from '../src/access/origins'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    isAllowedOrigin: ReturnType<typeof createOriginCheck>
  }
}

export default fp<{ config: Config }>(async function configPlugin (fastify, { config }) {
  fastify.decorate('config', config)
  fastify.decorate('isAllowedOrigin', createOriginCheck(config))
}, { name: 'config' })
