// Registers @fastify/websocket: frame size, heartbeat, closing sockets on shutdown.
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import type { IncomingMessage } from 'node:http'
import type { WebSocket } from 'ws'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { SOCKET_PROTOCOL, TOKEN_PROTOCOL_PREFIX } from '../src/access/auth'
import { CLOSES } from '../src/socket/close-codes'
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
  // connections) and find dead peers: a socket that has not answered the previous
  // ping by the next one is terminated.
  // Only a pong that answers the ping sent counts (it echoes the ping's payload): a peer
  // that never reads cannot stay alive by sending pongs of its own.
  // The sockets are spread over slices of the interval, one slice visited per tick: each
  // socket is pinged once per interval as before, but 10,000 sockets are 334 pings (and
  // pongs) a second, not a burst of 10,000 every 30 s that holds every delivery behind it.
  const awaiting = new WeakMap<WebSocket, Buffer | null>()
  const slices = Array.from({ length: sliceCount(wsPingIntervalMs) }, () => new Set<WebSocket>())
  fastify.websocketServer.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    awaiting.set(socket, null)
    socket.on('pong', (data: Buffer) => {
      const expected = awaiting.get(socket)
      if (expected && data.equals(expected)) awaiting.set(socket, null)
    })
    // The emptiest slice: the slices stay even however sockets come and go.
    const slice = slices.reduce((least, s) => (s.size < least.size ? s : least))
    slice.add(socket)
    socket.once('close', () => slice.delete(socket))
    detachUpgradeResponse(request.socket)
  })
  let tick = 0
  const heartbeat = setInterval(() => {
    for (const socket of slices[tick++ % slices.length]) {
      if (awaiting.get(socket) !== null) {
        socket.terminate()
        continue
      }
      const payload = randomBytes(8)
      awaiting.set(socket, payload)
      socket.ping(payload)
    }
  }, wsPingIntervalMs / slices.length)
  heartbeat.unref()
  fastify.addHook('onClose', async () => clearInterval(heartbeat))
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

/** Slices of the ping interval: one per second up to 30, none shorter than 100 ms. */
function sliceCount (intervalMs: number): number {
  return Math.max(1, Math.min(30, Math.floor(intervalMs / 100)))
}
