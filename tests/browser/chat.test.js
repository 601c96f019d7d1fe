// chat.test.js — two people chatting live: messages, reactions, a thread reply,
// emoji autocomplete, safe rendering of HTML-looking text, the main screen at
// 1280x800 and the narrow (390px) layout.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, teamOfTwo, openPage, shot, apiOk } from './helpers.js';

const env = serverAndBrowser();

test('two users chat in real time, react and reply in a thread', async () => {
  const { alice, bob, general } = await teamOfTwo(env.server);
  const a = await openPage(env.browser, env.server, { user: alice });
  const b = await openPage(env.browser, env.server, { user: bob });
  const aBox = a.getByRole('textbox', { name: 'Message #general' });
  const bBox = b.getByRole('textbox', { name: 'Message #general' });
  await aBox.waitFor();
  await bBox.waitFor();

  // Alice writes; Bob sees it live (and it shows in Alice's view, acknowledged).
  await aBox.fill(`Morning @${bob.username}! Release notes are *ready* — see https://example.com/notes`);
  await aBox.press('Enter');
  const bMsg = b.locator('.msg', { hasText: 'Release notes are' });
  await bMsg.waitFor();
  await a.locator('.msg:not(.pending)', { hasText: 'Release notes are' }).waitFor();
  assert.equal(await bMsg.locator('strong', { hasText: 'ready' }).count(), 1, 'bold rendered');
  assert.equal(await bMsg.locator('.mention.me').count(), 1, 'mention of Bob highlighted for Bob');
  const link = bMsg.locator('a[href="https://example.com/notes"]');
  assert.equal(await link.getAttribute('rel'), 'noopener noreferrer nofollow');

  // Bob types: Alice sees the typing indicator.
  await bBox.pressSequentially('typing...', { delay: 10 });
  await a.locator('.typing', { hasText: 'Bob is typing' }).waitFor();
  await bBox.fill('');

  // Bob reacts through the picker; Alice sees the count and who reacted.
  await bMsg.hover();
  await bMsg.getByRole('button', { name: 'Add reaction' }).first().click();
  await b.getByRole('dialog', { name: 'Choose a reaction' }).getByRole('button', { name: 'party popper' }).first().click();
  const aReaction = a.locator('.msg', { hasText: 'Release notes are' }).locator('button.reaction', { hasText: '🎉' });
  await aReaction.waitFor();
  assert.match(await aReaction.getAttribute('title'), /Bob reacted with :tada:/);
  // Alice toggles the same reaction on: count 2; and off again: count 1.
  await aReaction.click();
  await a.locator('button.reaction[aria-pressed=true]', { hasText: '2' }).waitFor();
  await aReaction.click();
  await a.locator('button.reaction[aria-pressed=false]', { hasText: '1' }).waitFor();

  // Bob replies in a thread; the reply stays out of the channel, Alice sees "1 reply".
  await bMsg.hover();
  await bMsg.getByRole('button', { name: 'Reply in thread' }).click();
  const thread = b.getByRole('region', { name: 'Thread' });
  await thread.getByRole('textbox', { name: 'Reply in thread' }).fill('Looks great, shipping it');
  await thread.getByRole('textbox', { name: 'Reply in thread' }).press('Enter');
  await thread.locator('.msg:not(.pending)', { hasText: 'Looks great' }).waitFor();
  const replies = a.locator('.channel-view button.replies', { hasText: '1 reply' });
  await replies.waitFor();
  assert.equal(await a.locator('.channel-view .msg', { hasText: 'Looks great' }).count(), 0, 'reply not in channel view');
  await replies.click();
  await a.getByRole('region', { name: 'Thread' }).locator('.msg', { hasText: 'Looks great' }).waitFor();
  await shot(a, 'chat-thread');
  await a.keyboard.press('Escape');
  await a.getByRole('region', { name: 'Thread' }).waitFor({ state: 'detached' });

  // The server has exactly one message and one reply (nothing duplicated).
  const hist = await apiOk(env.server, 'GET', `/channels/${general.id}/messages?limit=50`, undefined, alice.token);
  assert.equal(hist.messages.filter((m) => m.text.includes('Release notes')).length, 1);
  assert.equal(hist.messages.filter((m) => m.thread_root).length, 1);

  await shot(b, 'chat-bob');
  assert.deepEqual(a.problems, []);
  assert.deepEqual(b.problems, []);
  await a.context().close();
  await b.context().close();
});

