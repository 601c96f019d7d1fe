// privacy.test.js — the Privacy & AI page for an owner who is not an engineer, two
// users side by side: each purpose says in plain words what is learned, from what,
// who sees the result and how to stop it, with hashes behind "Details for auditors"
// and the policy as formatted text; a member's preview shows their own data only
// (never another member's text), and a withdrawal takes the preview away on both
// pages; the Models section says when a model was trained, from what, whether it is
// used and why, its quality against the default, and why it was retired; a training
// run's history row names no "Unknown user".

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, teamOfTwo, openPage, shot, apiOk, signup } from './helpers.js';

// Small teams are enough for an emoji model (a word needs 2 members, not the default).
process.env.CONFAB_TRAINING_MIN_USERS_PER_WORD = '2';
const env = serverAndBrowser();
const PURPOSE = 'emoji_suggestions';

/** The server's first account is its administrator, member of no workspace here:
 * every test signs it up first. */
let root;
const rootUser = async () => (root ??= await signup(env.server, 'Root'));

async function grant(server, owner, ws, members = 'opt_out') {
  const policy = (await apiOk(server, 'GET', '/consent/policies', undefined, owner.token)).policies.find((p) => p.purpose === PURPOSE);
  await apiOk(server, 'PUT', `/workspaces/${ws.id}/consent/${PURPOSE}`, {
    granted: true, scope: 'workspace', categories: policy.categories, members, policy_version: policy.version, policy_sha256: policy.sha256, accept: true,
  }, owner.token);
  return policy;
}

test('plain words first, hashes for auditors, the policy formatted; a member previews only their own data; a withdrawal takes the preview away live', async () => {
  await rootUser();
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'alice wrote the roadmap' }, alice.token);
  await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: 'bob likes pizza fridays' }, bob.token);
  // A text file of bob's: under `files` (granted below: every category the purpose may read) it is shared too.
  const uploaded = await fetch(`${env.server.apiUrl}/api/v1/channels/${general.id}/files?name=bob-recipes.txt&text=my%20recipes`, {
    method: 'POST', headers: { Authorization: `Bearer ${bob.token}` }, body: 'margherita needs basil',
  });
  assert.equal(uploaded.status, 201);
  const policy = await grant(env.server, alice, ws);
  assert.ok(policy.categories.includes('files'), 'emoji suggestions may read files');

  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/privacy` });
  const b = await openPage(env.browser, env.server, { user: bob, hash: `#/w/${ws.id}/privacy` });
  const aCard = a.locator(`article.purpose[data-purpose="${PURPOSE}"]`);
  const bCard = b.locator(`article.purpose[data-purpose="${PURPOSE}"]`);
  await aCard.locator('.state', { hasText: 'On' }).waitFor();

  // The summary, in words; no hash on show until "Details for auditors" is opened.
  const summary = aCard.locator('dl.summary');
  for (const term of ['What is learned', 'From what', 'Who sees the result', 'How to stop it']) {
    await summary.locator('dt', { hasText: term }).waitFor();
  }
  assert.match(await summary.innerText(), /Only this workspace/);
  assert.match(await summary.innerText(), /Withdraw consent/);
  const hash = aCard.getByText(policy.sha256, { exact: false }).first();
  assert.equal(await hash.isVisible(), false, 'the policy hash is for auditors');
  await aCard.locator('details.auditors > summary').first().click();
  await hash.waitFor();
  // The policy: formatted (headings, bold, lists), not raw markdown.
  await aCard.locator('details.policy > summary').click();
  const text = aCard.locator('.policy-text');
  await text.locator('h4', { hasText: 'What is read' }).waitFor();
  assert.ok(await text.locator('strong', { hasText: 'public channels' }).count() > 0);
  assert.ok(await text.locator('li').count() > 0);
  assert.doesNotMatch(await text.innerText(), /^#|\*\*/m, 'no markdown syntax on show');
  await shot(a, 'privacy-owner');

  // Bob (a member): the preview works and holds only his own message.
  await bCard.getByRole('button', { name: 'Preview what would be shared' }).click();
  const bPreview = bCard.locator('.preview-body');
  await bPreview.waitFor();
  await bCard.locator('.preview h3', { hasText: 'What of your data' }).waitFor();
  await bPreview.locator('summary', { hasText: 'Sample of messages' }).click();
  await bPreview.getByText('bob likes pizza fridays').waitFor();
  // His file, named, with the start of its text.
  await bPreview.locator('summary', { hasText: 'Sample of files' }).click();
  await bPreview.getByText(/file “bob-recipes\.txt” \(text\/plain.*margherita needs basil/).waitFor();
  assert.doesNotMatch(await bPreview.innerText(), /alice wrote the roadmap/, 'another member’s text in a member’s preview');
  assert.equal(await bCard.locator('.preview .error').count(), 0);
  await shot(b, 'privacy-member-preview');

  // Alice previews too (the workspace's), then withdraws: the preview goes, on both pages.
  await aCard.getByRole('button', { name: 'Preview what would be shared' }).click();
  await aCard.locator('.preview-body').waitFor();
  await aCard.getByRole('button', { name: 'Withdraw consent' }).click();
  await aCard.locator('.state', { hasText: 'Off' }).waitFor();
  await bCard.locator('.state', { hasText: 'Off' }).waitFor();
  assert.equal(await aCard.locator('.preview-body').count(), 0, 'the owner’s preview outlived the withdrawal');
  assert.equal(await bCard.locator('.preview-body').count(), 0, 'the member’s preview outlived the withdrawal');
  // A preview now says nothing would be read.
  await bCard.getByRole('button', { name: 'Preview what would be shared' }).click();
  await bCard.locator('.preview-body', { hasText: 'Nothing would be read' }).waitFor();

  assert.deepEqual(a.problems, []);
  assert.deepEqual(b.problems, []);
  for (const p of [a, b]) await p.context().close();
});

