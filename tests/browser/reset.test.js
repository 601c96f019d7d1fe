// reset.test.js — a one-time password-reset link, as a member gets it from the
// operator (`confab user reset-password EMAIL`): the page sets the new password, which
// then signs in, and the same link refuses a second use.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { serverAndBrowser, openPage, BIN } from './helpers.js';

const env = serverAndBrowser();

async function api(server, method, path, body) {
  const r = await fetch(`${server.apiUrl}/api/v1${path}`, {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, body: r.status === 204 ? null : await r.json() };
}

test('a reset link sets a new password once', async () => {
  const signup = await api(env.server, 'POST', '/auth/signup', { email: 'ada@example.test', password: 'correct horse battery', display_name: 'Ada' });
  assert.equal(signup.status, 201);
  const link = execFileSync(BIN, ['user', 'reset-password', 'ada@example.test', '--data-dir', env.server.dir]).toString().trim();
  const fragment = link.slice(link.indexOf('#'));
  assert.match(fragment, /^#token=[A-Za-z0-9_-]{40,}$/);

  const page = await openPage(env.browser, env.server, { hash: `reset.html${fragment}` });
  await page.getByLabel('New password', { exact: true }).fill('a brand new password');
  await page.getByLabel('New password again').fill('a brand new password');
  await page.getByRole('button', { name: 'Set password' }).click();
  await page.getByRole('status').filter({ hasText: 'Your password is set' }).waitFor();
  assert.ok(!(await page.evaluate(() => location.hash)), 'the token leaves the address bar');
  assert.deepEqual(page.problems, []);

  assert.equal((await api(env.server, 'POST', '/auth/login', { email: 'ada@example.test', password: 'a brand new password' })).status, 200);

  // The same link again: refused, and the page says so.
  const again = await openPage(env.browser, env.server, { hash: `reset.html${fragment}` });
  await again.getByLabel('New password', { exact: true }).fill('yet another password');
  await again.getByLabel('New password again').fill('yet another password');
  await again.getByRole('button', { name: 'Set password' }).click();
  await again.getByRole('alert').filter({ hasText: 'invalid, used or expired' }).waitFor();
});
