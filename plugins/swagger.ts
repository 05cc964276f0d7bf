// Registers @fastify/swagger and its UI: OpenAPI at /docs from the route schemas.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { documentSocketRoute, openapiDocument } from '../src/schemas/openapi'
import { version } from '../package.json'

export default fp(async function swaggerPlugin (fastify) {
  // Before the routes: @fastify/swagger collects them as they are added.
  await fastify.register(swagger, { openapi: openapiDocument(version), transform: documentSocketRoute(version) })
  await fastify.register(swaggerUi, { routePrefix: '/docs' })
}, { name: 'swagger' })