test('Models: when, from what, whether used and why, quality; a retired model says why; a training run is no "Unknown user"', async () => {
  const admin = await rootUser();
  const { alice, bob, ws, general } = await teamOfTwo(env.server);
  const members = [alice, bob];
  for (const name of ['Carol', 'Dan']) {
    const u = await signup(env.server, name);
    const inv = await apiOk(env.server, 'POST', `/workspaces/${ws.id}/invites`, {}, alice.token);
    await apiOk(env.server, 'POST', `/invites/${inv.code}/accept`, undefined, u.token);
    members.push(u);
  }
  for (const [i, author] of members.entries()) {
    for (let j = 0; j < 4; j++) {
      const m = await apiOk(env.server, 'POST', `/channels/${general.id}/messages`, { text: `pizza party number ${i}${j}` }, author.token);
      for (const r of members.filter((x) => x !== author)) await apiOk(env.server, 'PUT', `/messages/${m.id}/reactions/tada`, undefined, r.token);
    }
  }
  await grant(env.server, alice, ws);
  const run = await apiOk(env.server, 'POST', '/admin/train', { purpose: PURPOSE }, admin.token);
  assert.equal(run.runs[0].models.length, 1, JSON.stringify(run));

  // Bob (a member) sees no models; Alice (owner) sees the one, in words.
  const b = await openPage(env.browser, env.server, { user: bob, hash: `#/w/${ws.id}/privacy` });
  await b.locator('.models', { hasText: 'Owners and admins see here' }).waitFor();
  const a = await openPage(env.browser, env.server, { user: alice, hash: `#/w/${ws.id}/privacy` });
  const model = a.locator('.models li.model');
  await model.waitFor();
  const words = await model.innerText();
  assert.match(words, /Emoji suggestions — this workspace’s own model/);
  assert.match(words, /Trained/);
  assert.match(words, /message text of public channels, reactions.* \(this workspace’s public channels only\), from \d+ members?/);
  assert.match(words, /(Better|Not better) than the default: [\d.]+% against [\d.]+%|Not measured/);
  assert.match(words, /In use|Not used: it did not do better than the built-in default/);
  const served = await model.getAttribute('data-served');
  assert.equal(/In use/.test(words), served === 'true', 'the words follow the server’s `served`');
  // The run in the history: the server's administrator, not "Unknown user".
  const runRow = a.locator('.history-table tr[data-type="budget_spent"]');
  await runRow.waitFor();
  assert.match(await runRow.innerText(), /Training run started by the server’s administrator/);
  assert.doesNotMatch(await a.locator('.history-table').innerText(), /Unknown user/);
  await shot(a, 'privacy-models');

  // Withdrawn: the model is retired, and says why.
  await a.locator(`article.purpose[data-purpose="${PURPOSE}"]`).getByRole('button', { name: 'Withdraw consent' }).click();
  await a.locator('.models li.model[data-retired="true"]').waitFor();
  assert.match(await model.innerText(), /Retired .*: .+\. It is no longer used\./);
  assert.equal(await model.getAttribute('data-served'), 'false');

  assert.deepEqual(a.problems, []);
  assert.deepEqual(b.problems, []);
  for (const p of [a, b]) await p.context().close();
});
