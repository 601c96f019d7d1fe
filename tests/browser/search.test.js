// search.test.js — searching with operators, highlighted snippets, and opening a
// hit in context (history loaded around it, scrolled to and flashed); paging with
// "Load more", has:link as the messages show links, snippets as safe markdown with
// their highlights, DM hits labelled with the person.

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

/** Searches through the top bar and waits for the panel's first answer. */
async function searchFor(page, q) {
  const box = page.getByRole('searchbox', { name: 'Search messages' });
  await box.fill(q);
  await box.press('Enter');
  const summary = page.locator('.search-panel .panel-scroll > p').first();
  await summary.filter({ hasNotText: 'Searching…' }).waitFor();
  return { results: page.getByRole('list', { name: 'Search results' }), summary };
}

/**
 * Waits until the server's search for `q` counts `total` hits, asking as someone
 * other than the page's user: searches are rate-limited per user.
 */
async function indexed(ws, q, total, token) {
  await until(async () => {
    const r = await api(env.server, 'GET', `/workspaces/${ws.id}/search?q=${encodeURIComponent(q)}&limit=1`, undefined, token);
    return r.status === 200 && r.data.total === total;
  }, { message: `${total} hits for ${q}`, interval: 250 });
}

test('results page with Load more until every hit is shown, each once', async () => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  for (let i = 0; i < 45; i++) await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: `pagination probe ${i}` }, alice.token);
  await indexed(ws, 'pagination', 45, bob.token);
  const a = await openPage(env.browser, env.server, { user: alice });
  await a.getByRole('textbox', { name: 'Message #general' }).waitFor();
  const { results, summary } = await searchFor(a, 'pagination');
  const hits = results.locator('.search-hit');
  assert.equal(await hits.count(), 20);
  assert.equal(await summary.innerText(), 'Showing 20 of 45 results');
  const more = a.getByRole('button', { name: 'Load more' });
  await more.click();
  await summary.filter({ hasText: 'Showing 40 of 45 results' }).waitFor();
  assert.equal(await hits.count(), 40);
  // The first new hit takes the focus, so the keyboard reads on from there.
  assert.equal(await a.evaluate(() => document.activeElement?.closest('.search-hit') === document.querySelectorAll('.search-hit')[20]), true);
  await more.click();
  await summary.filter({ hasText: /^45 results$/ }).waitFor();
  await more.waitFor({ state: 'hidden' });
  const texts = await hits.locator('.snippet').allInnerTexts();
  assert.equal(new Set(texts).size, 45, 'every hit once');
  assert.deepEqual(a.problems, []);
  await a.context().close();
});

test('has:link finds links the way messages show them, not words with "www." in them', async () => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  for (const text of ['Awwww. linkcheck so sweet', 'linkcheck notes at https://example.com/notes', 'linkcheck [the guide](https://example.com/guide)', 'linkcheck node.js and 10:30']) {
    await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text }, alice.token);
  }
  await indexed(ws, 'linkcheck', 4, bob.token);
  const a = await openPage(env.browser, env.server, { user: alice });
  await a.getByRole('textbox', { name: 'Message #general' }).waitFor();
  const { results, summary } = await searchFor(a, 'linkcheck has:link');
  assert.equal(await summary.innerText(), '2 results');
  const texts = (await results.locator('.snippet').allInnerTexts()).sort();
  assert.deepEqual(texts, ['linkcheck notes at https://example.com/notes', 'linkcheck the guide']);
  // The message itself shows the same two as links.
  await a.locator('.channel-view .msg', { hasText: 'Awwww.' }).waitFor();
  assert.equal(await a.locator('.channel-view .msg', { hasText: 'linkcheck' }).locator('.msg-text a').count(), 2);
  assert.deepEqual(a.problems, []);
  await a.context().close();
});

test('snippets render markdown safely with the highlights kept, and DM hits name the person', async () => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: '**Bold** roadmap with ~~old~~ `code` and <img src=x onerror="alert(1)">' }, bob.token);
  const dm = await apiOk(env.server, 'POST', `/workspaces/${ws.id}/dms`, { users: [alice.id] }, bob.token);
  await apiOk(env.server, 'POST', `/channels/${dm.id}/messages`, { text: 'the private roadmap' }, bob.token);
  await indexed(ws, 'roadmap', 2, bob.token);
  const a = await openPage(env.browser, env.server, { user: alice });
  await a.getByRole('textbox', { name: 'Message #general' }).waitFor();
  const { results } = await searchFor(a, 'roadmap');
  const pub = results.locator('.search-hit', { hasText: 'Bold' });
  const snippet = pub.locator('.snippet');
  assert.equal(await snippet.locator('strong').innerText(), 'Bold');
  assert.equal(await snippet.locator('del').innerText(), 'old');
  assert.equal(await snippet.locator('code').innerText(), 'code');
  assert.equal(await snippet.locator('mark').innerText(), 'roadmap');
  assert.doesNotMatch(await snippet.innerText(), /\*\*|~~|`/);
  assert.match(await snippet.innerText(), /<img src=x onerror="alert\(1\)">/, 'HTML shows as text');
  assert.equal(await snippet.locator('img').count(), 0);
  assert.match(await pub.locator('.hit-meta').innerText(), /in #general/);
  const priv = results.locator('.search-hit', { hasText: 'private' });
  assert.match(await priv.locator('.hit-meta').innerText(), /Direct message with Bob/);
  assert.doesNotMatch(await priv.locator('.hit-meta').innerText(), / in Bob/);
  await shot(a, 'search-markdown-snippets');
  assert.deepEqual(a.problems, []);
  await a.context().close();
});
