// pins.test.js — message actions, two users side by side: "Pin to channel" shows
// live on the other member's page (the mark and the channel's pinned list, where
// "Unpin" works back the other way), deleting a pinned message takes it off the
// list; "Copy link" copies the message's permalink, which opens at the message; a
// member joining a channel shows as "X joined #channel", live and after a reload;
// and the message actions are reached and used with the keyboard alone.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, teamOfTwo, openPage, shot, apiOk, until } from './helpers.js';

const env = serverAndBrowser();

const pinnedIds = async (server, user, ch) =>
  (await apiOk(server, 'GET', `/channels/${ch}/pins`, undefined, user.token)).pins.map((p) => p.message.id);

test('pin on one page shows live on the other, in the pinned list, and unpin works back; a deleted message leaves the list', async () => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  const m = await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'Deploys happen on Tuesdays' }, bob.token);
  const gone = await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'soon to be deleted' }, bob.token);
  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/c/${general.id}` });
  const b = await openPage(env.browser, env.server, { user: bob, hash: `#/w/${ws.id}/c/${general.id}` });
  const aMsg = a.locator(`.channel-view .msg[data-id="${m.id}"]`);
  const bMsg = b.locator(`.channel-view .msg[data-id="${m.id}"]`);
  await bMsg.waitFor();
  await aMsg.hover();
  await aMsg.getByRole('button', { name: 'Pin to channel' }).click();
  await aMsg.getByRole('button', { name: 'Unpin from channel', pressed: true }).waitFor({ state: 'attached' });
  // Live on Bob's page: the mark, and the count in the header.
  await bMsg.locator('.pinned-mark').waitFor();
  await b.getByRole('button', { name: 'Pinned messages: 1' }).waitFor();
  assert.deepEqual(await pinnedIds(env.server, bob, general.id), [m.id]);

  // Bob's list: the message, who pinned it; Open and Unpin.
  await b.getByRole('button', { name: 'Pinned messages: 1' }).click();
  const pin = b.locator(`.details-panel .pin[data-id="${m.id}"]`);
  await pin.waitFor();
  assert.match(await pin.innerText(), /Deploys happen on Tuesdays/);
  assert.match(await pin.innerText(), /Pinned by Alice/);
  await shot(b, 'pinned-messages');
  // Alice pins the other one; it comes into Bob's open list live, and goes when deleted.
  const aGone = a.locator(`.channel-view .msg[data-id="${gone.id}"]`);
  await aGone.hover();
  await aGone.getByRole('button', { name: 'Pin to channel' }).click();
  await b.locator(`.details-panel .pin[data-id="${gone.id}"]`).waitFor();
  await apiOk(env.server, 'DELETE', `/messages/${gone.id}`, undefined, bob.token);
  await b.locator(`.details-panel .pin[data-id="${gone.id}"]`).waitFor({ state: 'detached' });
  await a.getByRole('button', { name: 'Pinned messages: 1' }).waitFor();
  assert.deepEqual(await pinnedIds(env.server, alice, general.id), [m.id]);

  await pin.getByRole('button', { name: /^Unpin/ }).click();
  await pin.waitFor({ state: 'detached' });
  await aMsg.locator('.pinned-mark').waitFor({ state: 'detached' });
  await b.locator('.details-panel .pins', { hasText: 'Nothing is pinned yet' }).waitFor();
  assert.deepEqual(await pinnedIds(env.server, alice, general.id), []);
  assert.deepEqual(a.problems, []);
  assert.deepEqual(b.problems, []);
  for (const p of [a, b]) await p.context().close();
});

test('Copy link copies the permalink, which opens at the message', async () => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  const m = await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'the link target' }, bob.token);
  for (let i = 0; i < 40; i++) await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: `filler ${i}` }, bob.token);
  // The clipboard is recorded (headless Chromium has no clipboard to read back).
  const recordClipboard = async (context) => context.addInitScript(() => {
    Object.defineProperty(navigator, 'clipboard', { configurable: true, value: { writeText: async (t) => { window.__copied = t; } } });
  });
  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/c/${m.channel}/m/${m.id}`, setup: recordClipboard });
  const msg = a.locator(`.channel-view .msg[data-id="${m.id}"]`);
  await msg.waitFor();
  await msg.hover();
  await msg.getByRole('button', { name: 'Copy link' }).click();
  await a.locator('.toast', { hasText: 'Link copied' }).waitFor();
  const link = await a.evaluate(() => window.__copied);
  assert.equal(link, `${env.server.url}/#/w/${ws.id}/c/${general.id}/m/${m.id}`);

  const b = await openPage(env.browser, env.server, { user: bob });
  await b.goto(link);
  await b.locator(`.channel-view .msg[data-id="${m.id}"]`).waitFor();
  await until(async () => b.locator(`.channel-view .msg[data-id="${m.id}"]`).evaluate((el) => {
    const r = el.getBoundingClientRect();
    const s = el.closest('.messages').getBoundingClientRect();
    return r.bottom > s.top && r.top < s.bottom;
  }), { message: 'the linked message in view' });
  assert.deepEqual(a.problems, []);
  assert.deepEqual(b.problems, []);
  for (const p of [a, b]) await p.context().close();
});

