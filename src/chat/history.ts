// A history page on the wire: the messages' stored JSON, joined, within a byte bound.

/**
 * The JSON array of `messages` (wire JSON, oldest first), cut to fit in `maxBytes`
 * (HISTORY_MAX_BYTES). A cut page is still a page, oldest first, that the client
 * continues from: a page read backwards (no cursor, `before`) keeps its newest messages,
 * continued with `before=` its first seq; a page read forwards (`after`) keeps its
 * oldest, continued with `after=` its last. At least one message is always kept.
 */
export function pageBody (messages: readonly string[], maxBytes: number, keep: 'newest' | 'oldest' = 'newest'): string {
  // Brackets and commas, and the messages' UTF-16 length: a unit is at most 3 bytes of
  // UTF-8, so a page this short fits without measuring a byte.
  let chars = messages.length + 1
  for (const message of messages) chars += message.length
  if (chars * 3 <= maxBytes) return `[${messages.join(',')}]`
  const newestFirst = keep === 'newest'
  let bytes = 1
  let kept = 0
  while (kept < messages.length) {
    const size = Buffer.byteLength(messages[newestFirst ? messages.length - 1 - kept : kept]) + 1
    if (bytes + size > maxBytes && kept > 0) break
    bytes += size
    kept++
  }
  const page = newestFirst ? messages.slice(messages.length - kept) : messages.slice(0, kept)
  return `[${page.join(',')}]`
}
