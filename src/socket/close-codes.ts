// Every close code the server sends and why: the socket code, /docs/websocket.json and the docs read this one table.

/** A close the server sends: its code and its reason text. */
export interface Close {
  code: number
  reason: string
}

const close = (code: number, reason: string): Close => ({ code, reason })

/**
 * 4004 makes the client stop reconnecting for good: only a URL that can never succeed
 * gets it. Restarts get 1012 (never 4004), so clients move to the next instance.
 */
export const CLOSES = {
  invalidId: close(4004, 'invalid room or user id'),
  restarting: close(1012, 'server restarting'),
  registrationFailed: close(1011, 'registration failed'),
  slowConsumer: close(1013, 'slow consumer'),
  roomFull: close(1013, 'room is full; try again later'),
  serverFull: close(1013, 'server is full; try again later'),
  abuse: close(1008, 'rate limit exceeded'),
  tooManyFromAddress: close(1008, 'too many connections from this address'),
  tooManyRooms: close(1008, 'too many new rooms from this address; try again later'),
  // Policy, not "never": 1008 lets the client reconnect once it has a fresh token.
  // The reason is the token check's own (src/access/auth.ts TOKEN_REFUSALS).
  token: close(1008, 'the token is refused')
} as const

/** What each code means and what a client should do, for the protocol document. */
const MEANING: Record<number, { when: string, client: string }> = {
  4004: { when: 'The room or user id in the URL is invalid: the URL can never succeed (sent right after the upgrade).', client: 'Stop reconnecting. Never used for anything else.' },
  1012: { when: 'The server is restarting or shutting down (SIGTERM, redeploy).', client: 'Reconnect.' },
  1009: { when: 'A frame larger than MAX_FRAME_BYTES (sent by ws itself).', client: 'Reconnect and send smaller frames.' },
  1011: { when: 'Registering the socket failed (for example a storage error).', client: 'Reconnect.' },
  1013: { when: 'The socket fell more than MAX_BUFFERED_BYTES behind (whatever it was being sent: broadcasts, replies, a replay), or the room holds MAX_SOCKETS_PER_ROOM sockets on this instance, or the instance holds MAX_SOCKETS.', client: 'Reconnect after a pause; recover missed messages with since=.' },
  1008: { when: 'Policy: sustained rate-limit abuse, more than MAX_SOCKETS_PER_IP sockets from one address, a new room past NEW_ROOMS_PER_IP, or (with AUTH_SECRET) a missing, invalid or expired token, or one for another user or (by its `rooms` claim) another room.', client: 'Back off; with a token problem, get a fresh token first.' },
  1006: { when: 'Not sent: what the client sees when the heartbeat terminates a socket that stopped answering protocol pings.', client: 'Reconnect.' }
}

/** The close codes as /docs/websocket.json lists them, reasons gathered from CLOSES. */
export function closeCodeTable (tokenReasons: readonly string[]) {
  return [4004, 1012, 1009, 1011, 1013, 1008, 1006].map((code) => ({
    code,
    reasons: [
      ...Object.values(CLOSES).filter((c) => c.code === code && c !== CLOSES.token).map((c) => c.reason),
      ...(code === CLOSES.token.code ? tokenReasons : [])
    ],
    ...MEANING[code]
  }))
}
