// The OpenAPI document at /docs: its header, tags and frame schemas, and how the socket route is described.
import type { SwaggerTransform } from '@fastify/swagger'
import { ErrorSchema } from './http'
import { CLIENT_FRAMES, QUERY_FLAGS, SERVER_FRAMES, protocolDocument, protocolMarkdown } from './protocol'

export const PROTOCOL_URL = '/docs/websocket.json'

/**
 * The socket route's schema only says what Fastify checks (the handler checks the rest,
 * so a bad id gets close 4004): the document describes the protocol instead.
 */
export function documentSocketRoute (version: string): SwaggerTransform {
  const protocol = protocolDocument(version)
  const described = (entries: Record<string, { description: string, schema: object }>) =>
    Object.fromEntries(Object.entries(entries).map(([name, f]) => [name, { ...f.schema, description: f.description }]))
  return ({ schema, url, route }) => {
    if (route.wsHandler === undefined) return { schema, url }
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
}

const frameSchemas = (side: string, frames: Record<string, { schema: object }>) =>
  Object.fromEntries(Object.entries(frames).map(([name, f]) => [`ws.${side}.${name}`, f.schema]))

/** The document's own part: the routes add their paths as they are registered. */
export function openapiDocument (version: string) {
  return {
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
  }
}
