// consent.test.js — the Privacy & AI page: an owner opts in to one purpose with an
// explicit, never pre-ticked agreement, previews the data, withdraws, and the server's
// signed history records both; a member cannot change the workspace's consent.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, teamOfTwo, openPage, shot, apiOk, api, hasEndpoint, until } from './helpers.js';

const env = serverAndBrowser();

const PURPOSE = 'emoji_suggestions';

test('the owner opts in, previews, withdraws; the history shows both', async () => {
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  assert.ok(await hasEndpoint(env.server, `/workspaces/${ws.id}/consent`, alice.token), 'the server serves consent');
  const m = await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'ship it today' }, bob.token);
  await apiOk(env.server, 'PUT', `/messages/${m.id}/reactions/rocket`, undefined, alice.token);

  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/privacy` });
  const card = a.locator(`article.purpose[data-purpose="${PURPOSE}"]`);
  await card.waitFor();
  assert.equal(await card.locator('.state').innerText(), 'Off', 'off by default');

  await card.getByRole('button', { name: 'Preview what would be shared' }).click();
  await card.locator('.preview-body').waitFor();

  await card.getByRole('button', { name: 'Opt in…' }).click();
  const agree = card.getByLabel(/I have read the policy/);
  const confirm = card.getByRole('button', { name: 'Confirm opt-in' });
  assert.equal(await agree.isChecked(), false, 'never pre-ticked');
  assert.equal(await confirm.isDisabled(), true, 'cannot confirm without agreeing');
  assert.equal(await card.getByLabel(/Each member opts in themselves/).isChecked(), true, 'opt_in preselected');
  await agree.check();
  await shot(a, 'consent-grant-form');
  const put = a.waitForRequest((r) => r.method() === 'PUT' && r.url().endsWith(`/consent/${PURPOSE}`));
  await confirm.click();
  const body = JSON.parse((await put).postData());
  assert.equal(body.granted, true);
  assert.equal(body.accept, true);
  assert.equal(body.members, 'opt_in');
  assert.ok(body.policy_sha256 && body.policy_version !== undefined);
  await card.locator('.state', { hasText: 'On' }).waitFor();
  await shot(a, 'consent-granted');

  await card.getByRole('button', { name: 'Withdraw consent' }).click();
  await card.locator('.state', { hasText: 'Off' }).waitFor();
  await a.locator('.history-table tr[data-type="grant"]').waitFor();
  await a.locator('.history-table tr[data-type="withdraw"]').waitFor();
  await shot(a, 'consent-history');

  const hist = await until(async () => {
    const r = await apiOk(env.server, 'GET', `/workspaces/${ws.id}/consent/history`, undefined, alice.token);
    const entries = Array.isArray(r) ? r : r.entries;
    return entries.length >= 2 ? entries : null;
  }, { message: 'two history entries' });
  const types = hist.map((e) => (e.action ? e.action.type : e.type));
  assert.ok(types.includes('grant') && types.includes('withdraw'), `history: ${types}`);
  const g = types.indexOf('grant');
  const w = types.indexOf('withdraw');
  assert.ok(g < w);
  assert.equal(hist[w].prev_hash, hist[w - 1].hash, 'hash chain');
  assert.deepEqual(a.problems, []);
  await a.context().close();
});

test('a member sees the state but cannot change the workspace consent', async () => {
  const { alice, bob, ws } = await teamOfTwo(env.server);
  assert.ok(await hasEndpoint(env.server, `/workspaces/${ws.id}/consent`, bob.token), 'the server serves consent');
  const b = await openPage(env.browser, env.server, { user: bob, hash: `#/w/${ws.id}/privacy` });
  const card = b.locator(`article.purpose[data-purpose="${PURPOSE}"]`);
  await card.waitFor();
  await b.locator('.who', { hasText: 'Only workspace owners can change these settings' }).waitFor();
  assert.match(await b.locator('.who').innerText(), new RegExp(`@${alice.username}`), 'names the owners');
  assert.equal(await b.getByRole('button', { name: 'Opt in…' }).count(), 0);
  assert.equal(await b.getByRole('button', { name: 'Withdraw consent' }).count(), 0);
  // Their own key is theirs to set.
  await card.locator('button[data-action]', { hasText: /my data/ }).click();
  await b.locator(`article.purpose[data-purpose="${PURPOSE}"] .member-key`).waitFor();
  await shot(b, 'consent-member');
  // And the server refuses a member's grant.
  const r = await api(env.server, 'PUT', `/workspaces/${ws.id}/consent/${PURPOSE}`, { granted: false }, bob.token);
  assert.equal(r.status, 403);
  assert.deepEqual(b.problems, []);
  await b.context().close();
});

test('the history labels a member’s sealed key: "a member changed their own key" for others, their choice for themselves', async () => {
  const { alice, bob, ws } = await teamOfTwo(env.server);
  assert.ok(await hasEndpoint(env.server, `/workspaces/${ws.id}/consent`, alice.token), 'the server serves consent');
  const policy = (await apiOk(env.server, 'GET', '/consent/policies', undefined, alice.token)).policies.find((p) => p.purpose === PURPOSE);
  await apiOk(env.server, 'PUT', `/workspaces/${ws.id}/consent/${PURPOSE}`, {
    granted: true, scope: 'workspace', categories: policy.categories, members: 'opt_in', policy_version: policy.version, policy_sha256: policy.sha256, accept: true,
  }, alice.token);
  // Bob includes his own data: a sealed entry, whose opening only Bob is shown.
  await apiOk(env.server, 'PUT', `/workspaces/${ws.id}/consent/${PURPOSE}/me`, { included: true }, bob.token);

  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/privacy` });
  const aRow = a.locator('.history-table tr[data-type="member_set"]');
  await aRow.waitFor();
  assert.match(await aRow.innerText(), /A member changed their own key for emoji suggestions/);
  assert.doesNotMatch(await aRow.innerText(), /Excluded|Included|Bob/, 'nothing about who or which way');
  await shot(a, 'consent-history-sealed');

  const b = await openPage(env.browser, env.server, { user: bob, hash: `#/w/${ws.id}/privacy` });
  const bRow = b.locator('.history-table tr[data-type="member_set"]');
  await bRow.waitFor();
  assert.match(await bRow.innerText(), /Included their own data for emoji suggestions/);
  assert.match(await bRow.innerText(), /Bob \(you\)/);
  assert.deepEqual(a.problems, []);
  assert.deepEqual(b.problems, []);
  await a.context().close();
  await b.context().close();
});
