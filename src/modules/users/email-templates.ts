import type { AppSettings, EmailTemplate, EmailTemplateName } from '../apps/settings.js';

/** The mails' wording unless an application's email_templates setting says otherwise. */
export const DEFAULT_EMAIL_TEMPLATES: Record<EmailTemplateName, EmailTemplate> = {
  reset_password: {
    subject: 'Reset your {{app_name}} password',
    text: [
      'Hello {{full_name}},',
      '',
      'Someone asked to reset the password of your {{app_name}} account ({{login}}).',
      'To choose a new password, open this link within an hour:',
      '',
      '{{link}}',
      '',
      'If it was not you, ignore this mail: your password stays as it is.',
      '',
    ].join('\n'),
  },
  confirm_email: {
    subject: 'Confirm your email for {{app_name}}',
    text: [
      'Hello {{full_name}},',
      '',
      'Please confirm that this is your email address for {{app_name}} by opening this link:',
      '',
      '{{link}}',
      '',
      'If you did not sign up, ignore this mail.',
      '',
    ].join('\n'),
  },
};

export interface TemplateValues {
  full_name: string;
  login: string;
  link: string;
  app_name: string;
}

/** The application's template (its overrides over the defaults) with the placeholders filled in. */
export function renderEmail(settings: AppSettings, name: EmailTemplateName, values: TemplateValues): EmailTemplate {
  const overrides = settings.email_templates?.[name];
  const pick = (field: keyof EmailTemplate) => {
    const custom = typeof overrides === 'object' && overrides !== null ? overrides[field] : undefined;
    return typeof custom === 'string' && custom.trim() !== '' ? custom : DEFAULT_EMAIL_TEMPLATES[name][field];
  };
  // One pass over the template, so a value that itself looks like {{link}} is never expanded.
  const fill = (template: string) =>
    template.replace(/\{\{\s*(full_name|login|link|app_name)\s*\}\}/g, (_match, key: keyof TemplateValues) => values[key]);
  return { subject: fill(pick('subject')), text: fill(pick('text')) };
}
