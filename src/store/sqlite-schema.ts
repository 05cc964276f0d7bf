// The SQLite schema and its migrations (PRAGMA user_version).
import type Database from 'better-sqlite3'

// Each entry moves the schema one version up; PRAGMA user_version records where a file
// is. Entries are never edited once released: a change is a new entry.
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE rooms (
     room_id TEXT PRIMARY KEY,
     created_at TEXT NOT NULL,
     last_seq INTEGER NOT NULL DEFAULT 0
   ) WITHOUT ROWID;
   CREATE TABLE profiles (
     room_id TEXT NOT NULL,
     user_id TEXT NOT NULL,
     username TEXT,
     avatar_url TEXT,
     joined_at TEXT NOT NULL,
     PRIMARY KEY (room_id, user_id)
   ) WITHOUT ROWID;
   CREATE TABLE messages (
     room_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     id TEXT NOT NULL UNIQUE,
     user_id TEXT NOT NULL,
     username TEXT NOT NULL,
     content TEXT NOT NULL,
     avatar TEXT,
     created_at TEXT NOT NULL,
     PRIMARY KEY (room_id, seq)
   ) WITHOUT ROWID;`,
  `ALTER TABLE rooms ADD COLUMN name TEXT;
   ALTER TABLE rooms ADD COLUMN thumbnail_url TEXT;
   ALTER TABLE rooms ADD COLUMN last_message_at TEXT;
   ALTER TABLE messages ADD COLUMN client_id TEXT;
   CREATE UNIQUE INDEX messages_client_id ON messages (room_id, user_id, client_id) WHERE client_id IS NOT NULL;`,
  // Version 3: no index on messages.id. New ids carry their seq (ids.ts), so a
  // message is found by id through its (room_id, seq) key, and an append writes one
  // B-tree page fewer per commit. Ids issued before keep their lookup in message_ids.
  // SQLite cannot drop a column constraint: the table is rebuilt (seconds per million
  // messages, once, at the first start of this version).
  `CREATE TABLE message_ids (
     id TEXT PRIMARY KEY,
     room_id TEXT NOT NULL,
     seq INTEGER NOT NULL
   ) WITHOUT ROWID;
   INSERT INTO message_ids (id, room_id, seq) SELECT id, room_id, seq FROM messages;
   CREATE TABLE messages_v3 (
     room_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     id TEXT NOT NULL,
     user_id TEXT NOT NULL,
     username TEXT NOT NULL,
     content TEXT NOT NULL,
     avatar TEXT,
     created_at TEXT NOT NULL,
     client_id TEXT,
     PRIMARY KEY (room_id, seq)
   ) WITHOUT ROWID;
   INSERT INTO messages_v3 (room_id, seq, id, user_id, username, content, avatar, created_at, client_id)
     SELECT room_id, seq, id, user_id, username, content, avatar, created_at, client_id FROM messages;
   DROP TABLE messages;
   ALTER TABLE messages_v3 RENAME TO messages;
   CREATE UNIQUE INDEX messages_client_id ON messages (room_id, user_id, client_id) WHERE client_id IS NOT NULL;`,
  // Version 4: users (guests and accounts, one id space with room profiles), settings
  // (the token signing key), and the room details the newer client lists.
  `CREATE TABLE users (
     user_id TEXT PRIMARY KEY,
     username TEXT,
     display_name TEXT,
     name_key TEXT,
     email TEXT,
     password_hash TEXT,
     avatar_url TEXT,
     avatar_urls TEXT,
     bio TEXT,
     fields TEXT NOT NULL DEFAULT '{}',
     created_at TEXT NOT NULL
   ) WITHOUT ROWID;
   CREATE UNIQUE INDEX users_login ON users (lower(username)) WHERE password_hash IS NOT NULL;
   CREATE UNIQUE INDEX users_email ON users (lower(email)) WHERE email IS NOT NULL;
   CREATE INDEX users_name_key ON users (name_key);
   CREATE INDEX profiles_user ON profiles (user_id, joined_at);
   CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
   ALTER TABLE rooms ADD COLUMN category TEXT;
   ALTER TABLE rooms ADD COLUMN description TEXT;
   ALTER TABLE rooms ADD COLUMN tags TEXT;
   ALTER TABLE rooms ADD COLUMN privacy TEXT NOT NULL DEFAULT 'public';
   ALTER TABLE rooms ADD COLUMN max_members INTEGER;
   ALTER TABLE rooms ADD COLUMN password_hash TEXT;
   ALTER TABLE rooms ADD COLUMN host TEXT;
   ALTER TABLE rooms ADD COLUMN created_by TEXT;
   CREATE INDEX rooms_category ON rooms (category);
   CREATE TABLE room_thumbnails (
     room_id TEXT PRIMARY KEY,
     content_type TEXT NOT NULL,
     data BLOB NOT NULL
   ) WITHOUT ROWID;`,
  // Version 5: direct messages. Ids are UUIDv7 (time-ordered): the id orders a conversation.
  `CREATE TABLE direct_messages (
     id TEXT PRIMARY KEY,
     conversation_id TEXT NOT NULL,
     sender_id TEXT NOT NULL,
     receiver_id TEXT NOT NULL,
     content TEXT NOT NULL,
     sender_username TEXT NOT NULL,
     sender_avatar TEXT,
     created_at TEXT NOT NULL,
     client_id TEXT,
     delivered_at TEXT,
     claim_until INTEGER,
     read_at TEXT
   ) WITHOUT ROWID;
   CREATE INDEX dm_conversation ON direct_messages (conversation_id, id);
   CREATE INDEX dm_sender ON direct_messages (sender_id, id);
   CREATE INDEX dm_receiver ON direct_messages (receiver_id, id);
   CREATE INDEX dm_undelivered ON direct_messages (receiver_id, id) WHERE delivered_at IS NULL;
   CREATE INDEX dm_unread ON direct_messages (receiver_id, conversation_id) WHERE read_at IS NULL;
   CREATE UNIQUE INDEX dm_client_id ON direct_messages (sender_id, client_id) WHERE client_id IS NOT NULL;
   CREATE TABLE dm_hidden (
     user_id TEXT NOT NULL,
     conversation_id TEXT NOT NULL,
     through_id TEXT NOT NULL,
     PRIMARY KEY (user_id, conversation_id)
   ) WITHOUT ROWID;`,
  // Version 6: each message keeps its wire JSON (written in the append's transaction), so
  // a history page is a join of stored strings; and each room row keeps its activity (last
  // seq, last message time, member count, written with the append or join), indexed in
  // the listing's order, so GET /rooms reads no message and counts no profile.
  `ALTER TABLE messages ADD COLUMN json TEXT;
   UPDATE messages SET json = CASE WHEN client_id IS NULL
     THEN json_object('type', 'message', 'id', id, 'room_id', room_id, 'user_id', user_id, 'username', username, 'content', content,
       'avatar', avatar, 'avatar_url', avatar, 'timestamp', created_at, 'seq', seq)
     ELSE json_object('type', 'message', 'id', id, 'room_id', room_id, 'user_id', user_id, 'username', username, 'content', content,
       'avatar', avatar, 'avatar_url', avatar, 'timestamp', created_at, 'seq', seq, 'client_id', client_id) END;
   ALTER TABLE rooms ADD COLUMN member_count INTEGER NOT NULL DEFAULT 0;
   UPDATE rooms SET
     last_seq = COALESCE((SELECT m.seq FROM messages m WHERE m.room_id = rooms.room_id ORDER BY m.seq DESC LIMIT 1), 0),
     last_message_at = (SELECT m.created_at FROM messages m WHERE m.room_id = rooms.room_id ORDER BY m.seq DESC LIMIT 1),
     member_count = (SELECT COUNT(*) FROM profiles p WHERE p.room_id = rooms.room_id);
   CREATE INDEX rooms_activity ON rooms (COALESCE(last_message_at, created_at) DESC, room_id);`
]

/** The schema version this build writes: PRAGMA user_version of an up-to-date file. */
export const SCHEMA_VERSION = MIGRATIONS.length

/** Brings a file's schema up to SCHEMA_VERSION; refuses a file from a newer build. */
export function migrate (db: Database.Database): void {
  // IMMEDIATE takes the write lock before reading the version: two processes opening
  // a new file at once run each migration exactly once.
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number
    if (version > MIGRATIONS.length) {
      throw new Error(`the database schema is version ${version}, newer than this build knows (${MIGRATIONS.length}); run a newer Parley`)
    }
    for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v])
    db.pragma(`user_version = ${MIGRATIONS.length}`)
  }).immediate()
}
