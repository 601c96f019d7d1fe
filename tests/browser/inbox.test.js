// inbox.test.js — nothing missed, two users side by side: a mention in a thread reply
// gives a badge (on the channel, Activity and Threads) that survives a reload and
// goes once the thread is read; the Activity view lists mentions and replies newest
// first and opens each in its channel or thread; the Threads view lists the threads
// one is in with their unread replies; a channel with many unread messages opens at
// the first of them under a "New" line, is read as far as it has been on screen, and
// "Mark as unread" takes the line back to a message.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, teamOfTwo, openPage, shot, apiOk, until } from './helpers.js';

const env = serverAndBrowser();

const sideItem = (page, name) => page.locator('.sidebar a.side-item', { has: page.locator('.side-name', { hasText: new RegExp(`^${name}$`) }) });

async function channelView(server, user, ws, name) {
  const list = (await apiOk(server, 'GET', `/workspaces/${ws.id}/channels`, undefined, user.token)).channels;
  return list.find((c) => c.name === name);
}

test('a mention in a thread reply gives a badge until the thread is read, live and after a reload', async () => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  const root = await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'Release plan for Thursday' }, alice.token);
  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/c/${general.id}` });
  const b = await openPage(env.browser, env.server, { user: bob, hash: `#/w/${ws.id}/c/${general.id}` });
  await a.locator('.msg', { hasText: 'Release plan' }).waitFor();

  // Bob replies in the thread, mentioning Alice, who is reading #general.
  const bRoot = b.locator('.channel-view .msg', { hasText: 'Release plan' });
  await bRoot.hover();
  await bRoot.getByRole('button', { name: 'Reply in thread' }).click();
  const box = b.getByRole('region', { name: 'Thread' }).getByRole('textbox', { name: 'Reply in thread' });
  await box.fill(`@${alice.username} can you check the numbers?`);
  await box.press('Enter');

  // Alice: a mention badge on #general, on Activity and on Threads; the root says "1 new".
  await sideItem(a, 'general').locator('.badge.mention', { hasText: '1' }).waitFor();
  await sideItem(a, 'Activity').locator('.badge.mention', { hasText: '1' }).waitFor();
  await sideItem(a, 'Threads').locator('.badge.mention', { hasText: '1' }).waitFor();
  await a.locator('.channel-view button.replies.unread', { hasText: '1 new' }).waitFor();
  await shot(a, 'thread-mention-badge');
  // Being in #general read the channel, not the thread: the server still counts it.
  await until(async () => (await channelView(env.server, alice, ws, 'general')).last_read_seq === root.seq + 1, { message: 'the channel read' });
  assert.equal((await channelView(env.server, alice, ws, 'general')).mention_count, 1);
  await a.reload();
  await sideItem(a, 'general').locator('.badge.mention', { hasText: '1' }).waitFor();

  // Opening the thread reads it: every badge goes, here and on the server.
  await a.locator('.channel-view button.replies', { hasText: '1 reply' }).click();
  await a.getByRole('region', { name: 'Thread' }).locator('.msg', { hasText: 'check the numbers' }).waitFor();
  await sideItem(a, 'general').locator('.badge').waitFor({ state: 'detached' });
  await sideItem(a, 'Threads').locator('.badge').waitFor({ state: 'detached' });
  await until(async () => (await channelView(env.server, alice, ws, 'general')).mention_count === 0, { message: 'the mention read' });
  assert.deepEqual(a.problems, []);
  assert.deepEqual(b.problems, []);
  for (const p of [a, b]) await p.context().close();
});

