// saved.test.js — saved items: a message's toolbar saves it for later (and says so),
// the Saved items view lists it, opens it in its channel, and Remove takes it out;
// the server keeps them per member.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, teamOfTwo, openPage, shot, apiOk, until } from './helpers.js';

const env = serverAndBrowser();

const savedTotal = async (server, user, ws) => (await apiOk(server, 'GET', `/workspaces/${ws.id}/saved`, undefined, user.token)).total;

test('save a message for later, find it in Saved items, open it, remove it', async () => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'The quarterly numbers are in the sheet' }, bob.token);
  await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'unrelated chatter' }, bob.token);
  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/c/${general.id}` });
  const msg = a.locator('.channel-view .msg', { hasText: 'quarterly numbers' });
  await msg.waitFor();
  await msg.hover();
  await msg.getByRole('button', { name: 'Save for later' }).click();
  await msg.getByRole('button', { name: 'Remove from saved items', pressed: true }).waitFor({ state: 'attached' });
  await until(async () => (await savedTotal(env.server, alice, ws)) === 1, { message: 'saved on the server' });
  assert.equal(await savedTotal(env.server, bob, ws), 0, 'saved items are one’s own');

  await a.locator('.sidebar a.side-item', { hasText: 'Saved items' }).click();
  const item = a.locator('.saved-item', { hasText: 'quarterly numbers' });
  await item.waitFor();
  assert.equal(await a.locator('.saved-item').count(), 1);
  await shot(a, 'saved-items');
  await item.locator('.activity-open').click();
  await a.waitForURL(new RegExp(`#/w/${ws.id}/c/${general.id}`));
  await a.locator('.channel-view .msg', { hasText: 'quarterly numbers' }).waitFor();

  await a.locator('.sidebar a.side-item', { hasText: 'Saved items' }).click();
  await a.locator('.saved-item', { hasText: 'quarterly numbers' }).getByRole('button', { name: /^Remove/ }).click();
  await a.getByText('Nothing saved').waitFor();
  assert.equal(await savedTotal(env.server, alice, ws), 0);
  assert.deepEqual(a.problems, []);
  await a.context().close();
});
