import type { Generated } from 'kysely';

/**
 * The tables, as Kysely sees them. Each module's store.ts is the only code
 * that touches its own tables. Times are unix milliseconds in both dialects.
 */
export interface Database {
  accounts: AccountTable;
  applications: ApplicationTable;
  api_keys: ApiKeyTable;
  users: UserTable;
  users_tags: UserTagTable;
  sessions: SessionTable;
  session_signatures: SessionSignatureTable;
  address_book_contacts: AddressBookContactTable;
  user_email_tokens: UserEmailTokenTable;
  blobs: BlobTable;
  push_subscriptions: PushSubscriptionTable;
  push_events: PushEventTable;
  push_event_runs: PushEventRunTable;
  push_credentials: PushCredentialTable;
  data_classes: DataClassTable;
  chat_dialogs: ChatDialogTable;
  chat_occupants: ChatOccupantTable;
  chat_messages: ChatMessageTable;
  chat_hidden_messages: ChatHiddenMessageTable;
  chat_unread_totals: ChatUnreadTotalTable;
}

export interface AccountTable {
  id: Generated<number>;
  owner_email: string;
  password_hash: string;
  account_key: string;
  created_at: number;
}

export interface ApplicationTable {
  id: Generated<number>;
  account_id: number;
  name: string;
  auth_key: string;
  auth_secret: string;
  /** JSON object of per-application settings. */
  settings: string;
  created_at: number;
  updated_at: number;
}

export interface ApiKeyTable {
  id: Generated<number>;
  application_id: number;
  key_hash: string;
  name: string;
  created_at: number;
}

export interface UserTable {
  id: Generated<number>;
  application_id: number;
  login: string | null;
  email: string | null;
  password_hash: string;
  full_name: string | null;
  phone: string | null;
  website: string | null;
  facebook_id: string | null;
  twitter_id: string | null;
  twitter_digits_id: string | null;
  external_user_id: number | null;
  /** Firebase user id (sub) of phone sign-in; not in the QuickBlox user JSON. */
  firebase_uid: Generated<string | null>;
  /** The user id a custom identity provider answered with; not in the QuickBlox user JSON. */
  custom_identity_uid: Generated<string | null>;
  blob_id: number | null;
  custom_data: string | null;
  /** Comma-separated, as QuickBlox returns them. */
  user_tags: string | null;
  created_at: number;
  updated_at: number;
  last_request_at: number | null;
  /** 0 while a sign-up under require_email_confirmation awaits its link, else 1. */
  email_confirmed: Generated<number>;
}

/** One row per tag of a user, for by_tags and tag-addressed pushes. */
export interface UserTagTable {
  application_id: number;
  user_id: number;
  tag: string;
}

export interface SessionTable {
  id: Generated<number>;
  public_id: string;
  token_hash: string;
  application_id: number;
  user_id: number | null;
  nonce: number;
  ts: number;
  created_at: number;
  updated_at: number;
  last_used_at: number;
}

/** Signatures seen on POST /session.json, kept while they could be replayed. */
export interface SessionSignatureTable {
  application_id: number;
  signature: string;
  expires_at: number;
}

/** One contact of a user's address book. */
export interface AddressBookContactTable {
  id: Generated<number>;
  user_id: number;
  /** The device's book, or '' for the user's global book. */
  udid: string;
  phone: string;
  name: string;
  created_at: number;
  updated_at: number;
}

/** A single-use link sent by mail (password reset, email confirmation); the token itself is never stored. */
export interface UserEmailTokenTable {
  id: Generated<number>;
  application_id: number;
  user_id: number;
  purpose: 'reset_password' | 'confirm_email';
  token_hash: string;
  /** The address the link was sent to. */
  email: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

/** A file of the Content API; its bytes live in the BlobStore under store_key (see migration 0006). */
export interface BlobTable {
  id: Generated<number>;
  application_id: number;
  user_id: number | null;
  uid: string;
  name: string;
  content_type: string;
  public: number;
  tag_list: string | null;
  size: number | null;
  /** null until the first upload is completed, then 'complete'. */
  blob_status: string | null;
  store_key: string | null;
  pending_key: string | null;
  pending_expires_at: number | null;
  created_at: number;
  updated_at: number;
  set_completed_at: number | null;
}

/** A device subscribed to pushes (or an address to mails) for a user; see migration 0008. */
export interface PushSubscriptionTable {
  id: Generated<number>;
  application_id: number;
  user_id: number;
  channel: string;
  platform: string;
  udid: string;
  environment: string;
  bundle_identifier: string;
  token: string;
  created_at: number;
  updated_at: number;
}

/** A push or email event, its schedule and its delivery counters. */
export interface PushEventTable {
  id: Generated<number>;
  application_id: number;
  user_id: number | null;
  notification_type: string;
  push_type: string | null;
  environment: string;
  event_type: string;
  message: string;
  name: string | null;
  active: number;
  date: number | null;
  end_date: number | null;
  period: number | null;
  occured_count: number;
  recipients: string;
  next_run_at: number | null;
  sent_count: number;
  failed_count: number;
  removed_count: number;
  created_at: number;
  updated_at: number;
}

/** One claimed occurrence of an event; its primary key is the lease. */
export interface PushEventRunTable {
  event_id: number;
  occurrence: number;
  claimed_by: string;
  /** Renewed by the claimant while it sends: a run not renewed for a lease's time may be taken over. */
  claimed_at: number;
  finished_at: number | null;
  /** The last recipient (user id) whose batch is sent: a run taken over goes on after it. */
  resume_after: Generated<number>;
}

/** Gateway credentials of an application, encrypted. */
export interface PushCredentialTable {
  application_id: number;
  service: string;
  secret: string;
  updated_at: number;
}

/** A custom-object class; its records live in the table `co_<id>`. */
export interface DataClassTable {
  id: Generated<number>;
  application_id: number;
  name: string;
  /** JSON array of {name, type, indexed}. */
  fields: string;
  /** JSON object of class permissions per action. */
  permissions: string;
  created_at: number;
  updated_at: number;
}

/** A chat dialog; see migration 0010. */
export interface ChatDialogTable {
  id: string;
  application_id: number;
  type: number;
  user_id: number;
  name: string | null;
  photo: string | null;
  occupants_ids: string;
  private_pair: string | null;
  is_join_required: number;
  data_class: string | null;
  data: string | null;
  last_message: string | null;
  last_message_date_sent: number | null;
  last_message_user_id: number | null;
  last_message_id: string | null;
  sort_at: number;
  created_at: number;
  updated_at: number;
}

/** An occupant of a dialog and that user's state in it. */
export interface ChatOccupantTable {
  dialog_id: string;
  user_id: number;
  application_id: number;
  unread_count: number;
  hidden: number;
  notifications: number;
  sort_at: number;
}

/** A message of a dialog's history. */
export interface ChatMessageTable {
  id: string;
  dialog_id: string;
  application_id: number;
  sender_id: number;
  recipient_id: number | null;
  message: string;
  date_sent: number;
  attachments: string;
  attachment_types: string;
  custom: string;
  markable: number;
  read_ids: string;
  delivered_ids: string;
  created_at: number;
  updated_at: number;
}

/** A message one user deleted for themselves. */
export interface ChatHiddenMessageTable {
  message_id: string;
  user_id: number;
  dialog_id: string;
}

/** A user's unread messages over all their dialogs. */
export interface ChatUnreadTotalTable {
  user_id: number;
  total: number;
}
