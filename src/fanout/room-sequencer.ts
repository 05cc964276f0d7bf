// One room's chat messages to this instance in seq order, each once, gaps read from the store.
import type { Envelope } from './broker'
import type { RoomStore } from '../store/store'

export type History = Pick<RoomStore, 'lastSeq' | 'page'>

// How long a seq may be missing before it is read from the store: long enough for a
// publish overtaken by a later one to arrive, short enough that nobody notices.
const GAP_WAIT_MS = 200
const MAX_PENDING = 10_000
const MAX_FILL = 1000
// While a room has sockets here, its newest seq is checked against the store, 1 s
// after activity and then less and less often (up to every 30 s): a publish lost
// with nothing after it (Redis away, a publisher that died) still arrives, late but
// once and in order, and an idle room costs a query every half minute.
const PROBE_MS = 1000
const PROBE_MAX_MS = 30_000

/**
 * Delivers one room's chat messages to this instance in seq order, each once.
 * With several writers (instances, or concurrent commits to PostgreSQL) messages
 * can be published out of order, and a publish can be lost (Redis away): a later
 * seq waits for the earlier ones, and a seq still missing after a moment is read
 * from the store. Frames without a seq (typing, presence) pass straight through.
 */
export function createRoomSequencer (opts: {
  roomId: string
  history: History
  deliver (envelope: Envelope): void
  onError (err: unknown): void
}) {
  const { roomId, history, deliver } = opts
  let last: number | null = null
  const pending = new Map<number, Envelope>()
  let timer: NodeJS.Timeout | undefined
  let filling = false
  let closed = false
  let probe: NodeJS.Timeout | undefined
  let probeDelay = PROBE_MS

  function scheduleProbe (delay = PROBE_MS): void {
    if (closed) return
    // Activity brings the next check back to 1 s; an idle room backs off.
    if (probe !== undefined && delay >= probeDelay) return
    clearTimeout(probe)
    probeDelay = delay
    probe = setTimeout(() => {
      probe = undefined
      history.lastSeq(roomId).then((stored) => {
        if (last !== null && stored > last) void fill(stored + 1)
      }, (err) => { if (!closed) opts.onError(err) }).finally(() => scheduleProbe(Math.min(probeDelay * 2, PROBE_MAX_MS)))
    }, delay)
    probe.unref()
  }

  function send (envelope: Envelope): void {
    deliver(envelope)
    if (probeDelay > PROBE_MS || probe === undefined) scheduleProbe()
  }

  // Where the room's live stream starts. What arrived while this was read came in on
  // the subscription, so it is live too, whatever its seq: delivered in order.
  async function start (): Promise<void> {
    for (let attempt = 0; !closed; attempt++) {
      try {
        const stored = await history.lastSeq(roomId)
        const early = [...pending.keys()].sort((a, b) => a - b)
        last = early.length > 0 ? Math.min(stored, early[0] - 1) : stored
        drain()
        scheduleProbe()
        return
      } catch (err) {
        opts.onError(err)
        await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 2000)).unref())
      }
    }
  }
  let started: Promise<void> | undefined

  function drain (): void {
    if (last === null) return
    for (const seq of pending.keys()) if (seq <= last) pending.delete(seq)
    let next = pending.get(last + 1)
    while (next) {
      pending.delete(last + 1)
      last++
      send(next)
      next = pending.get(last + 1)
    }
    if (pending.size === 0) {
      clearTimeout(timer)
      timer = undefined
    } else if (pending.size > MAX_PENDING) void fill()
    else if (!timer && !filling) {
      timer = setTimeout(() => { void fill() }, GAP_WAIT_MS)
      timer.unref()
    }
  }

  /** Reads what is missing below `upTo` (default: the first seq waiting) from the store. */
  async function fill (upTo?: number): Promise<void> {
    clearTimeout(timer)
    timer = undefined
    if (closed || filling || last === null) return
    if (upTo === undefined) {
      if (pending.size === 0) return
      upTo = Math.min(...pending.keys())
    }
    if (upTo <= last + 1) return drain()
    filling = true
    try {
      const missing = await history.page(roomId, { afterSeq: last, beforeSeq: upTo, limit: Math.min(upTo - last - 1, MAX_FILL) })
      for (const message of missing) {
        if (message.seq <= last) continue
        last = message.seq
        send({ data: JSON.stringify(message), seq: message.seq })
      }
      // What the store does not have before upTo was never committed: move on.
      if (missing.length < MAX_FILL) last = Math.max(last, upTo - 1)
    } catch (err) {
      opts.onError(err)
    } finally {
      filling = false
    }
    if (!closed) drain()
  }

  return {
    /**
     * Reads where the live stream starts; call it once the room is subscribed. Read
     * before that, a message committed and published in between would be neither live
     * nor below the start, and a replay read after the start could miss it.
     */
    start (): Promise<void> {
      started ??= start()
      return started
    },
    push (envelope: Envelope): void {
      const { seq } = envelope
      if (seq === undefined) return deliver(envelope)
      if (last !== null && seq <= last) return
      if (last !== null && seq === last + 1 && pending.size === 0) {
        last = seq
        return send(envelope)
      }
      pending.set(seq, envelope)
      drain()
    },
    close (): void {
      closed = true
      clearTimeout(timer)
      clearTimeout(probe)
      pending.clear()
    }
  }
}
