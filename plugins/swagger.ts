// Registers @fastify/swagger and its UI: OpenAPI at /docs from the route schemas.
import fp from 'fastify-plugin'
import swagger, { type SwaggerTransform } from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { ErrorSchema } from '../src/schemas/http'
import { CLIENT_FRAMES, QUERY_FLAGS, SERVER_FRAMES, protocolDocument, protocolMarkdown } from '../src/schemas/protocol'
import { version } from '../package.json'

const PROTOCOL_URL = '/docs/websocket.json'
const protocol = protocolDocument(version)

/**
 * The socket route's schema only says what Fastify checks (the handler checks the rest,
 * so a bad id gets close 4004): the document describes the protocol instead.
 */
const documentSocketRoute: SwaggerTransform = ({ schema, url, route }) => {
  if (route.wsHandler === undefined) return { schema, url }
  const described = (entries: Record<string, { description: string, schema: object }>) =>
    Object.fromEntries(Object.entries(entries).map(([name, f]) => [name, { ...f.schema, description: f.description }]))
  const ownQuery = (schema?.querystring as { properties?: object } | undefined)?.properties
  return {
    url,
    schema: {
      ...schema,
      tags: ['websocket'],
      summary: 'Open a chat socket (WebSocket upgrade)',
      description: protocolMarkdown(PROTOCOL_URL),
      params: { type: 'object', properties: described(protocol.path_parameters), required: ['room_id', 'user_id'] },
      querystring: { type: 'object', properties: { ...ownQuery, ...described(QUERY_FLAGS) } },
      response: {
        101: { type: 'null', description: 'Switching Protocols: the socket is open.' },
        403: { ...ErrorSchema, description: 'The Origin is not allowed: no socket is opened.' },
        426: { ...ErrorSchema, description: 'A plain GET, without an Upgrade.' },
        ...(schema?.response as object | undefined)
      }
    }
  }
}

const frameSchemas = (side: string, frames: Record<string, { schema: object }>) =>
  Object.fromEntries(Object.entries(frames).map(([name, f]) => [`ws.${side}.${name}`, f.schema]))

export default fp(async function swaggerPlugin (fastify) {
  // Before the routes: @fastify/swagger collects them as they are added.
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Parley',
        version,
        description: 'Real-time chat rooms: REST and WebSocket. ' +
          `The WebSocket protocol, every frame both ways as a JSON Schema, close codes and query flags: [${PROTOCOL_URL}](${PROTOCOL_URL}); ` +
          'it is summarized under `GET /ws/{room_id}/{user_id}`, and its frames are the `ws.*` schemas below. ' +
          'Prometheus metrics: [/metrics](/metrics).'
      },
      tags: [
        { name: 'health', description: 'Liveness and readiness' },
        { name: 'rooms', description: 'Rooms, members and joins' },
        { name: 'messages', description: 'Sending and reading chat messages' },
        { name: 'users', description: 'One user space: accounts, guests and everyone seen in a room' },
        { name: 'accounts', description: 'Sign up, log in, log out: {user, token}' },
        { name: 'direct messages', description: 'Conversations between two users; the DM socket is /ws/dm/{user_id}' },
        { name: 'websocket', description: 'The real-time socket' },
        { name: 'operations', description: 'Documentation and metrics' }
      ],
      components: { schemas: { ...frameSchemas('client', CLIENT_FRAMES), ...frameSchemas('server', SERVER_FRAMES) } }
    },
    transform: documentSocketRoute
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs' })
}, { name: 'swagger' })
