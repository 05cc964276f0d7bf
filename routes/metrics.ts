// GET /metrics.
import { timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ChatError } from '../src/chat/errors'

const metricsRoute: FastifyPluginAsyncTypebox = async (fastify) => {
  const { metrics, config } = fastify
  const expected = config.metricsToken === null ? null : Buffer.from(`Bearer ${config.metricsToken}`)

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
  }, async (request, reply) => {
    // With METRICS_TOKEN, only a scraper that presents it (compared in constant time).
    if (expected !== null) {
      const given = Buffer.from(request.headers.authorization ?? '')
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw new ChatError('unauthorized', 'metrics need the METRICS_TOKEN as a bearer token', 401)
      }
    }
    const text = await metrics.text()
    return reply.type(metrics.contentType).send(text)
  })
}

export default metricsRoute
