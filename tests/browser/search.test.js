// search.test.js — searching with operators, highlighted snippets, and opening a
// hit in context (history loaded around it, scrolled to and flashed). Skips when the
// server has no search endpoint yet.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, teamOfTwo, openPage, shot, apiOk, api, hasEndpoint, until } from './helpers.js';

const env = serverAndBrowser();

test('search finds a message and opens it in context', async () => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  assert.ok(await hasEndpoint(env.server, `/workspaces/${ws.id}/search?q=x&limit=1`, alice.token), 'the server serves search');
  const target = await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'The quarterly deploy checklist lives in the wiki' }, bob.token);
  // Enough later messages that the target is not in the first page of history.
  for (let i = 0; i < 70; i++) await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: `filler message number ${i}` }, i % 2 ? alice.token : bob.token);
  await until(async () => {
    const r = await api(env.server, 'GET', `/workspaces/${ws.id}/search?q=${encodeURIComponent('checklist')}&limit=5`, undefined, alice.token);
    return r.status === 200 && r.data.hits.length > 0;
  }, { message: 'the message to be searchable' });

  const a = await openPage(env.browser, env.server, { user: alice });
  await a.locator('.msg', { hasText: 'filler message number 69' }).waitFor();
  assert.equal(await a.locator('.msg', { hasText: 'quarterly deploy' }).count(), 0, 'target not loaded yet');
  const box = a.getByRole('searchbox', { name: 'Search messages' });
  await box.fill(`checklist from:@${bob.username} in:#general -nothing`);
  await box.press('Enter');
  const results = a.getByRole('list', { name: 'Search results' });
  const hit = results.locator('.search-hit').first();
  await hit.waitFor();
  assert.match(await hit.locator('mark').first().innerText(), /checklist/i);
  await shot(a, 'search-results');
  const click = a.waitForRequest((r) => r.url().includes('/search/clicks') && r.method() === 'POST');
  await hit.getByRole('button').click();
  const req = await click;
  assert.equal(JSON.parse(req.postData()).message, target.id);
  const opened = a.locator(`.channel-view .msg[data-id="${target.id}"]`);
  await opened.waitFor();
  await a.locator(`.channel-view .msg.flash[data-id="${target.id}"]`).waitFor();
  assert.ok(await opened.isVisible(), 'scrolled into view');
  await shot(a, 'search-opened');
  assert.deepEqual(a.problems, []);
  await a.context().close();
});

test('an invalid query shows the server’s message', async () => {
  const { alice, ws } = await teamOfTwo(env.server);
  assert.ok(await hasEndpoint(env.server, `/workspaces/${ws.id}/search?q=x&limit=1`, alice.token), 'the server serves search');
  const a = await openPage(env.browser, env.server, { user: alice });
  const box = a.getByRole('searchbox', { name: 'Search messages' });
  await box.fill('frm:bob deploy');
  await box.press('Enter');
  await a.locator('.search-panel .error', { hasText: 'Invalid query' }).waitFor();
  await a.context().close();
});
