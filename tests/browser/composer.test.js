// composer.test.js — writing messages: the character counter near the server's limit
// and a too-long text that is kept with an error written for people; markdown
// (strike, links to http/https/mailto only, lists) rendered safely; the composer's
// emoji button; ":" autocomplete putting names that start with what was typed first;
// the reaction picker suggesting from the message’s own words.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, teamOfTwo, openPage, shot, apiOk } from './helpers.js';

const env = serverAndBrowser();

test('near the limit a counter shows; a too-long message is kept, not sent, and says by how much', async () => {
  const { alice, general } = await teamOfTwo(env.server);
  const features = await apiOk(env.server, 'GET', '/features');
  const max = features.max_message_chars;
  assert.equal(typeof max, 'number', 'the server says its limit');
  const a = await openPage(env.browser, env.server, { user: alice });
  const box = a.getByRole('textbox', { name: 'Message #general' });
  await box.waitFor();
  const counter = a.locator('.composer .char-count');
  await box.fill('a short line');
  assert.equal(await counter.isVisible(), false, 'no counter far from the limit');
  await box.fill('x'.repeat(max - 50));
  await counter.filter({ hasText: '50 characters left' }).waitFor();

  const tooLong = `${'y'.repeat(max + 2139)}!`;
  await box.fill(tooLong);
  await counter.filter({ hasText: '2,140 over the limit' }).waitFor();
  await box.press('Enter');
  const error = a.locator('.composer [role=alert]');
  await error.filter({ hasText: 'Your message is 2,140 characters too long' }).waitFor();
  assert.equal(await box.inputValue(), tooLong, 'the text stays in the box');
  await a.getByRole('button', { name: 'Send message' }).click();
  assert.equal(await box.inputValue(), tooLong, 'the button does not send it either');
  // Nothing was sent, nothing waits to be sent.
  assert.equal(await a.locator('.channel-view .msg.pending').count(), 0);
  const history = await apiOk(env.server, 'GET', `/channels/${general.id}/messages?limit=5`, undefined, alice.token);
  assert.ok(!history.messages.some((m) => m.text.startsWith('yyy')), 'not posted');
  await shot(a, 'composer-too-long');

  // The error stays while the text is too long, counting down as it shrinks.
  await box.press('End');
  await box.press('Backspace');
  await error.filter({ hasText: '2,139 characters too long' }).waitFor();
  // Once it fits, the error goes and the message is sent.
  await box.fill('y'.repeat(max));
  await error.waitFor({ state: 'hidden' });
  await counter.filter({ hasText: '0 characters left' }).waitFor();
  await box.press('Enter');
  await a.locator('.channel-view .msg:not(.pending)', { hasText: 'yyyy' }).waitFor();
  assert.equal(await box.inputValue(), '');
  await counter.waitFor({ state: 'hidden' });
  assert.deepEqual(a.problems, []);
  await a.context().close();
});

test('an edit past the limit is kept in its box with the error, and saved once it fits', async () => {
  const { alice, general } = await teamOfTwo(env.server);
  const max = (await apiOk(env.server, 'GET', '/features')).max_message_chars;
  const posted = await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'first draft' }, alice.token);
  const a = await openPage(env.browser, env.server, { user: alice });
  const msg = a.locator('.channel-view .msg', { hasText: 'first draft' });
  await msg.hover();
  await msg.getByRole('button', { name: 'Edit message' }).click();
  const edit = a.getByRole('textbox', { name: 'Edit message' });
  const tooLong = 'z'.repeat(max + 5);
  await edit.fill(tooLong);
  await edit.press('Enter');
  const error = a.locator('.editor [role=alert]');
  await error.filter({ hasText: 'Your message is 5 characters too long' }).waitFor();
  assert.equal(await edit.inputValue(), tooLong, 'the edit stays in its box');
  const stored = await apiOk(env.server, 'GET', `/messages/${posted.id}`, undefined, alice.token);
  assert.equal(stored.text, 'first draft', 'nothing was sent');
  await edit.fill('second draft');
  await error.waitFor({ state: 'hidden' });
  await edit.press('Enter');
  await a.locator('.channel-view .msg', { hasText: 'second draft' }).waitFor();
  await edit.waitFor({ state: 'detached' });
  assert.deepEqual(a.problems, []);
  await a.context().close();
});

