import { Type } from '@sinclair/typebox';
import { NullableInt, NullableText } from '../../core/schemas.js';

/** The user object on the wire (see format.ts). */
export const UserSchema = Type.Object({
  id: Type.Integer(),
  full_name: NullableText,
  email: NullableText,
  login: NullableText,
  phone: NullableText,
  website: NullableText,
  created_at: Type.String(),
  updated_at: Type.String(),
  last_request_at: NullableText,
  external_user_id: NullableInt,
  facebook_id: NullableText,
  twitter_id: NullableText,
  twitter_digits_id: NullableText,
  blob_id: NullableInt,
  custom_data: NullableText,
  age_over16: Type.Boolean(),
  allow_statistics_analysis: Type.Boolean(),
  allow_sales_activities: Type.Boolean(),
  parents_contacts: Type.String(),
  user_tags: NullableText,
});
