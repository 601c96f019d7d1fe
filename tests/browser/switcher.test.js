// switcher.test.js — getting around by keyboard: Ctrl+K opens the quick switcher,
// which jumps to a channel or to a person's direct message (opened if need be);
// search has its own keys (Ctrl+G, and "/" outside a text field); Alt+Up/Down step
// through the sidebar's channels.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, teamOfTwo, openPage, shot, apiOk } from './helpers.js';

const env = serverAndBrowser();

test('Ctrl+K jumps to a channel or a person; Ctrl+G and "/" go to search', async () => {
  const { alice, bob, ws } = await teamOfTwo(env.server);
  const eng = await apiOk(env.server, 'POST', `/workspaces/${ws.id}/channels`, { name: 'engineering' }, alice.token);
  await apiOk(env.server, 'POST', `/workspaces/${ws.id}/channels`, { name: 'design-reviews' }, alice.token);
  const a = await openPage(env.browser, env.server, { user: alice });
  const general = a.getByRole('textbox', { name: 'Message #general' });
  await general.waitFor();

  // A channel, from the composer, by the start of its name.
  await general.press('Control+k');
  const dialog = a.getByRole('dialog', { name: 'Jump to a conversation' });
  const input = dialog.getByRole('combobox', { name: 'Channel or person' });
  await input.waitFor();
  assert.ok(await input.evaluate((el) => el === document.activeElement), 'the switcher takes the focus');
  await input.fill('eng');
  const options = dialog.getByRole('option');
  await options.filter({ hasText: '#engineering' }).first().waitFor();
  assert.match(await options.first().innerText(), /#engineering/);
  assert.equal(await options.first().getAttribute('aria-selected'), 'true');
  await shot(a, 'quick-switcher');
  await input.press('Enter');
  await a.getByRole('textbox', { name: 'Message #engineering' }).waitFor();
  await dialog.waitFor({ state: 'detached' });
  assert.match(a.url(), new RegExp(`/c/${eng.id}$`));

  // A person without a conversation yet: the DM is opened.
  await a.keyboard.press('Control+k');
  await input.fill('bo');
  await options.filter({ hasText: 'Bob' }).first().waitFor();
  // Arrow keys choose; Enter goes to the chosen one.
  const labels = await options.allInnerTexts();
  const bobAt = labels.findIndex((t) => t.includes('Bob'));
  for (let i = 0; i < bobAt; i++) await input.press('ArrowDown');
  assert.equal(await options.nth(bobAt).getAttribute('aria-selected'), 'true');
  await input.press('Enter');
  await a.getByRole('textbox', { name: 'Message Bob' }).waitFor();
  const dms = (await apiOk(env.server, 'GET', `/workspaces/${ws.id}/channels`, undefined, bob.token)).channels.filter((c) => c.kind === 'dm');
  assert.equal(dms.length, 1, 'the DM exists for Bob too');

  // Esc closes it without going anywhere.
  await a.keyboard.press('Control+k');
  await input.fill('design');
  await a.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  await a.getByRole('textbox', { name: 'Message Bob' }).waitFor();

  // Search keeps its own keys.
  const search = a.getByRole('searchbox', { name: 'Search messages' });
  await a.getByRole('textbox', { name: 'Message Bob' }).press('Control+g');
  assert.ok(await search.evaluate((el) => el === document.activeElement), 'Ctrl+G focuses search');
  // Outside a text field (nothing focused), "/" goes to search too.
  await search.evaluate((el) => el.blur());
  await a.keyboard.press('/');
  assert.ok(await search.evaluate((el) => el === document.activeElement), '"/" focuses search');
  assert.equal(await search.inputValue(), '', 'the slash is not typed into it');
  // In a text field, "/" is just a character.
  const box = a.getByRole('textbox', { name: 'Message Bob' });
  await box.click();
  await box.press('/');
  assert.equal(await box.inputValue(), '/');
  assert.deepEqual(a.problems, []);
  await a.context().close();
});

test('Alt+Down and Alt+Up step through the sidebar’s channels', async () => {
  const { alice, ws } = await teamOfTwo(env.server);
  for (const name of ['alpha', 'beta']) await apiOk(env.server, 'POST', `/workspaces/${ws.id}/channels`, { name }, alice.token);
  const a = await openPage(env.browser, env.server, { user: alice });
  const alpha = a.getByRole('textbox', { name: 'Message #alpha' });
  const beta = a.getByRole('textbox', { name: 'Message #beta' });
  const general = a.getByRole('textbox', { name: 'Message #general' });
  await general.waitFor();
  // The sidebar's order: alpha, beta, general.
  const order = await a.locator('.side-section').first().locator('.side-name').allInnerTexts();
  assert.deepEqual(order, ['alpha', 'beta', 'general']);
  await general.press('Alt+ArrowUp');
  await beta.waitFor();
  await a.keyboard.press('Alt+ArrowUp');
  await alpha.waitFor();
  await a.keyboard.press('Alt+ArrowDown');
  await beta.waitFor();
  assert.equal(await a.locator('.side-item.active .side-name').innerText(), 'beta');
  assert.deepEqual(a.problems, []);
  await a.context().close();
});
