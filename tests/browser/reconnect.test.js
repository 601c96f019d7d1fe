// reconnect.test.js — the server restarts on the same data dir: the client shows the
// offline banner, keeps a message typed meanwhile as pending, resumes from its last
// event_seq and re-sends the pending message with the same client_msg_id; nothing is
// lost or duplicated.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, teamOfTwo, openPage, shot, apiOk } from './helpers.js';

const env = serverAndBrowser();

test('a server restart loses nothing and duplicates nothing', async () => {
  const { alice, bob, general } = await teamOfTwo(env.server);
  await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'before the restart' }, bob.token);
  const a = await openPage(env.browser, env.server, { user: alice });
  const b = await openPage(env.browser, env.server, { user: bob });
  await a.locator('.msg', { hasText: 'before the restart' }).waitFor();
  await b.locator('.msg', { hasText: 'before the restart' }).waitFor();
  const box = a.getByRole('textbox', { name: 'Message #general' });

  await env.server.restart({
    between: async () => {
      // While the server is down: the banner shows and a new message stays pending.
      await a.locator('.banner', { hasText: 'Offline — reconnecting' }).waitFor();
      await box.fill('typed while offline');
      await box.press('Enter');
      await a.locator('.msg.pending', { hasText: 'typed while offline' }).waitFor();
      await shot(a, 'reconnect-offline');
    },
  });
  // Posted right after the restart, possibly before the clients are back: resumed or live.
  await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'after the restart' }, bob.token);

  await a.locator('.banner').waitFor({ state: 'hidden', timeout: 20000 });
  await a.locator('.msg:not(.pending)', { hasText: 'typed while offline' }).waitFor({ timeout: 20000 });
  await a.locator('.msg', { hasText: 'after the restart' }).waitFor();
  await b.locator('.msg', { hasText: 'typed while offline' }).waitFor({ timeout: 20000 });
  await b.locator('.msg', { hasText: 'after the restart' }).waitFor();

  for (const p of [a, b]) {
    for (const text of ['before the restart', 'typed while offline', 'after the restart']) {
      assert.equal(await p.locator('.channel-view .msg', { hasText: text }).count(), 1, `${text} shown once`);
    }
  }
  const hist = await apiOk(env.server, 'GET', `/channels/${general.id}/messages?limit=50`, undefined, alice.token);
  assert.equal(hist.messages.filter((m) => m.text === 'typed while offline').length, 1, 'stored once');
  await shot(a, 'reconnect-after');
  assert.deepEqual(a.problems.filter((p) => !/WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource/.test(p)), []);
  assert.deepEqual(b.problems.filter((p) => !/WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource/.test(p)), []);
  await a.context().close();
  await b.context().close();
});
