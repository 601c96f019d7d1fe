// account-data.test.js — "Your data" on the Privacy page: a member downloads a zip of
// everything about them, reads what happens to their messages, and deletes their
// account with their password, landing on the sign-in screen.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, teamOfTwo, openPage, apiOk, api } from './helpers.js';

const env = serverAndBrowser();

test('a member downloads their data and deletes their account', async () => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'bob was here' }, bob.token);
  await apiOk(env.server, 'PUT', `/workspaces/${ws.id}/erasure`, { messages: 'keep' }, alice.token);

  const b = await openPage(env.browser, env.server, { user: bob, hash: `#/w/${ws.id}/privacy` });
  const card = b.locator('.account-data');
  await card.waitFor();
  const [download] = await Promise.all([
    b.waitForEvent('download'),
    card.getByRole('button', { name: 'Download my data' }).click(),
  ]);
  assert.equal(download.suggestedFilename(), 'confab-export.zip');
  const zip = await download.createReadStream();
  const chunks = [];
  for await (const chunk of zip) chunks.push(chunk);
  const bytes = Buffer.concat(chunks);
  assert.equal(bytes.subarray(0, 2).toString(), 'PK', 'a zip');
  assert.ok(bytes.includes(Buffer.from('messages.jsonl')), 'with their messages');

  await card.locator('summary', { hasText: 'Delete my account' }).click();
  await card.getByText('kept and shown as written by “deleted user”').waitFor();
  await card.getByLabel('Password').fill('not my password');
  await card.getByRole('button', { name: 'Delete my account' }).click();
  await card.getByRole('alert').filter({ hasText: 'That is not your password.' }).waitFor();
  await card.getByLabel('Password').fill('correct horse battery');
  await card.getByRole('button', { name: 'Delete my account' }).click();
  await b.getByRole('heading', { name: 'Sign in' }).waitFor();
  const gone = await api(env.server, 'POST', '/auth/login', { email: bob.email || `${bob.username}@example.test`, password: 'correct horse battery' });
  assert.equal(gone.status, 401, 'the account is gone');
  const history = await apiOk(env.server, 'GET', `/channels/${general.id}/messages`, undefined, alice.token);
  assert.ok(history.messages.some((m) => m.text === 'bob was here'), 'kept, as the workspace chose');
});