test('a <script> or <img onerror> message renders as text', async () => {
  const { alice, bob, general } = await teamOfTwo(env.server);
  const evil = '<script>alert("xss")</script> and <img src=x onerror="alert(2)"> **bold**';
  await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: evil }, bob.token);
  const a = await openPage(env.browser, env.server, { user: alice });
  const msg = a.locator('.msg', { hasText: '<script>alert("xss")</script>' });
  await msg.waitFor();
  assert.equal(await a.locator('.msg-text script, .msg-text img').count(), 0, 'no element created from message text');
  assert.match(await msg.locator('.msg-text').innerText(), /<img src=x onerror="alert\(2\)">/);
  // The sender's own optimistic copy renders safely too.
  const box = a.getByRole('textbox', { name: 'Message #general' });
  await box.fill('<b onmouseover=alert(3)>hi</b>');
  await box.press('Enter');
  await a.locator('.msg:not(.pending)', { hasText: '<b onmouseover=alert(3)>hi</b>' }).waitFor();
  assert.equal(await a.locator('.msg-text b').count(), 0);
  await shot(a, 'xss-as-text');
  // Up in the empty composer edits your last message; Enter saves it.
  await box.press('ArrowUp');
  const edit = a.getByRole('textbox', { name: 'Edit message' });
  await edit.fill('edited <b>safely</b>');
  await edit.press('Enter');
  await a.locator('.msg', { hasText: 'edited <b>safely</b>' }).locator('.edited').waitFor();
  assert.deepEqual(a.problems, [], 'no dialog, console error or page error');
  await a.context().close();
});

test('emoji autocomplete inserts an emoji', async () => {
  const { alice } = await teamOfTwo(env.server);
  const a = await openPage(env.browser, env.server, { user: alice });
  const box = a.getByRole('textbox', { name: 'Message #general' });
  await box.waitFor();
  const asked = [];
  a.on('request', (r) => { if (r.url().includes('/emoji/suggest?prefix=')) asked.push(r.url()); });
  await box.pressSequentially('Ship it :tad', { delay: 15 });
  const option = a.getByRole('option', { name: /tada/ }).first();
  await option.waitFor();
  await shot(a, 'emoji-autocomplete');
  await box.press('Enter'); // accepts the highlighted suggestion
  assert.equal(await box.inputValue(), 'Ship it 🎉 ');
  await box.press('Enter'); // sends
  await a.locator('.msg:not(.pending)', { hasText: 'Ship it 🎉' }).waitFor();
  assert.ok(asked.length > 0, 'the composer asked the server for suggestions');
  assert.deepEqual(a.problems, []);
  await a.context().close();
});

test('main screen at 1280x800 and the narrow layout', async () => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  const eng = await apiOk(env.server, 'POST', `/workspaces/${ws.id}/channels`, { name: 'engineering', topic: 'Builds, reviews and releases' }, alice.token);
  await apiOk(env.server, 'POST', `/channels/${eng.id}/join`, undefined, bob.token);
  await apiOk(env.server, 'POST', `/workspaces/${ws.id}/channels`, { name: 'random' }, bob.token);
  await apiOk(env.server, 'POST', `/workspaces/${ws.id}/channels`, { name: 'design', private: true }, alice.token);
  const dm = await apiOk(env.server, 'POST', `/workspaces/${ws.id}/dms`, { users: [bob.id] }, alice.token);
  const lines = [
    [alice, 'Good morning! The *1.4 release* is planned for Thursday.'],
    [bob, 'Great. I will finish the migration notes today.'],
    [bob, 'Quick question: do we keep `sled` pinned to 0.34.7?'],
    [alice, '> do we keep sled pinned\nYes — see https://example.com/adr/12 for why.'],
    [alice, '```\ncargo build -p confab-server\n./target/debug/confab serve\n```'],
    [bob, `Thanks @${alice.username}! :tada:`],
  ];
  let last;
  for (const [u, text] of lines) last = await apiOk(env.server, 'POST', `/channels/${eng.id}/messages`, { text }, u.token);
  await apiOk(env.server, 'PUT', `/messages/${last.id}/reactions/tada`, undefined, alice.token);
  await apiOk(env.server, 'PUT', `/messages/${last.id}/reactions/%F0%9F%91%8D`, undefined, bob.token);
  await apiOk(env.server, 'POST', `/channels/${eng.id}/messages`, { text: 'I can review it after lunch.', thread_root: last.id }, bob.token);
  await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: `@${alice.username} welcome aboard` }, bob.token);
  await apiOk(env.server, 'POST', `/channels/${dm.id}/messages`, { text: 'got a minute?' }, bob.token);

  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/c/${eng.id}` });
  await a.locator('.channel-view button.replies', { hasText: '1 reply' }).waitFor();
  await a.locator('.side-item .badge.mention').first().waitFor();
  await shot(a, 'main');
  const dark = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/c/${eng.id}`, colorScheme: 'dark' });
  await dark.locator('.channel-view button.replies', { hasText: '1 reply' }).waitFor();
  await shot(dark, 'main-dark');
  await dark.context().close();

  // Narrow: the sidebar is a drawer.
  const m = await openPage(env.browser, env.server, { user: bob, viewport: { width: 390, height: 844 }, hash: `#/w/${ws.id}/c/${eng.id}` });
  await m.locator('.msg', { hasText: 'Good morning' }).waitFor();
  assert.equal(await m.locator('#sidebar').isVisible(), false, 'drawer closed');
  await shot(m, 'mobile-channel');
  await m.getByRole('button', { name: 'Open navigation' }).click();
  await m.locator('#sidebar').waitFor({ state: 'visible' });
  await shot(m, 'mobile-drawer');
  await m.keyboard.press('Escape');
  await m.locator('#sidebar').waitFor({ state: 'hidden' });
  assert.deepEqual(a.problems, []);
  assert.deepEqual(m.problems, []);
  await a.context().close();
  await m.context().close();
});
