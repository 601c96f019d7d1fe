// offline.test.js — offline is never silent: with the browser's network gone, or with
// a socket that still looks open but answers nothing, the banner shows and a message
// sent meanwhile offers Retry instead of "Sending…" for ever; once the connection is
// back it is delivered, once, and the other member sees it live.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, teamOfTwo, openPage, shot, apiOk } from './helpers.js';

const env = serverAndBrowser();

/** What the browser logs about sockets and fetches cut off on purpose. */
const expected = (p) => /WebSocket|ERR_INTERNET_DISCONNECTED|ERR_NETWORK_CHANGED|Failed to load resource|Failed to fetch/.test(p);

async function delivered(server, user, channel, text) {
  const hist = await apiOk(server, 'GET', `/channels/${channel}/messages?limit=50`, undefined, user.token);
  return hist.messages.filter((m) => m.text === text).length;
}

test('the network goes away: banner, Retry instead of "Sending…", delivered once it is back', async () => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/c/${general.id}` });
  const b = await openPage(env.browser, env.server, { user: bob, hash: `#/w/${ws.id}/c/${general.id}` });
  const box = a.getByRole('textbox', { name: 'Message #general' });
  await box.waitFor();
  await b.getByRole('textbox', { name: 'Message #general' }).waitFor();

  await a.context().setOffline(true);
  await a.locator('.banner', { hasText: 'Offline — no network' }).waitFor();
  await box.fill('written on the train');
  await box.press('Enter');
  const pending = a.locator('.msg.pending', { hasText: 'written on the train' });
  await pending.getByRole('button', { name: 'Retry' }).waitFor();
  assert.equal(await pending.getByText('Sending…').count(), 0);
  await shot(a, 'offline-banner');

  await a.context().setOffline(false);
  await a.locator('.banner').waitFor({ state: 'hidden', timeout: 20000 });
  await a.locator('.msg:not(.pending)', { hasText: 'written on the train' }).waitFor({ timeout: 20000 });
  await b.locator('.msg', { hasText: 'written on the train' }).waitFor();
  assert.equal(await delivered(env.server, alice, general.id, 'written on the train'), 1);
  assert.deepEqual(a.problems.filter((p) => !expected(p)), []);
  assert.deepEqual(b.problems, []);
  for (const p of [a, b]) await p.context().close();
});

test('a socket that answers nothing is found out by its ping: banner and Retry, then delivered once back online', async () => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  // Every socket of Alice's page goes through here; `dead` swallows every frame both
  // ways without closing anything, as a vanished network does.
  let dead = false;
  const setup = (context) => context.routeWebSocket(/\/api\/v1\/ws/, (route) => {
    const server = route.connectToServer();
    route.onMessage((m) => { if (!dead) server.send(m); });
    server.onMessage((m) => { if (!dead) route.send(m); });
  });
  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/c/${general.id}`, setup });
  const b = await openPage(env.browser, env.server, { user: bob, hash: `#/w/${ws.id}/c/${general.id}` });
  const box = a.getByRole('textbox', { name: 'Message #general' });
  await box.waitFor();
  await a.waitForFunction(() => !document.querySelector('.banner') || document.querySelector('.banner').hidden);

  dead = true;
  await box.fill('into the void');
  await box.press('Enter');
  const pending = a.locator('.msg.pending', { hasText: 'into the void' });
  await pending.waitFor();
  // Unanswered, the ping gives it away within seconds.
  await a.locator('.banner', { hasText: 'Offline — reconnecting' }).waitFor({ timeout: 15000 });
  await pending.getByRole('button', { name: 'Retry' }).waitFor();
  assert.equal(await pending.getByText('Sending…').count(), 0);
  assert.equal(await delivered(env.server, alice, general.id, 'into the void'), 0);
  await shot(a, 'offline-dead-socket');

  dead = false;
  // Back online, the client may already be resending it on its own as it reconnects
  // (the Retry button then goes with the pending line); Retry, if still offered,
  // sends it now. Either way it is delivered once.
  await pending.getByRole('button', { name: 'Retry' }).click({ timeout: 5000 }).catch(() => {});
  await a.locator('.msg:not(.pending)', { hasText: 'into the void' }).waitFor({ timeout: 20000 });
  await a.locator('.banner').waitFor({ state: 'hidden' });
  await b.locator('.msg', { hasText: 'into the void' }).waitFor();
  assert.equal(await delivered(env.server, alice, general.id, 'into the void'), 1);
  assert.deepEqual(a.problems.filter((p) => !expected(p)), []);
  assert.deepEqual(b.problems, []);
  for (const p of [a, b]) await p.context().close();
});
