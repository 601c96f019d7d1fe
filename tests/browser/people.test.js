// people.test.js — people, two users side by side: a name in a message opens the
// profile card (display name, @username, role, status, local time from the member's
// time zone), whose "Message" opens the DM that the other member then sees live; the
// people directory lists the workspace's members (bots tagged), searched by name,
// @username or status; editing one's own profile (display name, status emoji and
// text, time zone) shows live on the other member's directory, and a refused value is
// explained in the dialog; a picture chosen in the profile shows beside one's messages
// on the other member's page, live, until it is removed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, teamOfTwo, openPage, shot, apiOk, signup } from './helpers.js';

const env = serverAndBrowser();

test('a name opens the profile card (role, status, local time); Message opens the DM, live on the other side', async () => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  await apiOk(env.server, 'PATCH', '/me', { status_text: 'Reviewing PRs', status_emoji: ':eyes:', time_zone: 'Asia/Tokyo' }, bob.token);
  await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'hi from Bob' }, bob.token);
  const b = await openPage(env.browser, env.server, { user: bob, hash: `#/w/${ws.id}/c/${general.id}` });
  await b.getByRole('textbox', { name: 'Message #general' }).waitFor();
  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/c/${general.id}` });
  const msg = a.locator('.msg', { hasText: 'hi from Bob' });
  await msg.waitFor();
  await msg.getByRole('button', { name: 'Bob' }).click();

  const card = a.getByRole('dialog', { name: 'Bob' });
  await card.getByText(`@${bob.username}`).waitFor();
  assert.equal(await card.locator('.profile-role').innerText(), 'Member');
  assert.equal((await card.locator('.profile-status').innerText()).trim(), '👀 Reviewing PRs');
  const tokyo = await a.evaluate(() => new Intl.DateTimeFormat([], { timeZone: 'Asia/Tokyo', hour: '2-digit', minute: '2-digit', weekday: 'short' }).format(new Date()));
  assert.match(await card.locator('.profile-time').innerText(), new RegExp(`^${tokyo.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(Asia/Tokyo\\)$`));
  assert.equal(await card.locator('.bot-tag').count(), 0, 'a person is no bot');
  await shot(a, 'profile-card');

  // Message: the DM opens on Alice's page; what she sends reaches Bob's sidebar live.
  await card.getByRole('button', { name: 'Message' }).click();
  await card.waitFor({ state: 'detached' });
  const composer = a.getByRole('textbox', { name: 'Message Bob' });
  await composer.waitFor();
  await composer.fill('a word in private');
  await composer.press('Enter');
  const dm = b.locator('.sidebar .side-item', { hasText: 'Alice' });
  await dm.waitFor();
  await dm.click();
  await b.locator('.msg', { hasText: 'a word in private' }).waitFor();

  // One's own card offers to edit, not to message oneself.
  await a.locator('.side-me').getByRole('button', { name: /Alice/ }).click();
  const mine = a.getByRole('dialog', { name: 'Alice' });
  await mine.getByRole('button', { name: 'Edit profile' }).waitFor();
  assert.equal(await mine.getByRole('button', { name: 'Message' }).count(), 0);
  await mine.getByRole('button', { name: 'Close dialog' }).click();

  assert.deepEqual(a.problems, []);
  assert.deepEqual(b.problems, []);
  for (const p of [a, b]) await p.context().close();
});

test('the people directory: search, bots tagged; an edited profile shows live on another member’s page; a refusal is explained', async () => {
  const { alice, bob, ws } = await teamOfTwo(env.server);
  const carol = await signup(env.server, 'Carol');
  const inv = await apiOk(env.server, 'POST', `/workspaces/${ws.id}/invites`, {}, alice.token);
  await apiOk(env.server, 'POST', `/invites/${inv.code}/accept`, undefined, carol.token);
  await apiOk(env.server, 'PATCH', '/me', { status_text: 'Out sick' }, carol.token);
  await apiOk(env.server, 'POST', `/workspaces/${ws.id}/bots`, { name: 'Deploy bot' }, alice.token);

  // Bob opens People from the sidebar.
  const b = await openPage(env.browser, env.server, { user: bob, hash: `#/w/${ws.id}` });
  await b.getByRole('link', { name: 'People' }).click();
  const dir = b.getByRole('region', { name: 'People' });
  await dir.getByText('4 people').waitFor();
  const rows = dir.locator('.person');
  const names = await rows.locator('.person-name strong').allInnerTexts();
  assert.deepEqual(names, ['Alice', 'Bob', 'Carol', 'Deploy bot'], 'people first, then bots');
  await rows.filter({ hasText: 'Deploy bot' }).locator('.bot-tag', { hasText: 'BOT' }).waitFor();
  assert.equal(await rows.filter({ hasText: 'Carol' }).locator('.bot-tag').count(), 0);
  await rows.filter({ hasText: 'Alice' }).locator('.tag', { hasText: 'Owner' }).waitFor();
  const search = dir.getByRole('searchbox', { name: 'Search people' });
  await search.fill('car');
  await dir.getByText('1 of 4 people').waitFor();
  assert.deepEqual(await rows.locator('.person-name strong').allInnerTexts(), ['Carol']);
  await search.fill(`@${bob.username}`);
  assert.deepEqual(await rows.locator('.person-name strong').allInnerTexts(), ['Bob']);
  await search.fill('sick');
  assert.deepEqual(await rows.locator('.person-name strong').allInnerTexts(), ['Carol'], 'found by status');
  await search.fill('nobody-here');
  await dir.getByText('Nobody matches.').waitFor();
  await search.fill('');
  await shot(b, 'people-directory');

  // Alice edits her profile; Bob's open directory follows (user.updated).
  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}` });
  await a.getByRole('textbox', { name: 'Message #general' }).waitFor();
  await a.locator('.side-me').getByRole('button', { name: /Alice/ }).click();
  await a.getByRole('dialog', { name: 'Alice' }).getByRole('button', { name: 'Edit profile' }).click();
  const edit = a.getByRole('dialog', { name: 'Edit your profile' });
  await edit.getByRole('textbox', { name: 'Display name' }).fill('Alice Liddell');
  await edit.getByRole('textbox', { name: 'Status emoji' }).fill('not an emoji');
  await edit.getByRole('textbox', { name: 'Status text' }).fill('On holiday');
  await edit.getByRole('combobox', { name: 'Time zone' }).selectOption('Europe/Berlin');
  await edit.getByRole('button', { name: 'Save' }).click();
  // The server refuses the emoji; the dialog says why and keeps what was typed.
  await edit.getByRole('alert').filter({ hasText: 'The status emoji must be one emoji' }).waitFor();
  assert.equal(await edit.getByRole('textbox', { name: 'Status text' }).inputValue(), 'On holiday');
  await edit.getByRole('textbox', { name: 'Status emoji' }).fill(':palm_tree:');
  await edit.getByRole('alert').waitFor({ state: 'hidden' });
  await edit.getByRole('button', { name: 'Save' }).click();
  await edit.waitFor({ state: 'detached' });
  const me = await apiOk(env.server, 'GET', '/me', undefined, alice.token);
  assert.deepEqual([me.display_name, me.status_emoji, me.status_text, me.time_zone], ['Alice Liddell', '🌴', 'On holiday', 'Europe/Berlin']);
  await a.locator('.side-me', { hasText: 'Alice Liddell' }).waitFor();

  const aliceRow = rows.filter({ hasText: 'Alice Liddell' });
  await aliceRow.waitFor();
  assert.equal((await aliceRow.locator('.status-line').innerText()).trim(), '🌴 On holiday');
  // Her card on Bob's page shows her local time.
  await aliceRow.getByRole('button').click();
  const card = b.getByRole('dialog', { name: 'Alice Liddell' });
  await card.locator('.profile-time', { hasText: '(Europe/Berlin)' }).waitFor();
  await card.getByRole('button', { name: 'Message' }).waitFor();
  await shot(b, 'people-card-live');

  assert.deepEqual(a.problems.filter((p) => !/400 \(Bad Request\)/.test(p)), [], 'only the refused emoji failed');
  assert.deepEqual(b.problems, []);
  for (const p of [a, b]) await p.context().close();
});

test('a picture chosen in one’s profile shows beside one’s messages on another member’s page, live, and goes when removed', async () => {
  const { alice, bob, general } = await teamOfTwo(env.server);
  await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'hello with a face' }, alice.token);
  const b = await openPage(env.browser, env.server, { user: bob });
  const bMsg = b.locator('.channel-view .msg', { hasText: 'hello with a face' });
  await bMsg.waitFor();
  assert.equal(await bMsg.locator('.avatar img').count(), 0, 'initials until there is a picture');

  const a = await openPage(env.browser, env.server, { user: alice });
  await a.getByRole('textbox', { name: 'Message #general' }).waitFor();
  await a.locator('.side-me').getByRole('button', { name: /Alice/ }).click();
  await a.getByRole('dialog', { name: 'Alice' }).getByRole('button', { name: 'Edit profile' }).click();
  const edit = a.getByRole('dialog', { name: 'Edit your profile' });
  // A 1×1 PNG: the server makes a 256 px square of it.
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
  const [chooser] = await Promise.all([a.waitForEvent('filechooser'), edit.getByRole('button', { name: 'Choose a picture…' }).click()]);
  await chooser.setFiles({ name: 'me.png', mimeType: 'image/png', buffer: png });
  const loaded = (/** @type {import('playwright-core').Locator} */ img) =>
    img.evaluate((el) => new Promise((resolve) => {
      const done = () => resolve(/** @type {HTMLImageElement} */ (el).naturalWidth);
      if (/** @type {HTMLImageElement} */ (el).complete && /** @type {HTMLImageElement} */ (el).naturalWidth) done();
      else el.addEventListener('load', done, { once: true });
    }));
  assert.equal(await loaded(edit.locator('.picture-preview img.avatar-picture')), 256, 'the server’s square picture');

  // Bob's page follows (user.updated): the picture is beside her message.
  const bPicture = bMsg.locator('.avatar img.avatar-picture');
  await bPicture.waitFor();
  assert.equal(await loaded(bPicture), 256);

  await edit.getByRole('button', { name: 'Remove picture' }).click();
  await edit.getByRole('button', { name: 'Remove picture' }).waitFor({ state: 'hidden' });
  await bPicture.waitFor({ state: 'detached' });
  assert.deepEqual(a.problems, []);
  assert.deepEqual(b.problems, []);
  await a.context().close();
  await b.context().close();
});
