// What a socket hears and says about who is online: the snapshot on connect, room_state, user_joined/user_left.
import { presenceMember, publishPresence, snapshotFrameJson, type PresenceMember } from '../fanout/presence'
import type { PresenceChange, PresenceWatch } from '../fanout/presence-watch'
import type { Profile } from '../store/store'
import type { Socket } from './handler'
import { textFrames } from './ws-internals'

// Snapshot bytes written at once: a room's snapshot is one or a few writes, not one per user.
const SNAPSHOT_CHUNK = 65_536

/**
 * One `user_joined` (snapshot) frame per other user online, the frames concatenated
 * into a few writes: a storm of n joins into a room is O(n²) frames, and one write
 * per frame made it O(n²) syscalls. A socket under a recovery hold, or whose budget
 * is already half full, gets them paced one at a time as before. False when it was
 * cut or closed on the way.
 */
export async function snapshot (ctx: Socket, online: Online): Promise<boolean> {
  const { request, connection, deps: { config } } = ctx
  const timestamp = new Date().toISOString()
  const heard = online.watch.changes()
  const { still, unannounced, since } = settle(online.members, heard, request.userId)
  const others = unannounced.filter((m) => m.id !== request.userId)
  const frames = others.map((m) => snapshotFrameJson(request.roomId, m.id, m.profile, still.length + since.length, timestamp))
  // A paced frame waits for the socket: a user heard of meanwhile has a live frame, which
  // may already be out, so theirs is left out (a leave is not undone by a stale join).
  const named = new Set<string>()
  let noted = heard?.length ?? 0
  const namedSince = (userId: string): boolean => {
    // Only what came since the last frame: a storm's log is long, and the frames many.
    const fresh = online.watch.changes(noted)
    if (fresh === undefined) return false
    for (const change of fresh) named.add(change.userId)
    noted += fresh.length
    return named.has(userId)
  }
  // A write of at most a quarter of the budget, into a stream at most a quarter full:
  // bulk keeps within half the budget, as writePaced does.
  const limit = Math.min(SNAPSHOT_CHUNK, config.maxBufferedBytes / 4)
  let i = 0
  while (i < frames.length) {
    if (request.since === undefined) {
      let end = i
      let chars = 0
      while (end < frames.length && chars + frames[end].length <= limit) chars += frames[end++].length
      const bytes = end > i ? textFrames(frames.slice(i, end)) : null
      if (bytes && connection.queuedBytes() + bytes.length <= config.maxBufferedBytes / 2) {
        connection.send(bytes)
        if (ctx.socket.readyState !== ctx.socket.OPEN) return false
        i = end
        continue
      }
    }
    const user = others[i].id
    const frame = frames[i++]
    if (namedSince(user)) continue
    if (!await connection.writePaced(frame)) return false
  }
  return true
}

/** Presence is best effort: with Redis away the socket still chats, and says so in the log. */
export async function announce (ctx: Socket, type: 'user_joined' | 'user_left', profile: Profile | undefined): Promise<void> {
  const { presence, chat } = ctx.deps
  const { roomId, userId } = ctx.request
  try {
    const changed = type === 'user_joined' ? await presence.enter(roomId, userId) : await presence.leave(roomId, userId)
    if (!changed) return
    const onlineCount = (await presence.online(roomId)).length
    await publishPresence(chat.broker, { type, roomId, userId, profile, onlineCount, connectionId: ctx.connection.id })
  } catch (err) {
    ctx.log.warn({ err }, `presence update failed (${type})`)
  }
}

export type Member = { id: string, profile: Profile | undefined }

/** Who was online at the read, and what the room has heard since (end the watch once the snapshot is out). */
export interface Online {
  members: Member[]
  watch: PresenceWatch
}

/** Who is online in the room (this socket's user included), with their profiles. */
export async function onlineNow (ctx: Socket): Promise<Online> {
  const { presence, registry, chat: { store } } = ctx.deps
  const { roomId, userId } = ctx.request
  // Presence frames reach this socket from the read on: what came before, the read has.
  const watch = registry.presenceRead(ctx.connection)
  try {
    const online = await presence.online(roomId).catch(() => registry.onlineUsers(roomId))
    if (!online.includes(userId)) online.push(userId)
    const profiles = await store.getProfiles(roomId, online)
    return { members: online.map((id, i) => ({ id, profile: profiles[i] })), watch }
  } catch (err) {
    watch.end()
    throw err
  }
}

/**
 * The read's members as the room stands now. A frame heard since the read names a user
 * the read may or may not have counted (a join read before its frame came, a leave
 * after the read): `still` drops those who left; `unannounced` also drops those who
 * joined, since their own frame reaches the socket live (or has); `since` is who joined
 * after the read and is online still, as their frames named them. Without the changes
 * (too many, or not understood) the read stands as it was.
 */
export function settle (members: Member[], changes: PresenceChange[] | undefined, self: string): { still: Member[], unannounced: Member[], since: PresenceMember[] } {
  if (changes === undefined || changes.length === 0) return { still: members, unannounced: members, since: [] }
  const last = new Map<string, PresenceChange>()
  for (const change of changes) {
    // A user's last frame decides; re-inserted, so users keep the order of their last frames.
    last.delete(change.userId)
    last.set(change.userId, change)
  }
  const read = new Set(members.map((m) => m.id))
  const since: PresenceMember[] = []
  for (const change of last.values()) if (change.joined && !read.has(change.userId)) since.push(change.member)
  return {
    // This socket's own user is online whatever another tab of theirs did.
    still: members.filter((m) => m.id === self || last.get(m.id)?.joined !== false),
    unannounced: members.filter((m) => !last.has(m.id)),
    since
  }
}

export async function roomState (ctx: Socket, online: Online) {
  // Who joined after the read is in it too: a client that takes room_state as the whole
  // list, after their live user_joined, would drop them otherwise.
  const { still, since } = settle(online.members, online.watch.changes(), ctx.request.userId)
  const members = [...still.map(({ id, profile }) => presenceMember(id, profile)), ...since]
  return {
    type: 'room_state',
    room_id: ctx.request.roomId,
    online: members,
    users: members.map((m) => ({ user_id: m.user_id, username: m.username, avatar_url: m.avatar_url })),
    online_count: members.length,
    last_seq: await ctx.deps.chat.store.lastSeq(ctx.request.roomId)
  }
}
