import type { Clock } from '../../core/clock.js';
import { errors, fieldErrors, listError } from '../../core/errors.js';
import { isForeignKeyViolation } from '../../storage/dialect.js';
import type { UserJson } from '../users/format.js';
import type { UsersService } from '../users/service.js';
import { compactUser } from './format.js';
import type { AddressBookStore, BookState } from './store.js';
import { type Contact, planUpload, type UploadCounts } from './upload-plan.js';
import { LIMITS, readUpload } from './validation.js';

export interface UploadResult extends UploadCounts {
  rejected: Record<string, string[]>;
}

export class AddressBookService {
  constructor(
    private readonly store: AddressBookStore,
    private readonly users: UsersService,
    private readonly clock: Clock,
  ) {}

  /** POST /address_book.json: creates, updates and deletes the user's contacts in one transaction. */
  async upload(userId: number, body: unknown): Promise<UploadResult> {
    const input = readUpload(body);
    let counts: UploadCounts = { created: 0, updated: 0, deleted: 0 };
    try {
      await this.store.write(userId, input.udid, this.clock.now(), (book) => {
        const plan = planUpload(book.contacts, input.contacts, input.force);
        checkLimits(plan.size, book);
        counts = plan.counts;
        return plan.changes;
      });
    } catch (error) {
      // The user was deleted while the request ran: their token went with them.
      throw isForeignKeyViolation(error) ? errors.noSession() : error;
    }
    return { ...counts, rejected: input.rejected };
  }

  /** GET /address_book.json; an empty book is QuickBlox's 404, which the SDK turns into []. */
  async contacts(userId: number, udid: string): Promise<Contact[]> {
    const contacts = await this.store.contacts(userId, udid);
    if (contacts.length === 0) throw emptyBook();
    return contacts;
  }

  /** GET /address_book/registered_users.json: users of the application with a phone from the book. */
  async registeredUsers(applicationId: number, userId: number, udid: string, compact: boolean) {
    const phones = (await this.contacts(userId, udid)).map((c) => c.phone);
    const users = await this.users.findByPhones(applicationId, phones);
    return { items: users.map((user: UserJson) => ({ user: compact ? compactUser(user) : user })) };
  }
}

/** A book stays within its size, and a user within their number of books. */
function checkLimits(size: number, book: BookState): void {
  if (size > LIMITS.contactsPerBook) {
    throw fieldErrors(422, { contacts: [`would make the address book too long (maximum is ${LIMITS.contactsPerBook})`] });
  }
  if (book.contacts.length === 0 && size > 0 && book.otherBooks >= LIMITS.booksPerUser) {
    throw fieldErrors(422, { udid: [`is one address book too many (maximum is ${LIMITS.booksPerUser} per user)`] });
  }
}

/** The SDK recognises exactly this body (qbAddressBook.js _isFakeErrorEmptyAddressBook). */
function emptyBook() {
  return listError(404, 'Empty address book');
}
