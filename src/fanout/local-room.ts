// One room as this instance holds it: its sockets, their presence state, and its broker subscription.
import type { Broker, BrokerListener, Envelope } from './broker'
import type { Connection } from './connection-registry'
import { createPresenceBatch, type PresenceBatch } from './presence-batch'
import { createPresenceLog, type PresenceLog } from './presence-watch'
import { createRoomSequencer, type History } from './room-sequencer'

export interface LocalRoom {
  connections: Set<Connection>
  /** Presence frames waiting for the end of the turn or of the window (with `coalesce`). */
  batch: PresenceBatch
  /** Sockets whose presence snapshot is still to be read: presence frames skip them (the read will cover them). */
  unread: Set<Connection>
  /** What the room's presence frames said while sockets built their snapshots. */
  presence: PresenceLog
  /** user id → that user's local sockets in the room: presence. */
  users: Map<string, number>
  /** What the broker calls with the room's broadcasts (unsubscribe with it). */
  listener: BrokerListener
  /** Resolves once subscribed and, with a sequencer, once it knows where the live stream starts. */
  subscribed: Promise<void>
  /** Drops the pending presence frames and stops the sequencer. */
  close (): void
}

/**
 * Opens a room for its first socket and subscribes it to the broker. With `history`
 * (a room of seq-ordered chat messages) its broadcasts go through a sequencer, and
 * `subscribed` waits for the sequencer to know where the live stream starts: a replay
 * (since=) read after that misses nothing.
 */
export function openLocalRoom ({ roomId, first, snapshotLater, broker, history, onError, deliver, delivered }: {
  roomId: string
  first: Connection
  /** The first socket reads who is online after this (see the registry's add). */
  snapshotLater: boolean
  broker: Broker
  history?: History
  onError: (err: unknown) => void
  /** The room's broadcasts, in order. */
  deliver: (envelope: Envelope) => void
  /** A coalesced presence frame went to `sent` sockets. */
  delivered: (envelope: Envelope, sent: number) => void
}): LocalRoom {
  let listener: BrokerListener = deliver
  let stop = () => {}
  let subscribed: Promise<void>
  if (history !== undefined) {
    const sequencer = createRoomSequencer({ roomId, history, deliver, onError })
    listener = sequencer.push
    stop = sequencer.close
    subscribed = broker.subscribe(roomId, listener).then(() => sequencer.start())
  } else {
    subscribed = broker.subscribe(roomId, listener)
  }
  const connections = new Set([first])
  const unread = new Set(snapshotLater ? [first] : [])
  const batch = createPresenceBatch(connections, unread, delivered)
  return {
    connections,
    users: new Map(),
    batch,
    unread,
    presence: createPresenceLog(),
    listener,
    subscribed,
    close () {
      batch.close()
      stop()
    }
  }
}
