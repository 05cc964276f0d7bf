// Message ids: UUIDv7 whose last 48 bits carry the seq.
import { randomFillSync } from 'node:crypto'

const pool = Buffer.alloc(16 * 256)
let offset = pool.length

/** 16 bytes laid out as a UUIDv7: the time, the version and variant bits, randomness. */
function v7Bytes (now: number): Buffer {
  if (offset === pool.length) {
    randomFillSync(pool)
    offset = 0
  }
  const bytes = pool.subarray(offset, offset + 16)
  offset += 16
  bytes.writeUIntBE(now, 0, 6)
  bytes[6] = (bytes[6] & 0x0f) | 0x70
  bytes[8] = (bytes[8] & 0x3f) | 0x80
  return bytes
}

function format (bytes: Buffer): string {
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/**
 * A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then randomness. Ids
 * made in time order land at the end of an id index, so the appends of one commit
 * touch one index page instead of one random page each.
 */
export function uuidv7 (now = Date.now()): string {
  return format(v7Bytes(now))
}

// The low 48 bits of a message id hold its seq (RFC 9562 allows counters in rand_b).
const MAX_SEQ = 2 ** 48 - 1
const MESSAGE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-([0-9a-f]{12})$/

/**
 * A chat message's id: a UUIDv7 whose last 48 bits are the message's seq in its room,
 * after 26 random bits. Within a room the seq makes it unique; across rooms, the time
 * and the random bits do. A store finds a message by id through its (room, seq) key,
 * with no index of its own on ids.
 */
export function messageId (seq: number, now = Date.now()): string {
  if (!Number.isInteger(seq) || seq < 1 || seq > MAX_SEQ) throw new RangeError(`seq ${seq} does not fit in a message id`)
  const bytes = v7Bytes(now)
  bytes.writeUIntBE(seq, 10, 6)
  return format(bytes)
}

/**
 * The seq a message id made by messageId carries, or undefined for a string that is
 * not a version 7 UUID. Any UUIDv7 decodes to some number: the caller checks that the
 * room's message at that seq has this id.
 */
export function seqInMessageId (id: string): number | undefined {
  const match = MESSAGE_ID.exec(id)
  if (match === null) return undefined
  const seq = Number.parseInt(match[1], 16)
  return seq > 0 ? seq : undefined
}

/**
 * UUIDv7s that sort in the order they were made, also within one millisecond: a
 * 12-bit counter in rand_a (RFC 9562, method 1). Ordering by id is then ordering by
 * time, which is how direct messages are paged. One generator per store.
 */
export function createOrderedIds () {
  let lastMs = 0
  let counter = 0
  return function orderedId (): string {
    let now = Date.now()
    if (now <= lastMs) {
      counter++
      // 4096 ids in one millisecond: borrow the next one.
      if (counter > 0xfff) {
        lastMs++
        counter = 0
      }
      now = lastMs
    } else {
      lastMs = now
      counter = 0
    }
    const bytes = v7Bytes(now)
    bytes[6] = 0x70 | (counter >> 8)
    bytes[7] = counter & 0xff
    return format(bytes)
  }
}