test('"Bob joined #design" shows live, and after a reload', async () => {
  const { alice, bob, ws } = await teamOfTwo(env.server);
  const design = await apiOk(env.server, 'POST', `/workspaces/${ws.id}/channels`, { name: 'design' }, alice.token);
  await apiOk(env.server, 'POST', `/channels/${design.id}/messages`, { text: 'mockups are up' }, alice.token);
  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/c/${design.id}` });
  await a.locator('.channel-view .msg', { hasText: 'mockups are up' }).waitFor();
  await a.locator('.join-line', { hasText: 'Alice joined #design' }).waitFor();
  assert.equal(await a.locator('.join-line', { hasText: 'Bob' }).count(), 0);

  await apiOk(env.server, 'POST', `/channels/${design.id}/join`, undefined, bob.token);
  const line = a.locator('.join-line', { hasText: 'Bob joined #design' });
  await line.waitFor();
  // After the message, in time order.
  const order = await a.locator('.msg-list > *').evaluateAll((els) => els.map((e) => e.textContent));
  const at = (re) => order.findIndex((t) => re.test(t));
  assert.ok(at(/mockups are up/) < at(/Bob joined #design/), order.join(' | '));
  await shot(a, 'joined-line');
  await a.reload();
  await a.locator('.join-line', { hasText: 'Bob joined #design' }).waitFor();
  assert.deepEqual(a.problems, []);
  await a.context().close();
});

test('the message actions by keyboard: Up reaches a message, Tab its actions, Enter pins it', async () => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  const m = await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'pin me by keyboard' }, bob.token);
  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/c/${general.id}` });
  const msg = a.locator(`.channel-view .msg[data-id="${m.id}"]`);
  await msg.waitFor();
  // Tab from the composer backwards reaches the message list (no mouse anywhere).
  await a.getByRole('textbox', { name: 'Message #general' }).focus();
  for (let i = 0; i < 15 && !(await a.evaluate(() => document.activeElement && document.activeElement.classList.contains('messages'))); i++) {
    await a.keyboard.press('Shift+Tab');
  }
  assert.ok(await a.evaluate(() => document.activeElement.classList.contains('messages')), 'Shift+Tab reaches the message list');
  await a.keyboard.press('ArrowUp');
  assert.equal(await a.evaluate(() => document.activeElement.dataset.id), m.id, 'Up focuses the newest message');
  // Its actions show, and Tab walks through them.
  await msg.getByRole('toolbar', { name: 'Message actions' }).waitFor();
  const labels = [];
  for (let i = 0; i < 10; i++) {
    await a.keyboard.press('Tab');
    const label = await a.evaluate(() => document.activeElement.getAttribute('aria-label'));
    labels.push(label);
    if (label === 'Pin to channel') break;
  }
  assert.ok(labels.includes('Copy link') && labels.includes('Save for later'), labels.join(', '));
  assert.equal(labels[labels.length - 1], 'Pin to channel', labels.join(', '));
  await a.keyboard.press('Enter');
  await until(async () => (await pinnedIds(env.server, alice, general.id)).includes(m.id), { message: 'pinned by keyboard' });
  await msg.locator('.pinned-mark').waitFor();
  assert.deepEqual(a.problems, []);
  await a.context().close();
});

test('in a thread too: Up reaches a reply, Tab its actions, Enter saves it', async () => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  const root = await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'a thread root' }, bob.token);
  const reply = await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'a reply to save', thread_root: root.id }, bob.token);
  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/c/${general.id}/m/${reply.id}` });
  const composer = a.getByRole('textbox', { name: 'Reply in thread' });
  await composer.waitFor();
  await a.locator(`.thread-panel .msg[data-id="${reply.id}"]`).waitFor();
  await composer.focus();
  const inLog = () => a.evaluate(() => document.activeElement && document.activeElement.classList.contains('thread-scroll'));
  for (let i = 0; i < 15 && !(await inLog()); i++) await a.keyboard.press('Shift+Tab');
  assert.ok(await inLog(), 'Shift+Tab reaches the thread’s replies');
  await a.keyboard.press('ArrowUp');
  assert.equal(await a.evaluate(() => document.activeElement.dataset.id), reply.id, 'Up focuses the newest reply');
  let label = null;
  for (let i = 0; i < 10 && label !== 'Save for later'; i++) {
    await a.keyboard.press('Tab');
    label = await a.evaluate(() => document.activeElement.getAttribute('aria-label'));
  }
  assert.equal(label, 'Save for later');
  await a.keyboard.press('Enter');
  await until(async () => (await apiOk(env.server, 'GET', `/workspaces/${ws.id}/saved`, undefined, alice.token)).total === 1, { message: 'saved by keyboard' });
  assert.deepEqual(a.problems, []);
  await a.context().close();
});
