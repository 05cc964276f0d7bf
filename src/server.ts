// The process: reads the environment, listens, shuts down gracefully on SIGTERM/SIGINT.
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app'
import { ConfigError, configWarnings, loadConfig } from './config'

// The accept queue asked of the kernel (see listen below).
const LISTEN_BACKLOG = 4096

async function main (): Promise<void> {
  let config
  try {
    config = loadConfig()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    console.error(err.message)
    process.exit(1)
  }

  const app = await buildApp(config, {
    logger: {
      level: config.logLevel,
      // Pretty lines for a person at a terminal, JSON for Railway's log pipeline.
      ...(process.stdout.isTTY ? { transport: { target: 'pino-pretty' } } : {})
    },
    // Upgraded sockets are closed by the websocket plugin; idle keep-alive ones here.
    forceCloseConnections: 'idle'
  })

  for (const warning of configWarnings(config)) app.log.warn(warning)

  closeWithGrace({ delay: config.shutdownGraceMs, logger: app.log }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal }, 'shutting down')
    await app.close()
  })

  // After a deploy every client reconnects at once: connections wait in the kernel's
  // accept queue while the event loop is busy. Node's 511 overflows in such a storm
  // (dropped SYNs, and resets of connections the client thought open); the kernel caps
  // this at net.core.somaxconn.
  await app.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
