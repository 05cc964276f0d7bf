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

  const $ = (id) => document.getElementById(id)
  const el = {
    status: $('status'),
    retryNow: $('retry-now'),
    identity: $('identity'),
    joinForm: $('join-form'),
    name: $('name'),
    avatar: $('avatar'),
    presets: $('presets'),
    room: $('room'),
    userId: $('user-id'),
    token: $('token'),
    joinError: $('join-error'),
    join: $('join'),
    chat: $('chat'),
    roomName: $('room-name'),
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

  function avatarNode (url, name) {
    const box = make('span', 'avatar')
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

  async function api (method, path, body) {
    const headers = {}
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (state.token) headers.authorization = 'Bearer ' + state.token
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    let data = null
    try {
      data = await res.json()
    } catch {}
    if (!res.ok) throw new Error((data && typeof data.message === 'string' && data.message) || `${res.status} ${res.statusText}`)
    return data
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
        state.online = new Map()
        for (const member of Array.isArray(frame.online) ? frame.online : []) setOnline(member)
        renderOnline()
        break
      case 'user_joined':
        setOnline(frame)
        renderOnline()
        break
      case 'user_left':
        state.online.delete(frame.user_id)
        removeTyper(frame.user_id)
        renderOnline()
        break
      case 'recovery':
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

  async function join (event) {
    event.preventDefault()
    const username = el.name.value.trim()
    const avatarText = el.avatar.value.trim()
    const roomId = el.room.value.trim()
    const userId = el.userId.value.trim() || randomId('demo-')
    const error = (text) => {
      el.joinError.textContent = text
      el.joinError.hidden = false
    }
    if (username === '') return error('Pick a name.')
    if (avatarText !== '' && httpUrl(avatarText) === null) return error('The avatar must be an http:// or https:// URL.')
    if (!validId(roomId)) return error('A room name is 1–128 characters, without "/".')
    if (!validId(userId)) return error('A user id is 1–128 characters, without "/".')
    el.joinError.hidden = true

    const fields = { roomId, userId, username, avatarUrl: httpUrl(avatarText), token: el.token.value.trim() }
    state = newState(fields)
    el.join.disabled = true
    try {
      await api('POST', `${roomPath()}/join`, { user_id: userId, username, avatar_url: fields.avatarUrl })
      const history = await api('GET', `${roomPath()}/messages?limit=${HISTORY_PAGE}`)
      sessionStorage.setItem('parley-demo:user-id', userId)
      localStorage.setItem('parley-demo:profile', JSON.stringify({ username, avatar: avatarText, room: roomId }))
      showChat()
      for (const message of history) addMessage(message)
      el.older.hidden = history.length < HISTORY_PAGE
      scrollToBottom()
      // since= covers whatever was posted between the history read and the socket.
      connect()
      el.text.focus()
    } catch (err) {
      error('Could not join: ' + err.message)
    } finally {
      el.join.disabled = false
    }
  }

  function showChat () {
    el.joinForm.hidden = true
    el.chat.hidden = false
    el.roomName.textContent = '# ' + state.roomId
    el.identity.textContent = `You are ${state.username} (${state.userId})`
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
    dropSocket()
    state.connection = 'idle'
    el.status.dataset.state = 'idle'
    el.status.textContent = 'Not connected'
    el.retryNow.hidden = true
    el.chat.hidden = true
    el.identity.hidden = true
    el.joinForm.hidden = false
    delete document.body.dataset.userId
    delete document.body.dataset.connection
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
    el.userId.value = sessionStorage.getItem('parley-demo:user-id') || ''
    markPreset()
  }

  el.presets.addEventListener('click', (event) => {
    const button = event.target.closest('button')
    if (button) choosePreset(button)
  })
  el.avatar.addEventListener('input', markPreset)
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
  prefill()
})()
