// A history page on the wire: the messages' stored JSON, joined, within a byte bound.

/**
 * The JSON array of `messages` (wire JSON, oldest first), cut to the newest that fit in
 * `maxBytes` (HISTORY_MAX_BYTES). A cut page is still a page: oldest first, continued
 * with `before=` its first seq; it only holds fewer messages. The newest is always in it.
 */
export function pageBody (messages: readonly string[], maxBytes: number): string {
  // Brackets and commas, and the messages' UTF-16 length: a unit is at most 3 bytes of
  // UTF-8, so a page this short fits without measuring a byte.
  let chars = messages.length + 1
  for (const message of messages) chars += message.length
  if (chars * 3 <= maxBytes) return `[${messages.join(',')}]`
  let bytes = 1
  let first = messages.length
  while (first > 0) {
    const size = Buffer.byteLength(messages[first - 1]) + 1
    if (bytes + size > maxBytes && first < messages.length) break
    bytes += size
    first--
  }
  return `[${messages.slice(first).join(',')}]`
}
