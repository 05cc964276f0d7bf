// Parley demo client: plain DOM, no build step. Every piece of user content goes
// through textContent or a checked URL, never through innerHTML.
'use strict'

;(function () {
  const HISTORY_PAGE = 100
  const MAX_RENDERED = 2000
  const BACKOFF_BASE_MS = 1000
  const BACKOFF_MAX_MS = 30000
  const TYPING_REPEAT_MS = 1500 // the server relays one typing_start per 2 s; the rest keep it alive
  const TYPING_IDLE_MS = 4000 // below the server's 6 s timeout
  const TYPER_EXPIRY_MS = 8000 // a typing_stop that never comes must not leave the indicator on
  const SEND_TIMEOUT_MS = 10000
  const KEEP_ALIVE_MS = 20000
  const KEEP_ALIVE_ANSWER_MS = 10000
  const LIVE_FALLBACK_MS = 5000 // a server that sends no recovery frame
  const ROOMS_POLL_MS = 15000 // the room list's viewer counts, while it shows
  const THUMB_MAX_PX = 400
  const THUMB_MAX_BYTES = 256 * 1024 // the server's default THUMBNAIL_MAX_BYTES, decoded
  const CATEGORIES = ['Gaming', 'Study', 'Social', 'Work', 'Music', 'Art', 'Tech', 'Sports', 'Other']
  const SESSION_KEY = 'parley-demo:session'
  const GUEST_ID_KEY = 'parley-demo:user-id'

  const $ = (id) => document.getElementById(id)
  const el = {
    status: $('status'),
    retryNow: $('retry-now'),
    identity: $('identity'),
    lobby: $('lobby'),
    accountIn: $('account-in'),
    accountOut: $('account-out'),
    accountName: $('account-name'),
    accountLogin: $('account-login'),
    accountEmail: $('account-email'),
    accountIds: $('account-ids'),
    logout: $('logout'),
    tabLogin: $('tab-login'),
    tabSignup: $('tab-signup'),
    loginForm: $('login-form'),
    loginUsername: $('login-username'),
    loginPassword: $('login-password'),
    loginError: $('login-error'),
    login: $('login'),
    signupForm: $('signup-form'),
    signupUsername: $('signup-username'),
    signupEmail: $('signup-email'),
    signupPassword: $('signup-password'),
    signupError: $('signup-error'),
    signup: $('signup'),
    roomCategory: $('room-category'),
    roomsRefresh: $('rooms-refresh'),
    roomsError: $('rooms-error'),
    roomsEmpty: $('rooms-empty'),
    roomList: $('room-list'),
    createForm: $('create-form'),
    createName: $('create-name'),
    createCategory: $('create-category'),
    createDescription: $('create-description'),
    createPrivacy: $('create-privacy'),
    createPasswordLabel: $('create-password-label'),
    createPassword: $('create-password'),
    createImage: $('create-image'),
    createPreview: $('create-preview'),
    createCanvas: $('create-canvas'),
    createImageInfo: $('create-image-info'),
    createImageClear: $('create-image-clear'),
    createError: $('create-error'),
    createDone: $('create-done'),
    create: $('create'),
    joinForm: $('join-form'),
    name: $('name'),
    avatar: $('avatar'),
    presets: $('presets'),
    room: $('room'),
    roomPasswordLabel: $('room-password-label'),
    roomPassword: $('room-password'),
    userId: $('user-id'),
    token: $('token'),
    joinError: $('join-error'),
    join: $('join'),
    chat: $('chat'),
    roomName: $('room-name'),
    roomMeta: $('room-meta'),
    leave: $('leave'),
    scroller: $('scroller'),
    older: $('older'),
    messages: $('messages'),
    outbox: $('outbox'),
    notice: $('notice'),
    typing: $('typing'),
    composer: $('composer'),
    text: $('text'),
    online: $('online'),
    onlineCount: $('online-count')
  }

  let state = null
  // The logged-in account, {token, user}, or null: kept in localStorage.
  let session = null
  // The last room list, by id: its names, privacy and thumbnails.
  const rooms = new Map()
  // Password rooms whose password this tab has given (or set) already.
  const verified = new Set()
  // Bumped whenever a socket is dropped: late events of an old socket (or of a room
  // already left) compare unequal and are ignored.
  let generation = 0

  // ---- small helpers ---------------------------------------------------------

  function randomId (prefix) {
    // crypto.randomUUID needs a secure context; getRandomValues does not.
    const bytes = crypto.getRandomValues(new Uint8Array(12))
    return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
  }

  function httpUrl (value) {
    if (typeof value !== 'string' || value === '') return null
    try {
      const url = new URL(value)
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null
    } catch {
      return null
    }
  }

  // The server's id rule: 1–128 characters, no "/", no control characters.
  function validId (value) {
    return value.length >= 1 && value.length <= 128 && !/[/\u0000-\u001f\u007f]/.test(value)
  }

  function make (tag, className, text) {
    const node = document.createElement(tag)
    if (className) node.className = className
    if (text !== undefined) node.textContent = text
    return node
  }

  function colorFor (text) {
    let hash = 0
    for (const ch of text) hash = (hash * 31 + ch.codePointAt(0)) >>> 0
    return `hsl(${hash % 360} 45% 50%)`
  }

  /** An image from a checked http(s) URL in a round or square box; the name's initial on a colour without one. */
  function avatarNode (url, name, className = 'avatar') {
    const box = make('span', className)
    const initials = () => {
      box.replaceChildren()
      box.textContent = (Array.from(name.trim())[0] || '?').toUpperCase()
      box.style.background = colorFor(name)
    }
    const src = httpUrl(url)
    if (src === null) {
      initials()
    } else {
      const img = document.createElement('img')
      img.alt = ''
      img.referrerPolicy = 'no-referrer'
      img.addEventListener('error', initials, { once: true })
      img.src = src
      box.append(img)
    }
    return box
  }

  function formatTime (iso) {
    const date = new Date(iso)
    return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
  }

  function roomPath () {
    return '/rooms/' + encodeURIComponent(state.roomId)
  }

  /** A JSON request; a failure throws an Error with the response's message and its status. */
  async function request (method, path, body, token) {
    const headers = {}
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (token) headers.authorization = 'Bearer ' + token
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    let data = null
    try {
      data = await res.json()
    } catch {}
    if (!res.ok) {
      const err = new Error((data && typeof data.message === 'string' && data.message) || `${res.status} ${res.statusText}`)
      err.status = res.status
      throw err
    }
    return data
  }

  /** A request of the room this page is in, with its token. */
  function api (method, path, body) {
    return request(method, path, body, state.token)
  }

  /** The token for requests made outside a room: the account's, else the Advanced field's. */
  function lobbyToken () {
    return session ? session.token : el.token.value.trim()
  }

  function showError (node, text) {
    node.textContent = text
    node.hidden = text === ''
  }

  let noticeTimer = 0
  function notice (text, ms = 6000) {
    clearTimeout(noticeTimer)
    el.notice.textContent = text
    el.notice.hidden = text === ''
    if (text !== '' && ms > 0) noticeTimer = setTimeout(() => notice(''), ms)
  }

  // ---- connection state ------------------------------------------------------

  function setConnection (name, detail) {
    state.connection = name
    el.status.dataset.state = name
    el.retryNow.hidden = name !== 'reconnecting' || state.retryTimer === 0
    el.status.textContent = {
      connecting: 'Connecting…',
      live: 'Live',
      reconnecting: 'Reconnecting',
      stopped: 'Disconnected'
    }[name] + (detail ? ' ' + detail : '')
    el.online.classList.toggle('stale', name !== 'live')
    document.body.dataset.connection = name
  }

  function connect () {
    clearTimeout(state.retryTimer)
    clearInterval(state.countdown)
    state.retryTimer = 0
    const mine = ++generation
    const since = state.gapCursor ?? state.lastSeq
    const query = new URLSearchParams({ username: state.username, presence: '1', since: String(since) })
    if (state.avatarUrl) query.set('avatar_url', state.avatarUrl)
    if (state.token) query.set('token', state.token)
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:'
    const url = `${scheme}//${location.host}/ws/${encodeURIComponent(state.roomId)}/${encodeURIComponent(state.userId)}?${query}`

    setConnection(state.everLive ? 'reconnecting' : 'connecting', state.attempt > 0 ? `(attempt ${state.attempt + 1})…` : '')
    let socket
    try {
      socket = new WebSocket(url)
    } catch (err) {
      notice('Cannot open a WebSocket: ' + err.message, 0)
      scheduleReconnect(1006, '')
      return
    }
    state.socket = socket
    // Who is online is told afresh on every socket: the first presence frame of this
    // one replaces what the last one left.
    state.presenceSeeded = false
    let opened = false
    const current = () => mine === generation

    socket.addEventListener('open', () => {
      if (!current()) return
      opened = true
      state.neverOpened = 0
      state.lastFrameAt = Date.now()
      // Live once the server has replayed what we missed (the recovery frame).
      state.liveFallback = setTimeout(() => current() && goLive(), LIVE_FALLBACK_MS)
    })
    socket.addEventListener('message', (event) => {
      if (!current()) return
      state.lastFrameAt = Date.now()
      let frame
      try {
        frame = JSON.parse(event.data)
      } catch {
        return
      }
      if (frame && typeof frame === 'object') handleFrame(frame)
    })
    socket.addEventListener('close', (event) => {
      if (!current()) return
      if (!opened) state.neverOpened++
      dropSocket()
      if (event.code === 4004) {
        // The server says this URL can never succeed: do not retry.
        setConnection('stopped', `: ${event.reason || 'refused'} (${event.code})`)
        return
      }
      scheduleReconnect(event.code, event.reason)
    })
  }

  /** Forget the current socket: its late events are ignored from now on. */
  function dropSocket () {
    generation++
    clearTimeout(state.liveFallback)
    clearInterval(state.keepAlive)
    clearTimeout(state.keepAliveWait)
    if (state.socket) {
      try {
        state.socket.close(1000)
      } catch {}
    }
    state.socket = null
    clearTypers()
    if (state.typing) state.typing = false
  }

  function scheduleReconnect (code, reason) {
    state.attempt++
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (state.attempt - 1))
    const delay = Math.round(base * (0.8 + Math.random() * 0.4))
    const due = Date.now() + delay
    state.retryTimer = setTimeout(connect, delay)
    const why = code === 1006 ? 'connection lost' : `closed ${code}${reason ? ': ' + reason : ''}`
    const tick = () => {
      const seconds = Math.max(0, Math.ceil((due - Date.now()) / 1000))
      setConnection('reconnecting', `in ${seconds} s (${why})`)
    }
    tick()
    clearInterval(state.countdown)
    state.countdown = setInterval(tick, 250)
    // A browser reports a refused upgrade (403) as 1006, with no reason.
    if (state.neverOpened >= 3) {
      notice(`The server keeps refusing the connection. If it checks origins, add ${location.origin} to CORS_ORIGINS.`, 0)
    }
  }

  function goLive () {
    clearTimeout(state.liveFallback)
    if (state.connection === 'live') return
    if (!state.presenceSeeded) {
      seedOnline()
      renderOnline()
    }
    state.everLive = true
    state.attempt = 0
    if (state.neverOpened === 0 && el.notice.textContent.startsWith('The server keeps')) notice('')
    setConnection('live', '')
    clearInterval(state.keepAlive)
    state.keepAlive = setInterval(keepAlive, KEEP_ALIVE_MS)
    for (const clientId of state.pending.keys()) transmit(clientId)
  }

  // A half-open connection never closes by itself: ask, and give up on silence.
  function keepAlive () {
    const asked = Date.now()
    sendFrame({ type: 'keep_alive' })
    clearTimeout(state.keepAliveWait)
    state.keepAliveWait = setTimeout(() => {
      if (state.lastFrameAt < asked) {
        dropSocket()
        scheduleReconnect(1006, '')
      }
    }, KEEP_ALIVE_ANSWER_MS)
  }

  function sendFrame (frame) {
    const { socket } = state
    if (!socket || socket.readyState !== WebSocket.OPEN || state.connection !== 'live') return false
    socket.send(JSON.stringify(frame))
    return true
  }

  // ---- frames ----------------------------------------------------------------

  function handleFrame (frame) {
    switch (frame.type) {
      case 'message':
        addMessage(frame)
        removeTyper(frame.user_id)
        break
      case 'typing_start':
        if (frame.user_id !== state.userId) setTyper(frame.user_id, frame.username)
        break
      case 'typing_stop':
        removeTyper(frame.user_id)
        break
      case 'room_state':
        // presence=1: everyone online now, this user included.
        seedOnline()
        for (const member of Array.isArray(frame.users) ? frame.users : Array.isArray(frame.online) ? frame.online : []) setOnline(member)
        renderOnline()
        break
      case 'user_joined':
        // snapshot: true is one user already online when this socket connected
        // (one frame each, this user excluded); without it, a live join.
        if (frame.snapshot === true && !state.presenceSeeded) seedOnline()
        setOnline(frame)
        renderOnline()
        break
      case 'user_left':
        // This user's own user_left (another tab of theirs) does not take them out while this socket is open.
        if (frame.user_id === state.userId) break
        state.online.delete(frame.user_id)
        removeTyper(frame.user_id)
        renderOnline()
        break
      case 'recovery':
        // The snapshot comes before the recovery frame: nobody in it means nobody else is online.
        if (!state.presenceSeeded) {
          seedOnline()
          renderOnline()
        }
        if (frame.status === 'gap') {
          catchUp(Number(frame.since), Number(frame.last_seq))
        } else {
          state.gapCursor = null
        }
        goLive()
        break
      case 'error':
        notice(`The server refused a frame: ${frame.message || frame.code}`)
        break
      default:
        // ping, and frame types this page does not know
    }
  }

  /** More was missed than the server replays: read it from history, page by page. */
  async function catchUp (since, lastSeq) {
    const mine = generation
    let cursor = since
    state.gapCursor = cursor
    notice('Catching up on missed messages…', 0)
    try {
      while (cursor < lastSeq) {
        const page = await api('GET', `${roomPath()}/messages?after=${cursor}&limit=${HISTORY_PAGE}`)
        // A reconnect resumes from gapCursor, which covers the rest.
        if (mine !== generation) return
        for (const message of page) addMessage(message)
        if (page.length === 0) break
        cursor = page[page.length - 1].seq
        state.gapCursor = cursor
      }
      state.gapCursor = null
      notice('')
    } catch (err) {
      if (mine !== generation) return
      notice('Could not load missed messages (' + err.message + '); retrying', 0)
      setTimeout(() => mine === generation && catchUp(cursor, lastSeq), 3000)
    }
  }

  // ---- messages --------------------------------------------------------------

  function addMessage (message) {
    if (typeof message.id !== 'string' || typeof message.seq !== 'number') return
    // Our own echo replaces the optimistic copy it carries the client_id of.
    if (message.user_id === state.userId && typeof message.client_id === 'string') {
      const pending = state.pending.get(message.client_id)
      if (pending) {
        clearTimeout(pending.timer)
        pending.node.remove()
        state.pending.delete(message.client_id)
      }
    }
    if (state.messages.has(message.id)) return
    if (message.seq > state.lastSeq) state.lastSeq = message.seq

    const stick = nearBottom() || message.user_id === state.userId
    const node = messageNode(message)
    node.dataset.id = message.id
    node.dataset.seq = String(message.seq)
    state.messages.set(message.id, { seq: message.seq, node })
    // In seq order: history pages, replays and live frames may interleave.
    let after = el.messages.lastElementChild
    while (after && Number(after.dataset.seq) > message.seq) after = after.previousElementSibling
    if (after) after.after(node)
    else el.messages.prepend(node)

    while (state.messages.size > MAX_RENDERED) {
      const first = el.messages.firstElementChild
      state.messages.delete(first.dataset.id)
      first.remove()
      el.older.hidden = false
    }
    if (stick) scrollToBottom()
  }

  function messageNode (message, pending) {
    const name = typeof message.username === 'string' && message.username !== '' ? message.username : 'Anonymous'
    const node = make('li', 'message')
    if (message.user_id === state.userId) node.classList.add('mine')
    node.dataset.userId = message.user_id
    const body = make('div', 'body')
    const meta = make('div', 'meta')
    meta.append(make('span', 'who', name))
    const time = make('span', 'time', pending ? 'sending…' : formatTime(message.timestamp))
    if (!pending) time.title = `${message.timestamp} · #${message.seq}`
    meta.append(time)
    body.append(meta, make('div', 'content', message.content))
    node.append(avatarNode(message.avatar_url ?? message.avatar, name), body)
    return node
  }

  async function loadOlder () {
    const first = el.messages.firstElementChild
    if (!first) return
    el.older.disabled = true
    const height = el.scroller.scrollHeight
    try {
      const page = await api('GET', `${roomPath()}/messages?before=${first.dataset.seq}&limit=${HISTORY_PAGE}`)
      for (const message of page) addMessage(message)
      el.older.hidden = page.length < HISTORY_PAGE
      el.scroller.scrollTop += el.scroller.scrollHeight - height
    } catch (err) {
      notice('Could not load earlier messages: ' + err.message)
    } finally {
      el.older.disabled = false
    }
  }

  function nearBottom () {
    return el.scroller.scrollHeight - el.scroller.scrollTop - el.scroller.clientHeight < 80
  }

  function scrollToBottom () {
    el.scroller.scrollTop = el.scroller.scrollHeight
  }

  // ---- sending ---------------------------------------------------------------

  function send (content) {
    const clientId = randomId('c-')
    const node = messageNode({ user_id: state.userId, username: state.username, avatar_url: state.avatarUrl, content }, true)
    node.classList.add('pending')
    node.dataset.clientId = clientId
    node.dataset.state = 'queued'
    el.outbox.append(node)
    state.pending.set(clientId, { content, node, timer: 0 })
    stopTyping()
    transmit(clientId)
    scrollToBottom()
  }

  // Resending is safe: the server keeps the first message stored under a client_id.
  function transmit (clientId) {
    const pending = state.pending.get(clientId)
    if (!pending) return
    clearTimeout(pending.timer)
    const time = pending.node.querySelector('.time')
    pending.node.querySelector('.actions')?.remove()
    if (!sendFrame({ content: pending.content, client_id: clientId })) {
      pending.node.dataset.state = 'queued'
      time.textContent = 'waiting for the connection…'
      return
    }
    pending.node.dataset.state = 'sending'
    time.textContent = 'sending…'
    pending.timer = setTimeout(() => {
      if (!state.pending.has(clientId)) return
      pending.node.dataset.state = 'failed'
      time.textContent = 'not delivered'
      const actions = make('div', 'actions')
      const retry = make('button', 'link', 'Retry')
      retry.type = 'button'
      retry.addEventListener('click', () => transmit(clientId))
      const discard = make('button', 'link', 'Discard')
      discard.type = 'button'
      discard.addEventListener('click', () => {
        pending.node.remove()
        state.pending.delete(clientId)
      })
      actions.append(retry, discard)
      pending.node.querySelector('.body').append(actions)
    }, SEND_TIMEOUT_MS)
  }

  // ---- typing ----------------------------------------------------------------

  function onInput () {
    clearTimeout(state.typingIdle)
    if (el.text.value.trim() === '') {
      stopTyping()
      return
    }
    const now = Date.now()
    if (!state.typing || now - state.typingSentAt >= TYPING_REPEAT_MS) {
      if (sendFrame({ type: 'typing_start' })) {
        state.typing = true
        state.typingSentAt = now
      }
    }
    state.typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS)
  }

  function stopTyping () {
    clearTimeout(state.typingIdle)
    if (!state.typing) return
    state.typing = false
    sendFrame({ type: 'typing_stop' })
  }

  function setTyper (userId, username) {
    if (typeof userId !== 'string') return
    const existing = state.typers.get(userId)
    if (existing) clearTimeout(existing.timer)
    const timer = setTimeout(() => removeTyper(userId), TYPER_EXPIRY_MS)
    state.typers.set(userId, { username: typeof username === 'string' && username ? username : 'Someone', timer })
    renderTyping()
  }

  function removeTyper (userId) {
    const typer = state.typers.get(userId)
    if (!typer) return
    clearTimeout(typer.timer)
    state.typers.delete(userId)
    renderTyping()
  }

  function clearTypers () {
    for (const typer of state.typers.values()) clearTimeout(typer.timer)
    state.typers.clear()
    renderTyping()
  }

  function renderTyping () {
    const names = Array.from(state.typers.values(), (t) => t.username)
    el.typing.textContent = names.length === 0
      ? ''
      : names.length === 1
        ? `${names[0]} is typing…`
        : names.length === 2
          ? `${names[0]} and ${names[1]} are typing…`
          : `${names.length} people are typing…`
  }

  // ---- presence --------------------------------------------------------------

  /** Starts this socket's online list over, with this user in it. */
  function seedOnline () {
    state.presenceSeeded = true
    state.online = new Map()
    setOnline({ user_id: state.userId, username: state.username, avatar_url: state.avatarUrl })
  }

  function setOnline (member) {
    if (!member || typeof member.user_id !== 'string') return
    state.online.set(member.user_id, {
      username: typeof member.username === 'string' && member.username ? member.username : 'Anonymous',
      avatar: member.avatar_url ?? member.avatar ?? null
    })
  }

  function renderOnline () {
    const entries = Array.from(state.online.entries())
      .sort((a, b) => (a[0] === state.userId ? -1 : b[0] === state.userId ? 1 : a[1].username.localeCompare(b[1].username)))
    el.online.replaceChildren(...entries.map(([userId, member]) => {
      const item = make('li')
      item.dataset.userId = userId
      item.append(avatarNode(member.avatar, member.username), make('span', 'name', member.username))
      if (userId === state.userId) item.append(make('span', 'you', '(you)'))
      return item
    }))
    el.onlineCount.textContent = String(entries.length)
  }

  // ---- join and leave --------------------------------------------------------

  function newState (fields) {
    return {
      ...fields,
      socket: null,
      connection: 'idle',
      everLive: false,
      attempt: 0,
      neverOpened: 0,
      retryTimer: 0,
      countdown: 0,
      liveFallback: 0,
      keepAlive: 0,
      keepAliveWait: 0,
      lastFrameAt: 0,
      lastSeq: 0,
      gapCursor: null,
      messages: new Map(),
      pending: new Map(),
      online: new Map(),
      typers: new Map(),
      typing: false,
      typingSentAt: 0,
      typingIdle: 0
    }
  }

  class NeedsPassword extends Error {}
  let joining = false

  /** True while the lobby (account, room list, forms) shows, not a room. */
  function inLobby () {
    return !el.lobby.hidden
  }

  /**
   * Joins `roomId` as the person the join form describes (the account's id and token
   * when logged in). A password room known from the list needs its password first,
   * checked with POST /rooms/{id}/verify-password. Throws an Error to show.
   */
  async function joinRoom (roomId, password) {
    const username = el.name.value.trim()
    const avatarText = el.avatar.value.trim()
    const userId = session ? session.user.id : el.userId.value.trim() || randomId('demo-')
    if (username === '') throw new Error('Pick a name.')
    if (avatarText !== '' && httpUrl(avatarText) === null) throw new Error('The avatar must be an http:// or https:// URL.')
    if (!validId(roomId)) throw new Error('A room name is 1–128 characters, without "/".')
    if (!validId(userId)) throw new Error('A user id is 1–128 characters, without "/".')
    if (joining) return
    joining = true

    try {
      await enter(roomId, password, { userId, username, avatarText })
    } finally {
      joining = false
    }
  }

  async function enter (roomId, password, { userId, username, avatarText }) {
    const room = rooms.get(roomId)
    if (room && room.privacy === 'password' && !verified.has(roomId)) {
      if (!password) throw new NeedsPassword('This room needs a password.')
      try {
        await request('POST', `/rooms/${encodeURIComponent(roomId)}/verify-password`, { password })
      } catch (err) {
        // 403 is a wrong password (429: too many of them; the message says so).
        throw new NeedsPassword(err.status === 403 ? 'incorrect password' : err.message)
      }
      verified.add(roomId)
    }

    const fields = {
      roomId,
      roomName: room ? room.name : roomId,
      room: room || null,
      userId,
      username,
      avatarUrl: httpUrl(avatarText),
      token: lobbyToken()
    }
    state = newState(fields)
    try {
      await api('POST', `${roomPath()}/join`, { user_id: userId, username, avatar_url: fields.avatarUrl })
      const history = await api('GET', `${roomPath()}/messages?limit=${HISTORY_PAGE}`)
      if (!session) sessionStorage.setItem(GUEST_ID_KEY, userId)
      localStorage.setItem('parley-demo:profile', JSON.stringify({ username, avatar: avatarText, room: roomId }))
      el.room.value = roomId
      showChat()
      for (const message of history) addMessage(message)
      el.older.hidden = history.length < HISTORY_PAGE
      scrollToBottom()
      // since= covers whatever was posted between the history read and the socket.
      connect()
      el.text.focus()
    } catch (err) {
      throw new Error('Could not join: ' + err.message)
    }
  }

  async function join (event) {
    event.preventDefault()
    const roomId = el.room.value.trim()
    showError(el.joinError, '')
    el.join.disabled = true
    try {
      await joinRoom(roomId, el.roomPassword.value)
      el.roomPassword.value = ''
      el.roomPasswordLabel.hidden = true
    } catch (err) {
      if (err instanceof NeedsPassword) {
        el.roomPasswordLabel.hidden = false
        el.roomPassword.focus()
      }
      showError(el.joinError, err.message)
    } finally {
      el.join.disabled = false
    }
  }

  function showChat () {
    el.lobby.hidden = true
    el.chat.hidden = false
    el.roomName.textContent = '# ' + state.roomName
    el.roomMeta.textContent = state.room ? roomDetails(state.room) : ''
    el.identity.textContent = `You are ${state.username} (${session ? '@' + session.user.username + ', ' : ''}${state.userId})`
    el.identity.hidden = false
    document.body.dataset.userId = state.userId
    el.messages.replaceChildren()
    el.outbox.replaceChildren()
    el.online.replaceChildren()
    el.onlineCount.textContent = '0'
    el.typing.textContent = ''
    notice('')
  }

  function leave () {
    if (!state) return
    stopTyping()
    clearTimeout(state.retryTimer)
    clearInterval(state.countdown)
    for (const pending of state.pending.values()) clearTimeout(pending.timer)
    const socket = state.socket
    dropSocket()
    state.connection = 'idle'
    el.status.dataset.state = 'idle'
    el.status.textContent = 'Not connected'
    el.retryNow.hidden = true
    el.chat.hidden = true
    el.identity.hidden = true
    el.lobby.hidden = false
    delete document.body.dataset.userId
    delete document.body.dataset.connection
    loadRooms()
    // The list counts this user in the room until the server has seen the socket close.
    if (socket && socket.readyState !== WebSocket.CLOSED) {
      socket.addEventListener('close', () => setTimeout(() => inLobby() && askingFor === null && loadRooms(), 300), { once: true })
    }
  }

  // ---- account ---------------------------------------------------------------

  function accountName (user) {
    return user.display_name || user.username || user.id
  }

  function setSession (value, { fillProfile }) {
    session = value
    if (value) localStorage.setItem(SESSION_KEY, JSON.stringify(value))
    else localStorage.removeItem(SESSION_KEY)
    renderAccount()
    if (value && fillProfile) {
      el.name.value = accountName(value.user)
      if (httpUrl(value.user.avatar_url)) {
        el.avatar.value = value.user.avatar_url
        markPreset()
      }
    }
  }

  function renderAccount () {
    const user = session && session.user
    el.accountIn.hidden = !user
    el.accountOut.hidden = Boolean(user)
    el.accountIds.hidden = !user
    // Logged in, the account's id is the chat user id and its token the chat token.
    el.userId.readOnly = Boolean(user)
    el.token.disabled = Boolean(user)
    if (user) {
      el.accountName.textContent = accountName(user)
      el.accountLogin.textContent = user.username && user.username !== accountName(user) ? '@' + user.username : ''
      el.accountEmail.textContent = user.email || ''
      el.userId.value = user.id
      el.token.value = ''
    } else {
      el.userId.value = sessionStorage.getItem(GUEST_ID_KEY) || ''
    }
  }

  function showTab (name) {
    const login = name === 'login'
    el.tabLogin.setAttribute('aria-selected', String(login))
    el.tabSignup.setAttribute('aria-selected', String(!login))
    el.loginForm.hidden = !login
    el.signupForm.hidden = login
    showError(el.loginError, '')
    showError(el.signupError, '')
  }

  async function logIn (event) {
    event.preventDefault()
    const username = el.loginUsername.value.trim()
    const password = el.loginPassword.value
    if (username === '' || password === '') return showError(el.loginError, 'Enter your username (or email) and password.')
    showError(el.loginError, '')
    el.login.disabled = true
    try {
      const { user, token } = await request('POST', '/auth/login', { username, password })
      el.loginPassword.value = ''
      setSession({ token, user }, { fillProfile: true })
    } catch (err) {
      // 403: a wrong name or password; 429: too many tries. The server's message says which.
      showError(el.loginError, err.message)
    } finally {
      el.login.disabled = false
    }
  }

  async function signUp (event) {
    event.preventDefault()
    const username = el.signupUsername.value.trim()
    const email = el.signupEmail.value.trim()
    const password = el.signupPassword.value
    // The server's own checks; its messages for these name the schema, not the field.
    if (!/^[A-Za-z0-9_.-]{3,32}$/.test(username)) return showError(el.signupError, 'A username is 3–32 letters, digits, _ . or -.')
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) return showError(el.signupError, 'Enter an email like name@example.com.')
    if (password.length < 8) return showError(el.signupError, 'The password needs at least 8 characters.')
    showError(el.signupError, '')
    el.signup.disabled = true
    try {
      const { user, token } = await request('POST', '/auth/signup', { username, email, password })
      el.signupPassword.value = ''
      setSession({ token, user }, { fillProfile: true })
    } catch (err) {
      showError(el.signupError, err.message)
    } finally {
      el.signup.disabled = false
    }
  }

  async function logOut () {
    const token = session && session.token
    setSession(null, { fillProfile: false })
    showTab('login')
    // Tokens are not kept by the server: forgetting ours is the logout. This never fails.
    try {
      await request('POST', '/auth/logout', undefined, token)
    } catch {}
  }

  /** The stored session, checked with GET /auth/me: a 401 means it expired. */
  async function restoreSession () {
    let saved = null
    try {
      saved = JSON.parse(localStorage.getItem(SESSION_KEY) || 'null')
    } catch {}
    if (!saved || typeof saved.token !== 'string' || !saved.user || typeof saved.user.id !== 'string') {
      renderAccount()
      return
    }
    setSession(saved, { fillProfile: el.name.value.trim() === '' })
    try {
      const user = await request('GET', '/auth/me', undefined, saved.token)
      if (session && session.token === saved.token) setSession({ token: saved.token, user }, { fillProfile: false })
    } catch (err) {
      if (err.status === 401 && session && session.token === saved.token) {
        setSession(null, { fillProfile: false })
        showError(el.loginError, 'Your session has ended; log in again.')
      }
      // Anything else (offline, a restart): keep the stored account.
    }
  }

  // ---- room list -------------------------------------------------------------

  let roomsRequest = 0
  let roomsTimer = 0
  let highlight = null
  // The password room whose password form is open in the list (a refresh keeps it open).
  let askingFor = null

  function roomDetails (room) {
    const parts = []
    if (room.category) parts.push(room.category)
    if (room.privacy === 'password') parts.push('password')
    else if (room.privacy === 'private') parts.push('private')
    return parts.join(' · ')
  }

  async function loadRooms () {
    clearTimeout(roomsTimer)
    roomsTimer = setTimeout(pollRooms, ROOMS_POLL_MS)
    const mine = ++roomsRequest
    const category = el.roomCategory.value
    try {
      const list = await request('GET', '/rooms' + (category ? '?category=' + encodeURIComponent(category) : ''))
      if (mine !== roomsRequest) return
      showError(el.roomsError, '')
      renderRooms(Array.isArray(list) ? list : [])
    } catch (err) {
      if (mine !== roomsRequest) return
      showError(el.roomsError, 'Could not load the rooms: ' + err.message)
    }
  }

  function pollRooms () {
    // Only while the list shows, and not under a half-typed password.
    if (!inLobby() || document.hidden || askingFor !== null) {
      roomsTimer = setTimeout(pollRooms, ROOMS_POLL_MS)
      return
    }
    loadRooms()
  }

  function renderRooms (list) {
    for (const room of list) if (room && typeof room.id === 'string') rooms.set(room.id, room)
    const items = list.filter((room) => room && typeof room.id === 'string').map(roomItem)
    el.roomList.replaceChildren(...items)
    el.roomsEmpty.hidden = items.length > 0
  }

  function roomItem (room) {
    const name = typeof room.name === 'string' && room.name ? room.name : room.id
    const item = make('li', 'room-item')
    item.dataset.roomId = room.id
    item.dataset.privacy = room.privacy
    if (room.id === highlight) item.classList.add('new')

    const open = make('button', 'room-open')
    open.type = 'button'
    const text = make('span', 'room-text')
    const title = make('span', 'room-title')
    title.append(make('span', 'room-name', name))
    if (room.privacy === 'password') {
      const lock = document.createElement('img')
      lock.className = 'lock'
      lock.src = '/demo/icons/lock.svg'
      lock.alt = 'password'
      lock.title = 'Password room'
      title.append(lock)
    }
    text.append(title)
    const details = roomDetails(room)
    if (details) text.append(make('span', 'room-category', details))
    if (room.description) text.append(make('span', 'room-description', room.description))
    const count = Number.isInteger(room.onlineCount) ? room.onlineCount : 0
    const viewers = make('span', 'viewers', `${count} online`)
    viewers.dataset.count = String(count)
    viewers.title = 'in the room now'
    open.append(avatarNode(room.thumbnail_url, name, 'thumb'), text, viewers)
    open.addEventListener('click', () => pickRoom(room.id))
    item.append(open)

    if (askingFor === room.id) item.append(passwordForm(room))
    return item
  }

  function passwordForm (room) {
    const form = make('form', 'room-password')
    form.noValidate = true
    const input = document.createElement('input')
    input.type = 'password'
    input.maxLength = 128
    input.placeholder = 'Room password'
    input.setAttribute('aria-label', 'Password for ' + (room.name || room.id))
    input.autocomplete = 'off'
    const submit = make('button', 'primary', 'Enter')
    submit.type = 'submit'
    const error = make('p', 'error')
    error.setAttribute('role', 'alert')
    error.hidden = true
    form.append(input, submit, error)
    form.addEventListener('submit', async (event) => {
      event.preventDefault()
      if (input.value === '') return showError(error, 'Enter the password.')
      submit.disabled = true
      try {
        await joinRoom(room.id, input.value)
        askingFor = null
      } catch (err) {
        showError(error, err.message)
        input.select()
      } finally {
        submit.disabled = false
      }
    })
    setTimeout(() => input.focus(), 0)
    return form
  }

  async function pickRoom (roomId) {
    const room = rooms.get(roomId)
    el.room.value = roomId
    showError(el.joinError, '')
    if (room && room.privacy === 'password' && !verified.has(roomId)) {
      askingFor = askingFor === roomId ? null : roomId
      for (const item of el.roomList.children) {
        item.querySelector('.room-password')?.remove()
        if (item.dataset.roomId === askingFor) item.append(passwordForm(room))
      }
      return
    }
    askingFor = null
    try {
      await joinRoom(roomId)
    } catch (err) {
      // The name (or avatar) is what is missing: say so next to it.
      showError(el.joinError, err.message)
      if (el.name.value.trim() === '') el.name.focus()
      el.joinForm.scrollIntoView({ block: 'nearest' })
    }
  }

  // ---- create a room ---------------------------------------------------------

  let thumbnail = null // the downscaled image, a data:image/jpeg URL

  function base64Bytes (dataUrl) {
    const base64 = dataUrl.slice(dataUrl.indexOf(',') + 1)
    return Math.floor(base64.length * 3 / 4) - (base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0)
  }

  /**
   * The chosen image, at most THUMB_MAX_PX a side, as a JPEG data URL. createImageBitmap
   * decodes the file without an <img>: the page's CSP has no data: or blob: images, and
   * the canvas itself is the preview.
   */
  async function downscale (file) {
    const bitmap = await createImageBitmap(file)
    const scale = Math.min(1, THUMB_MAX_PX / Math.max(bitmap.width, bitmap.height))
    const width = Math.max(1, Math.round(bitmap.width * scale))
    const height = Math.max(1, Math.round(bitmap.height * scale))
    const canvas = el.createCanvas
    canvas.width = width
    canvas.height = height
    const context = canvas.getContext('2d')
    // JPEG has no transparency: a transparent PNG goes on white, not black.
    context.fillStyle = '#fff'
    context.fillRect(0, 0, width, height)
    context.drawImage(bitmap, 0, 0, width, height)
    if (bitmap.close) bitmap.close()
    let quality = 0.85
    let url = canvas.toDataURL('image/jpeg', quality)
    while (base64Bytes(url) > THUMB_MAX_BYTES && quality > 0.3) {
      quality -= 0.15
      url = canvas.toDataURL('image/jpeg', quality)
    }
    if (!url.startsWith('data:image/jpeg;base64,')) throw new Error('this browser cannot make a JPEG')
    return { url, width, height, bytes: base64Bytes(url) }
  }

  async function chooseImage () {
    const file = el.createImage.files && el.createImage.files[0]
    thumbnail = null
    el.createPreview.hidden = true
    showError(el.createError, '')
    if (!file) return
    try {
      const image = await downscale(file)
      if (el.createImage.files[0] !== file) return // another file was picked meanwhile
      thumbnail = image.url
      el.createImageInfo.textContent = `${image.width}×${image.height}, ${Math.ceil(image.bytes / 1024)} KB`
      el.createPreview.hidden = false
    } catch (err) {
      el.createImage.value = ''
      showError(el.createError, 'That file is not an image this browser can read' + (err && err.message ? ` (${err.message})` : '') + '.')
    }
  }

  function clearImage () {
    el.createImage.value = ''
    thumbnail = null
    el.createPreview.hidden = true
  }

  function showPrivacy () {
    el.createPasswordLabel.hidden = el.createPrivacy.value !== 'password'
  }

  async function createRoom (event) {
    event.preventDefault()
    const name = el.createName.value.trim()
    const privacy = el.createPrivacy.value
    const password = el.createPassword.value
    showError(el.createDone, '')
    if (name === '') return showError(el.createError, 'Give the room a name.')
    if (privacy === 'password' && password.length < 4) return showError(el.createError, 'A room password needs at least 4 characters.')
    showError(el.createError, '')
    const body = { name, privacy }
    if (el.createCategory.value) body.category = el.createCategory.value
    const description = el.createDescription.value.trim()
    if (description) body.description = description
    if (privacy === 'password') body.password = password
    if (thumbnail) body.thumbnail_url = thumbnail
    if (session) {
      const host = { id: session.user.id, username: accountName(session.user).slice(0, 64) }
      if (httpUrl(session.user.avatar_url)) host.avatar_url = session.user.avatar_url
      body.host = host
      body.created_by = session.user.id
    }
    el.create.disabled = true
    try {
      const room = await request('POST', '/rooms', body, lobbyToken())
      // Whoever set the password knows it.
      if (privacy === 'password') verified.add(room.id)
      rooms.set(room.id, room)
      highlight = room.id
      el.createForm.reset()
      clearImage()
      showPrivacy()
      showError(el.createDone, `Created “${room.name}”: pick it in the list to join.`)
      if (el.roomCategory.value && el.roomCategory.value !== room.category) el.roomCategory.value = ''
      await loadRooms()
    } catch (err) {
      showError(el.createError, 'Could not create the room: ' + err.message)
    } finally {
      el.create.disabled = false
    }
  }

  // ---- wiring ----------------------------------------------------------------

  function choosePreset (button) {
    const path = button.dataset.avatar
    el.avatar.value = path ? new URL(path, location.href).href : ''
    markPreset()
  }

  function markPreset () {
    for (const button of el.presets.querySelectorAll('button')) {
      const path = button.dataset.avatar
      const href = path ? new URL(path, location.href).href : ''
      button.setAttribute('aria-pressed', String(href === el.avatar.value.trim()))
    }
  }

  function prefill () {
    const params = new URLSearchParams(location.search)
    let saved = {}
    try {
      saved = JSON.parse(localStorage.getItem('parley-demo:profile') || '{}') || {}
    } catch {}
    el.name.value = params.get('name') || saved.username || ''
    el.room.value = params.get('room') || saved.room || 'lobby'
    el.avatar.value = typeof saved.avatar === 'string' ? saved.avatar : new URL(el.presets.querySelector('button').dataset.avatar, location.href).href
    el.userId.value = sessionStorage.getItem(GUEST_ID_KEY) || ''
    markPreset()
    for (const select of [el.roomCategory, el.createCategory]) {
      for (const category of CATEGORIES) select.append(new Option(category, category))
    }
  }

  el.presets.addEventListener('click', (event) => {
    const button = event.target.closest('button')
    if (button) choosePreset(button)
  })
  el.avatar.addEventListener('input', markPreset)
  el.room.addEventListener('input', () => {
    const room = rooms.get(el.room.value.trim())
    el.roomPasswordLabel.hidden = !(room && room.privacy === 'password' && !verified.has(room.id))
  })
  el.joinForm.addEventListener('submit', join)
  el.leave.addEventListener('click', leave)
  el.older.addEventListener('click', loadOlder)
  el.retryNow.addEventListener('click', () => state && state.connection === 'reconnecting' && connect())
  window.addEventListener('online', () => state && state.connection === 'reconnecting' && state.retryTimer && connect())
  el.text.addEventListener('input', onInput)
  el.text.addEventListener('blur', stopTyping)
  el.composer.addEventListener('submit', (event) => {
    event.preventDefault()
    const content = el.text.value
    if (content.trim() === '' || !state) return
    el.text.value = ''
    send(content)
  })
  el.tabLogin.addEventListener('click', () => showTab('login'))
  el.tabSignup.addEventListener('click', () => showTab('signup'))
  el.loginForm.addEventListener('submit', logIn)
  el.signupForm.addEventListener('submit', signUp)
  el.logout.addEventListener('click', logOut)
  el.roomCategory.addEventListener('change', () => {
    highlight = null
    loadRooms()
  })
  el.roomsRefresh.addEventListener('click', loadRooms)
  el.createPrivacy.addEventListener('change', showPrivacy)
  el.createImage.addEventListener('change', chooseImage)
  el.createImageClear.addEventListener('click', clearImage)
  el.createForm.addEventListener('submit', createRoom)
  document.addEventListener('visibilitychange', () => !document.hidden && inLobby() && askingFor === null && loadRooms())
  prefill()
  restoreSession()
  loadRooms()
})()
