import type { ContactInput } from './validation.js';

export interface Contact {
  phone: string;
  name: string;
}

export interface UploadCounts {
  created: number;
  updated: number;
  deleted: number;
}

/** What to write to a book, applied in this order: clear, deletions, upserts. */
export interface BookChanges {
  /** Remove every contact of the book first (force mode). */
  clear: boolean;
  deletions: string[];
  /** New or renamed contacts; new ones are appended in this order. */
  upserts: Contact[];
}

export interface UploadPlan {
  counts: UploadCounts;
  changes: BookChanges;
  /** Contacts in the book afterwards. */
  size: number;
}

/**
 * Applies an upload's contacts one after another to the book as it is (or to
 * an empty book in force mode), counting as it goes, and returns the net
 * changes. Computing them first lets the write be a handful of statements
 * whatever the request repeats or undoes.
 */
export function planUpload(existing: Contact[], contacts: ContactInput[], force: boolean): UploadPlan {
  const before = new Map(existing.map((c) => [c.phone, c.name]));
  // A Map keeps insertion order: kept contacts keep their place, new ones are appended.
  const book = force ? new Map<string, string>() : new Map(before);
  const counts: UploadCounts = { created: 0, updated: 0, deleted: force ? before.size : 0 };
  // Contacts of the old book removed by this upload; one created again goes to the end, as a new row.
  const removed = new Set<string>();

  for (const contact of contacts) {
    if (contact.destroy) {
      if (book.delete(contact.phone)) {
        counts.deleted++;
        if (before.has(contact.phone)) removed.add(contact.phone);
      }
    } else if (book.has(contact.phone)) {
      book.set(contact.phone, contact.name);
      counts.updated++;
    } else {
      book.set(contact.phone, contact.name);
      counts.created++;
    }
  }

  if (force) {
    return { counts, size: book.size, changes: { clear: true, deletions: [], upserts: toContacts(book) } };
  }
  const upserts = toContacts(book).filter((c) => removed.has(c.phone) || before.get(c.phone) !== c.name);
  return { counts, size: book.size, changes: { clear: false, deletions: [...removed], upserts } };
}

function toContacts(book: Map<string, string>): Contact[] {
  return [...book].map(([phone, name]) => ({ phone, name }));
}
