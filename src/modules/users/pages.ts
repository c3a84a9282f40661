import type { LinkState } from './email-links.js';

/**
 * The few HTML pages that mail links open: the new-password form and the
 * outcome pages. Plain HTML, no scripts, every value escaped.
 */
export interface Page {
  status: number;
  html: string;
}

/** Sent with every page: nothing cached, the token in the URL never leaks as a referrer, no framing. */
export const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
};

export function resetForm(appName: string, messages: string[] = []): Page {
  const errors = messages.map((message) => `<p class="error">${escapeHtml(message)}</p>`).join('\n');
  return page(
    messages.length > 0 ? 422 : 200,
    `Choose a new password${suffix(appName)}`,
    `
${errors}
<form method="post">
  <label>New password <input type="password" name="password" minlength="8" maxlength="128" autocomplete="new-password" required autofocus></label>
  <label>Repeat it <input type="password" name="password_confirmation" minlength="8" maxlength="128" autocomplete="new-password" required></label>
  <button type="submit">Set the password</button>
</form>`,
  );
}

export function resetDone(appName: string): Page {
  return page(
    200,
    'Your password has been changed',
    `
<p>Sign in${suffix(appName, ' to ')} with your new password. Devices that were signed in have been signed out.</p>`,
  );
}

export function confirmDone(appName: string): Page {
  return page(200, 'Your email is confirmed', `<p>You can now sign in${suffix(appName, ' to ')}.</p>`);
}

/** A link that does not work: 404 when it never did, 410 when it was used or has expired. */
export function linkProblem(link: LinkState, again: string): Page {
  switch (link.state) {
    case 'used':
      return page(410, 'This link has already been used', `<p>Each link works once. ${escapeHtml(again)}</p>`);
    case 'expired':
      return page(410, 'This link has expired', `<p>${escapeHtml(again)}</p>`);
    default:
      return page(404, 'This link is not valid', `<p>Check that the whole link was opened. ${escapeHtml(again)}</p>`);
  }
}

function suffix(appName: string, joiner = ' for '): string {
  return appName ? `${joiner}${escapeHtml(appName)}` : '';
}

function page(status: number, title: string, body: string): Page {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title}</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 26rem; margin: 4rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.4rem; }
  label { display: block; margin: 1rem 0; }
  input { display: block; width: 100%; box-sizing: border-box; padding: .5rem; font: inherit; margin-top: .25rem; }
  button { padding: .5rem 1rem; font: inherit; }
  .error { color: #b00020; }
</style>
</head>
<body>
<h1>${title}</h1>
${body.trim()}
</body>
</html>
`;
  return { status, html };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
