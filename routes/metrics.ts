// GET /metrics.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

const metricsRoute: FastifyPluginAsyncTypebox = async (fastify) => {
  const { metrics } = fastify

  fastify.get('/metrics', {
    schema: {
      tags: ['operations'],
      summary: 'Prometheus metrics',
      description: 'This instance\'s sockets, rooms, messages, latencies, refusals and HTTP requests, and its process, in the Prometheus text format.',
      response: {
        200: {
          description: 'Prometheus text exposition format 0.0.4',
          content: { 'text/plain': { schema: { type: 'string' } } }
        }
      }
    }
  }, async (_request, reply) => {
    const text = await metrics.text()
    return reply.type(metrics.contentType).send(text)
  })
}

export default metricsRoute
