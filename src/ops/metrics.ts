// Prometheus metrics (prom-client): one registry per app, pre-bound label children.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, register as processRegister } from 'prom-client'
import { ERROR_CODES } from '../schemas/protocol'

const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
const TIMESTAMP_KEY = '"timestamp":"'
const EVENT_LOOP_PRECISION_MS = 100

/**
 * Process metrics (CPU, memory, event loop, GC) describe the process, not an app, and
 * prom-client's collectors for them start monitors that are never stopped: they are
 * collected once per process, in prom-client's own registry, and merged into each app's.
 */
function processMetrics (): Registry {
  if (processRegister.getSingleMetric('process_cpu_user_seconds_total') === undefined) {
    // The event-loop delay monitor wakes the loop every `precision` ms, busy or idle:
    // at prom-client's 10 ms that was a hundred wakeups a second, about 1% of a core
    // on an idle server. Every 100 ms still shows a blocked loop in the lag metrics.
    collectDefaultMetrics({ register: processRegister, eventLoopMonitoringPrecision: EVENT_LOOP_PRECISION_MS })
  }
  return processRegister
}

/**
 * Seconds since a serialized chat message's `timestamp` (set as it was stored). The
 * broker's wire format carries no publish time, and the message's own works across
 * instances. In JSON text an unescaped `"timestamp":"` can only be the key itself.
 */
export function secondsSinceStored (frame: string, now = Date.now()): number | undefined {
  const at = frame.lastIndexOf(TIMESTAMP_KEY)
  if (at < 0) return undefined
  const start = at + TIMESTAMP_KEY.length
  const stored = Date.parse(frame.slice(start, frame.indexOf('"', start)))
  // Another instance's clock may be a little ahead: never a negative latency.
  return Number.isNaN(stored) ? undefined : Math.max(0, now - stored) / 1000
}

/**
 * One app's metrics, in its own registry (several apps can share a process: tests,
 * two instances in one suite). The hot paths call these methods once per message or
 * broadcast, never once per socket, and no label names a room, a user or a socket.
 */
export function createMetrics () {
  const registry = new Registry()
  const registers = [registry]
  let counts = () => ({ connections: 0, rooms: 0 })

  new Gauge({
    name: 'parley_ws_connections',
    help: 'Open WebSocket connections on this instance',
    registers,
    collect () { this.set(counts().connections) }
  })
  new Gauge({
    name: 'parley_ws_rooms',
    help: 'Rooms with at least one open WebSocket on this instance',
    registers,
    collect () { this.set(counts().rooms) }
  })
  const opened = new Counter({
    name: 'parley_ws_connections_opened_total',
    help: 'WebSocket connections registered in a room',
    registers
  })
  const stored = new Counter({
    name: 'parley_messages_stored_total',
    help: 'Chat messages stored (REST and WebSocket)',
    registers
  })
  const deduplicated = new Counter({
    name: 'parley_messages_deduplicated_total',
    help: 'Sends answered with the message their client_id had already stored',
    registers
  })
  const append = new Histogram({
    name: 'parley_store_append_seconds',
    help: 'Time to make a chat message durable (store append)',
    buckets: SECONDS,
    registers
  })
  const checkpoints = new Histogram({
    name: 'parley_sqlite_checkpoint_seconds',
    help: 'SQLite WAL checkpoints, by thread: the worker\'s copying, and the event loop\'s short catch-up before the WAL restarts',
    labelNames: ['thread'] as const,
    buckets: SECONDS,
    registers
  })
  const deliveries = new Counter({
    name: 'parley_ws_deliveries_total',
    help: 'Broadcast frames handed to this instance\'s sockets: chat messages, and events (typing, presence)',
    labelNames: ['kind'] as const,
    registers
  })
  const latency = new Histogram({
    name: 'parley_broadcast_latency_seconds',
    help: 'From a chat message\'s storage (its timestamp, ms resolution) to its fan-out to this instance\'s sockets',
    buckets: SECONDS,
    registers
  })
  const refused = new Counter({
    name: 'parley_ws_frames_refused_total',
    help: 'Error frames sent for client frames, by code (limits, checks, internal_error)',
    labelNames: ['code'] as const,
    registers
  })
  const slowCuts = new Counter({
    name: 'parley_ws_slow_consumer_cuts_total',
    help: 'Sockets cut (close 1013, room and DM) whose queued bytes (broadcasts, replies, replay) would pass MAX_BUFFERED_BYTES, or whose paced replay did not drain within WS_DRAIN_TIMEOUT_MS',
    registers
  })
  const abuseCloses = new Counter({
    name: 'parley_ws_abuse_closes_total',
    help: 'Sockets closed (1008) for sustained rate-limit abuse',
    registers
  })
  const duplicates = new Counter({
    name: 'parley_ws_duplicates_dropped_total',
    help: 'Chat messages the last hop refused to send because the socket already had that seq or a later one (a bug upstream: never expected above 0)',
    registers
  })
  const requests = new Counter({
    name: 'parley_http_requests_total',
    help: 'HTTP requests answered, by route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers
  })
  const requestSeconds = new Histogram({
    name: 'parley_http_request_duration_seconds',
    help: 'HTTP response time, by route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: SECONDS,
    registers
  })

  // Known label values start at 0, so a rate over them exists before the first event.
  for (const kind of ['message', 'event']) deliveries.inc({ kind }, 0)
  for (const code of Object.keys(ERROR_CODES)) refused.inc({ code }, 0)

  const messageDeliveries = deliveries.labels('message')
  const eventDeliveries = deliveries.labels('event')
  const merged = Registry.merge([registry, processMetrics()])

  return {
    registry: merged,
    contentType: merged.contentType,
    /** The Prometheus text exposition of this app and its process. */
    text: () => merged.metrics(),

    /** The open-socket gauges read these at scrape time. */
    countConnections (read: () => { connections: number, rooms: number }): void {
      counts = read
    },
    connectionOpened (): void {
      opened.inc()
    },
    /** A send that reached the store: `created` false for a retry answered with the stored message. */
    messageStored (seconds: number, created: boolean): void {
      if (!created) return deduplicated.inc()
      stored.inc()
      append.observe(seconds)
    },
    sqliteCheckpoint (thread: 'worker' | 'main', seconds: number): void {
      checkpoints.observe({ thread }, seconds)
    },
    /** One broadcast handed to `sockets` local sockets; `seq` marks a chat message. */
    delivered (envelope: { data: string, seq?: number }, sockets: number): void {
      if (sockets === 0) return
      if (envelope.seq === undefined) return eventDeliveries.inc(sockets)
      messageDeliveries.inc(sockets)
      const seconds = secondsSinceStored(envelope.data)
      if (seconds !== undefined) latency.observe(seconds)
    },
    frameRefused (code: string): void {
      refused.inc({ code })
    },
    slowConsumerCut (): void {
      slowCuts.inc()
    },
    abuseClose (): void {
      abuseCloses.inc()
    },
    duplicateDropped (): void {
      duplicates.inc()
    },
    httpRequest (method: string, route: string, status: number, seconds: number): void {
      requests.inc({ method, route, status: String(status) })
      requestSeconds.observe({ method, route }, seconds)
    }
  }
}

export type Metrics = ReturnType<typeof createMetrics>
