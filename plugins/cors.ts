// Registers @fastify/cors with the one origin rule.
import fp from 'fastify-plugin'
import cors from '@fastify/cors'

export default fp(async function corsPlugin (fastify) {
  const { isAllowedOrigin } = fastify
  // Echoes an allowed origin with credentials; never `*`. A refused origin gets no
  // CORS headers, so the browser blocks the response.
  await fastify.register(cors, {
    origin: (origin, cb) => cb(null, isAllowedOrigin(origin)),
    credentials: true,
    // The current client edits profiles (PUT) and deletes (DELETE, with a JSON body);
    // its avatar uploads send X-User-Id.
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['content-type', 'authorization', 'x-user-id', 'idempotency-key'],
    maxAge: 600
  })
}, { name: 'cors', dependencies: ['config'] })
