import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Database, UserTable } from '../../storage/schema.js';

export type UserRow = Selectable<UserTable>;

export class UsersStore {
  constructor(private readonly db: Kysely<Database>) {}

  insert(values: Insertable<UserTable>): Promise<UserRow> {
    return this.db.insertInto('users').values(values).returningAll().executeTakeFirstOrThrow();
  }

  byId(applicationId: number, id: number): Promise<UserRow | undefined> {
    return this.db
      .selectFrom('users')
      .selectAll()
      .where('application_id', '=', applicationId)
      .where('id', '=', id)
      .executeTakeFirst();
  }

  byLogin(applicationId: number, login: string): Promise<UserRow | undefined> {
    return this.db
      .selectFrom('users')
      .selectAll()
      .where('application_id', '=', applicationId)
      .where('login', '=', login)
      .executeTakeFirst();
  }

  byEmail(applicationId: number, email: string): Promise<UserRow | undefined> {
    return this.db
      .selectFrom('users')
      .selectAll()
      .where('application_id', '=', applicationId)
      .where('email', '=', email)
      .executeTakeFirst();
  }
}
