// Decorates metrics and counts HTTP requests by route pattern.
import fp from 'fastify-plugin'
import { createMetrics } from '../src/ops/metrics'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ReturnType<typeof createMetrics>
  }
}

export default fp(async function metricsPlugin (fastify) {
  const metrics = createMetrics()
  fastify.decorate('metrics', metrics)
  // Labelled by route pattern, never by URL: a bounded set of series, whatever is requested.
  fastify.addHook('onResponse', async (request, reply) => {
    metrics.httpRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000)
  })
}, { name: 'metrics' })
