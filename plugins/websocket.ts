// Registers @fastify/websocket: frame size, heartbeat, closing sockets on shutdown.
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import type { IncomingMessage } from 'node:http'
import type { WebSocket } from 'ws'
import { setTimeout as sleep } from 'node:timers/promises'
import { SOCKET_PROTOCOL, TOKEN_PROTOCOL_PREFIX } from '../src/access/auth'
import { CLOSES } from '../src/socket/close-codes'
import { createHeartbeat } from '../src/socket/heartbeat'
import { detachUpgradeResponse, onSocketError } from '../src/socket/ws-internals'

export default fp(async function websocketPlugin (fastify) {
  const { maxFrameBytes, wsPingIntervalMs, shutdownGraceMs } = fastify.config

  await fastify.register(websocket, {
    // A frame over maxPayload closes the socket with 1009. Pongs are answered by the
    // socket's connection, within its byte budget (src/socket/connection.ts).
    options: { maxPayload: maxFrameBytes, perMessageDeflate: false, autoPong: false, handleProtocols: selectProtocol },
    errorHandler: (error, socket, request) => onSocketError(request.log, socket, error),
    preClose: async function closeSockets () {
      const { clients } = fastify.websocketServer
      // 1012 (service restart), never 4004: the client must reconnect to the next instance.
      for (const socket of clients) socket.close(CLOSES.restarting.code, CLOSES.restarting.reason)
      // Registered sockets leave the registry once their queued frames are stored;
      // the store closes after this hook.
      const deadline = sleep(Math.min(shutdownGraceMs / 2, 5000), undefined, { ref: false })
      await Promise.race([fastify.registry.drained(), deadline])
      for (const socket of clients) socket.terminate()
    }
  })

  // Protocol pings keep idle sockets alive through proxies (Railway's edge cuts idle
  // connections) and find dead peers.
  const heartbeat = createHeartbeat(wsPingIntervalMs)
  fastify.websocketServer.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    heartbeat.add(socket)
    detachUpgradeResponse(request.socket)
  })
  fastify.addHook('onClose', async () => heartbeat.stop())
}, { name: 'websocket', dependencies: ['config', 'registry'] })

/**
 * The subprotocol the server answers with. A token sent as `bearer.<jwt>` is never
 * echoed (it would travel back in a header): such a client also offers `parley`, which
 * is selected. Otherwise the first protocol offered, as ws does by default.
 */
function selectProtocol (protocols: Set<string>): string | false {
  if (protocols.has(SOCKET_PROTOCOL)) return SOCKET_PROTOCOL
  for (const protocol of protocols) if (!protocol.startsWith(TOKEN_PROTOCOL_PREFIX)) return protocol
  return false
}