test('strike, links and lists render, and only safe links become links', async () => {
  const { alice, bob, general } = await teamOfTwo(env.server);
  const text = [
    'Plan: ~~Friday~~ Monday, see [the docs](https://example.com/docs?x=1) or [mail us](mailto:team@example.com).',
    'Not links: [click](javascript:alert(1)) [data](data:text/html,hi) and www.example.org works',
    '- first item',
    '- second **bold** item',
    '3. third',
    '4. fourth',
  ].join('\n');
  await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text }, bob.token);
  const a = await openPage(env.browser, env.server, { user: alice });
  const msg = a.locator('.channel-view .msg', { hasText: 'Plan:' });
  await msg.waitFor();
  const body = msg.locator('.msg-text');
  assert.equal(await body.locator('del').innerText(), 'Friday');
  const docs = body.getByRole('link', { name: 'the docs' });
  assert.equal(await docs.getAttribute('href'), 'https://example.com/docs?x=1');
  assert.equal(await docs.getAttribute('target'), '_blank');
  assert.match(await docs.getAttribute('rel'), /\bnoopener\b/);
  assert.match(await docs.getAttribute('rel'), /\bnoreferrer\b/);
  assert.equal(await body.getByRole('link', { name: 'mail us' }).getAttribute('href'), 'mailto:team@example.com');
  assert.equal(await body.getByRole('link', { name: 'www.example.org' }).getAttribute('href'), 'https://www.example.org/');
  // Other schemes stay as the text that was written.
  assert.equal(await body.locator('a[href^="javascript:"], a[href^="data:"]').count(), 0);
  assert.match(await body.innerText(), /\[click\]\(javascript:alert\(1\)\)/);
  assert.equal(await body.locator('a').count(), 3);
  assert.deepEqual(await body.locator('ul > li').allInnerTexts(), ['first item', 'second bold item']);
  assert.equal(await body.locator('ul > li strong').innerText(), 'bold');
  assert.deepEqual(await body.locator('ol > li').allInnerTexts(), ['third', 'fourth']);
  assert.equal(await body.locator('ol').getAttribute('start'), '3');
  await shot(a, 'markdown');
  assert.deepEqual(a.problems, []);
  await a.context().close();
});

test('the emoji button inserts the chosen emoji where the cursor is', async () => {
  const { alice } = await teamOfTwo(env.server);
  const a = await openPage(env.browser, env.server, { user: alice });
  const box = a.getByRole('textbox', { name: 'Message #general' });
  await box.waitFor();
  await box.fill('Ship it now');
  await box.evaluate((el) => el.setSelectionRange(7, 7)); // after "Ship it"
  await a.locator('.composer').getByRole('button', { name: 'Add emoji' }).click();
  const picker = a.getByRole('dialog', { name: 'Choose an emoji' });
  await picker.getByRole('button', { name: 'party popper' }).first().click();
  await picker.waitFor({ state: 'detached' });
  assert.equal(await box.inputValue(), 'Ship it🎉 now');
  assert.ok(await box.evaluate((el) => el === document.activeElement), 'focus is back in the box');
  await box.press('Enter');
  await a.locator('.channel-view .msg:not(.pending)', { hasText: 'Ship it🎉 now' }).waitFor();
  assert.deepEqual(a.problems, []);
  await a.context().close();
});

test('":smi" offers emoji whose names start with "smi" before a favourite that only shares a word', async () => {
  const { alice, bob, general } = await teamOfTwo(env.server);
  // 😂 becomes the workspace's and Alice's favourite.
  for (let i = 0; i < 6; i++) {
    const m = await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: `funny ${i}` }, bob.token);
    await apiOk(env.server, 'PUT', `/messages/${m.id}/reactions/joy`, undefined, alice.token);
  }
  const a = await openPage(env.browser, env.server, { user: alice });
  const box = a.getByRole('textbox', { name: 'Message #general' });
  await box.waitFor();
  await box.pressSequentially(':smi', { delay: 15 });
  const options = a.getByRole('listbox', { name: 'Suggestions' }).getByRole('option');
  await options.first().waitFor();
  const first = await options.first().innerText();
  assert.match(first, /:smi/, `first suggestion ${first}`);
  assert.doesNotMatch(first, /:joy:/);
  await shot(a, 'emoji-autocomplete-smi');
  assert.deepEqual(a.problems, []);
  await a.context().close();
});

test('the reaction picker suggests from the message’s own words', async () => {
  const { alice, bob, general } = await teamOfTwo(env.server);
  await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'Hello team, first message' }, bob.token);
  const a = await openPage(env.browser, env.server, { user: alice });
  const msg = a.locator('.channel-view .msg', { hasText: 'Hello team, first message' });
  await msg.waitFor();
  const asked = a.waitForRequest((r) => r.url().includes('/emoji/suggest?') && r.url().includes('text='));
  await msg.hover();
  await msg.getByRole('button', { name: 'Add reaction' }).first().click();
  const req = await asked;
  assert.equal(new URL(req.url()).searchParams.get('text'), 'Hello team, first message');
  const suggested = a.getByRole('dialog', { name: 'Choose a reaction' }).getByRole('group', { name: 'Suggested' });
  // The server's answer replaces the row the picker opened with.
  await suggested.getByRole('button', { name: 'waving hand' }).waitFor();
  assert.equal(await suggested.getByRole('button').first().getAttribute('aria-label'), 'waving hand');
  const shown = await suggested.getByRole('button').allInnerTexts();
  assert.ok(!shown.includes('🌓') && !shown.includes('🌛'), `no moons for "first": ${shown.join(' ')}`);
  await shot(a, 'reaction-picker-suggested');
  assert.deepEqual(a.problems, []);
  await a.context().close();
});