test('Activity lists mentions and replies newest first and opens each in its channel or thread', async () => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  const random = await apiOk(env.server, 'POST', `/workspaces/${ws.id}/channels`, { name: 'random' }, alice.token);
  await apiOk(env.server, 'POST', `/channels/${random.id}/join`, undefined, bob.token);
  const root = await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'Who takes the retro?' }, alice.token);
  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/activity` });
  await a.getByText('Nothing yet').waitFor();

  // Live, while Alice looks at Activity: a reply in her thread, then a mention in #random.
  await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'I will take it', thread_root: root.id }, bob.token);
  await apiOk(env.server, 'POST', `/channels/${random.id}/messages`, { text: `@${alice.username} lunch at noon?` }, bob.token);
  const items = a.locator('.activity-item');
  await until(async () => (await items.count()) === 2, { message: 'two activity items' });
  assert.match(await items.nth(0).innerText(), /Bob mentioned you in #random[\s\S]*lunch at noon/);
  assert.match(await items.nth(1).innerText(), /Bob replied in a thread in #general[\s\S]*I will take it/);
  assert.equal(await a.locator('.activity-item.unread').count(), 2);
  await sideItem(a, 'Activity').locator('.badge.mention', { hasText: '1' }).waitFor();
  await shot(a, 'activity');

  // The reply opens #general with its thread, the reply flashed.
  await items.nth(1).getByRole('button').click();
  await a.waitForURL(new RegExp(`#/w/${ws.id}/c/${general.id}`));
  await a.getByRole('region', { name: 'Thread' }).locator('.msg', { hasText: 'I will take it' }).waitFor();
  // The mention opens #random at the message.
  await sideItem(a, 'Activity').click();
  await a.locator('.activity-item').nth(0).getByRole('button').click();
  await a.waitForURL(new RegExp(`#/w/${ws.id}/c/${random.id}`));
  await a.locator('.channel-view .msg', { hasText: 'lunch at noon' }).waitFor();
  await sideItem(a, 'Activity').locator('.badge').waitFor({ state: 'detached' });
  assert.deepEqual(a.problems, []);
  await a.context().close();
});

