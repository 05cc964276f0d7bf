// Each room's newest history page as stored JSON, kept until the room changes.

export interface CachedPage<Tag> {
  page: readonly string[]
  /** What the store checks the page against before serving it again (PostgreSQL: the room's versions). */
  tag: Tag
}

/**
 * The client polls its room's newest 100 every 3 s while its socket is down, so the
 * newest page of a room is read far more often than it changes. The store forgets a
 * room's pages when it changes (a message, a profile whose avatar a page fills).
 * Bounded by the characters and pages held: past either budget, it starts over.
 */
export function createPageCache<Tag = undefined> (budgetChars = 16_000_000, budgetPages = 10_000) {
  const rooms = new Map<string, Map<number, CachedPage<Tag> & { chars: number }>>()
  let held = 0
  let pagesHeld = 0

  return {
    get (roomId: string, limit: number): CachedPage<Tag> | undefined {
      return rooms.get(roomId)?.get(limit)
    },
    set (roomId: string, limit: number, page: readonly string[], tag: Tag): void {
      let chars = 0
      for (const message of page) chars += message.length
      // A page of huge messages is not worth a 16th of the budget.
      if (chars > budgetChars / 16) return
      if (held + chars > budgetChars || pagesHeld >= budgetPages) this.clear()
      let pages = rooms.get(roomId)
      if (pages === undefined) rooms.set(roomId, pages = new Map())
      const replaced = pages.get(limit)
      held += chars - (replaced?.chars ?? 0)
      if (replaced === undefined) pagesHeld++
      pages.set(limit, { page, tag, chars })
    },
    forget (roomId: string): void {
      const pages = rooms.get(roomId)
      if (pages === undefined) return
      for (const { chars } of pages.values()) held -= chars
      pagesHeld -= pages.size
      rooms.delete(roomId)
    },
    clear (): void {
      rooms.clear()
      held = 0
      pagesHeld = 0
    }
  }
}
