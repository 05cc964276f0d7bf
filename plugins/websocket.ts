// Registers @fastify/websocket: frame size, heartbeat, closing sockets on shutdown.
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import { setTimeout as sleep } from 'node:timers/promises'

export default fp(async function websocketPlugin (fastify) {
  const { maxFrameBytes, wsPingIntervalMs, shutdownGraceMs } = fastify.config

  await fastify.register(websocket, {
    // A frame over maxPayload closes the socket with 1009.
    options: { maxPayload: maxFrameBytes, perMessageDeflate: false },
    // A peer's protocol error (an oversized frame, bad framing) is its fault, not ours:
    // ws has already sent the close code (1009, 1002…); log it at info.
    errorHandler: (error, socket, request) => {
      const code = (error as NodeJS.ErrnoException).code
      if (code?.startsWith('WS_ERR_')) request.log.info({ code }, `websocket protocol error: ${error.message}`)
      else request.log.error({ err: error }, 'websocket error')
      socket.terminate()
    },
    preClose: async function closeSockets () {
      const { clients } = fastify.websocketServer
      // 1012 (service restart), never 4004: the client must reconnect to the next instance.
      for (const socket of clients) socket.close(1012, 'server restarting')
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
  const answered = new WeakSet<WebSocket>()
  fastify.websocketServer.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    answered.add(socket)
    socket.on('pong', () => answered.add(socket))
    // @fastify/websocket assigns a ServerResponse to the upgraded TCP socket and never
    // detaches it: for a socket's whole life it would keep the request and response
    // objects alive (~2.5 KB of heap per idle socket). Nothing writes to it after 101.
    const upgraded = request.socket as (Socket & { _httpMessage?: ServerResponse }) | undefined
    upgraded?._httpMessage?.detachSocket(upgraded)
  })
  const heartbeat = setInterval(() => {
    for (const socket of fastify.websocketServer.clients) {
      if (!answered.has(socket)) {
        socket.terminate()
        continue
      }
      answered.delete(socket)
      socket.ping()
    }
  }, wsPingIntervalMs)
  heartbeat.unref()
  fastify.addHook('onClose', async () => clearInterval(heartbeat))
}, { name: 'websocket', dependencies: ['config', 'registry'] })