test('Threads lists the threads one is in with their unread replies', async () => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  const mine = await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'Which logo do we keep?' }, alice.token);
  const other = await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'Offsite dates' }, bob.token);
  await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'March works for me', thread_root: other.id }, alice.token);
  await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'Not in the thread', thread_root: other.id }, bob.token);
  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/threads` });
  const cards = a.locator('.thread-card');
  await until(async () => (await cards.count()) === 1, { message: 'one thread' });
  assert.match(await cards.nth(0).innerText(), /1 new[\s\S]*Offsite dates[\s\S]*Not in the thread/);
  await sideItem(a, 'Threads').and(a.locator('.unread')).waitFor();

  // Bob answers in Alice's own thread, live: it joins the list, on top, unread.
  await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'The blue one', thread_root: mine.id }, bob.token);
  await until(async () => (await cards.count()) === 2, { message: 'two threads' });
  assert.match(await cards.nth(0).innerText(), /Which logo[\s\S]*The blue one/);
  await cards.nth(0).locator('.badge', { hasText: '1 new' }).waitFor();
  await shot(a, 'threads');

  // Opening it reads it; back in Threads it is no longer unread.
  await cards.nth(0).getByRole('button', { name: 'Open thread' }).click();
  await a.getByRole('region', { name: 'Thread' }).locator('.msg', { hasText: 'The blue one' }).waitFor();
  await until(async () => {
    const t = await apiOk(env.server, 'GET', `/workspaces/${ws.id}/threads`, undefined, alice.token);
    return t.threads.find((x) => x.root.id === mine.id).unread_replies === 0;
  }, { message: 'the thread read' });
  await sideItem(a, 'Threads').click();
  await a.locator('.thread-card', { hasText: 'Which logo' }).waitFor();
  assert.equal(await a.locator('.thread-card.unread', { hasText: 'Which logo' }).count(), 0);
  assert.deepEqual(a.problems, []);
  await a.context().close();
});

test('a channel with unread messages opens at the first of them under a "New" line; Mark as unread', async () => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  const random = await apiOk(env.server, 'POST', `/workspaces/${ws.id}/channels`, { name: 'random' }, alice.token);
  const seen = await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'already read' }, bob.token);
  await apiOk(env.server, 'POST', `/channels/${general.id}/read`, { seq: seen.seq }, alice.token);
  const posted = [];
  for (let i = 1; i <= 70; i++) posted.push(await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: `news item ${i}` }, bob.token));
  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/c/${random.id}` });
  await sideItem(a, 'general').locator('.badge', { hasText: '70' }).waitFor();
  await sideItem(a, 'general').click();

  // The "New" line sits right above the first unread message, which is on screen;
  // the newest is not, and the server's marker is short of it.
  const line = a.locator('.new-line');
  await line.waitFor();
  const first = a.locator('.msg').filter({ has: a.locator('.msg-text', { hasText: /^news item 1$/ }) });
  await first.waitFor();
  assert.equal(await line.evaluate((el) => el.nextElementSibling && el.nextElementSibling.textContent.includes('news item 1')), true, 'the line is right above it');
    const inView = (loc) => loc.evaluate((el) => {
    const box = el.getBoundingClientRect();
    const view = el.closest('.messages').getBoundingClientRect();
    return box.top >= view.top && box.bottom <= view.bottom;
  });
  assert.ok(await inView(first), 'the first unread message is in view');
  await until(async () => (await channelView(env.server, alice, ws, 'general')).last_read_seq > seen.seq, { message: 'what is on screen read' });
  const partly = await channelView(env.server, alice, ws, 'general');
  assert.ok(partly.last_read_seq < posted[69].seq, `only what was on screen is read: ${partly.last_read_seq}`);
  await shot(a, 'unread-new-line');

  // Scrolled to the end, everything is read.
  await a.locator('.channel-view .messages').evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await a.locator('.msg', { hasText: 'news item 70' }).waitFor();
  await a.locator('.channel-view .messages').evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await until(async () => (await channelView(env.server, alice, ws, 'general')).last_read_seq === posted[69].seq, { message: 'all read' });
  await sideItem(a, 'general').locator('.badge').waitFor({ state: 'detached' });

  // Mark as unread from item 65: the marker goes back, the badge comes back, and the
  // channel stays unread while it is on screen.
  const target = a.locator('.channel-view .msg', { hasText: 'news item 65' });
  await target.hover();
  await target.getByRole('button', { name: 'Mark as unread' }).click();
  await until(async () => (await channelView(env.server, alice, ws, 'general')).last_read_seq === posted[64].seq - 1, { message: 'marked unread' });
  await sideItem(a, 'general').locator('.badge', { hasText: '6' }).waitFor();
  assert.equal(await line.evaluate((el) => el.nextElementSibling && el.nextElementSibling.textContent.includes('news item 65')), true);
  await a.waitForTimeout(1500);
  assert.equal((await channelView(env.server, alice, ws, 'general')).last_read_seq, posted[64].seq - 1, 'held unread while on screen');
  // Opened again: the line is there, and it is read again.
  await sideItem(a, 'random').click();
  await sideItem(a, 'general').click();
  await a.locator('.new-line + .msg', { hasText: 'news item 65' }).waitFor();
  await until(async () => (await channelView(env.server, alice, ws, 'general')).last_read_seq === posted[69].seq, { message: 'read again' });
  assert.deepEqual(a.problems, []);
  await a.context().close();
});

test('the tab title counts the mentions and direct messages waiting, live', async () => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  const random = await apiOk(env.server, 'POST', `/workspaces/${ws.id}/channels`, { name: 'random' }, alice.token);
  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/c/${random.id}` });
  await a.getByRole('textbox', { name: 'Message #random' }).waitFor();
  assert.equal(await a.title(), '#random · Acme · Confab');

  await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: `@${alice.username} standup?` }, bob.token);
  await a.waitForFunction(() => document.title === '(1) #random · Acme · Confab');
  const dm = await apiOk(env.server, 'POST', `/workspaces/${ws.id}/dms`, { users: [alice.id] }, bob.token);
  await apiOk(env.server, 'POST', `/channels/${dm.id}/messages`, { text: 'ping' }, bob.token);
  await apiOk(env.server, 'POST', `/channels/${dm.id}/messages`, { text: 'pong?' }, bob.token);
  await a.waitForFunction(() => document.title === '(3) #random · Acme · Confab');
  // Reading them takes them off.
  await sideItem(a, 'Bob').click();
  await a.waitForFunction(() => document.title === '(1) Bob · Acme · Confab');
  await sideItem(a, 'general').click();
  await a.waitForFunction(() => document.title === '#general · Acme · Confab');
  assert.deepEqual(a.problems, []);
  await a.context().close();
});
