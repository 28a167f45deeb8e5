// Steward's main flows in real headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core with a fresh profile per run; nothing is downloaded).
//
//   node browser.mjs <steward base URL> [screenshot directory]
//
// Expects `steward demo` data and single sign-on configured against oidc-provider.mjs.
// Prints "ok <flow>" per flow; exits non-zero at the first failure.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [base, screenshots] = process.argv.slice(2);
if (!base) {
  console.error('usage: node browser.mjs <steward base URL> [screenshot directory]');
  process.exit(2);
}
const PASSWORD = 'steward-demo';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
});

// Every page runs under a Content-Security-Policy that allows no script; a page that needed one
// (or broke the policy otherwise) would log a refusal here, and the run fails at the end.
const policyRefusals = [];

async function fresh(viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) {
      policyRefusals.push(`${page.url()}: ${message.text()}`);
    }
  });
  return { context, page };
}

async function signIn(page, email, password = PASSWORD) {
  await page.goto(`${base}/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForLoadState('domcontentloaded');
}

/** Signs in at the identity provider's own pages as `login`, consenting if asked. */
async function signInWithSso(page, login) {
  await page.goto(`${base}/login`);
  await page.getByRole('link', { name: 'Sign in with SSO' }).click();
  await page.waitForSelector('input[name="login"]');
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', 'anything');
  const loginPage = page.url();
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.waitForURL((url) => url.toString() !== loginPage, { waitUntil: 'domcontentloaded' });
  if (!page.url().startsWith(base)) {
    await page.getByRole('button', { name: 'Continue' }).click();
  }
  await page.waitForURL((url) => url.toString().startsWith(base), { waitUntil: 'domcontentloaded' });
}

const flows = [];
function flow(name, run) {
  flows.push({ name, run });
}

let tenantIds = {};

flow('password sign-in shows the MSP dashboard', async () => {
  const { context, page } = await fresh();
  await signIn(page, 'admin@harbor-it.example');
  assert.equal(new URL(page.url()).pathname, '/');
  await page.getByRole('heading', { name: 'Harbor IT Services' }).waitFor();
  const rows = page.locator('tbody tr');
  const names = await rows.locator('td:first-child a').allTextContents();
  for (const name of ['Acme Dental', 'Birch & Co Accounting', 'Cobalt Logistics']) {
    assert.ok(names.includes(name), `${name} in ${names}`);
  }
  for (const link of await rows.locator('td:first-child a').all()) {
    tenantIds[await link.textContent()] = (await link.getAttribute('href')).split('/').pop();
  }
  if (screenshots) {
    await page.screenshot({ path: join(screenshots, 'dashboard.png'), fullPage: true });
  }

  // A plain HTML form adds a tenant.
  await page.getByLabel('Name').fill('Delta Dental');
  await page.getByRole('button', { name: 'Add tenant' }).click();
  await page.waitForLoadState('domcontentloaded');
  await page.getByRole('heading', { name: 'Delta Dental' }).waitFor();
  assert.match(await page.locator('.flash-success').textContent(), /The tenant is added/);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${base}/login?notice=signed-out`);
  await context.close();
});

flow('a wrong password is refused', async () => {
  const { context, page } = await fresh();
  await signIn(page, 'admin@harbor-it.example', 'not-the-password');
  assert.equal(new URL(page.url()).pathname, '/login');
  assert.match(await page.locator('.flash-error').textContent(), /email or password is wrong/);
  await context.close();
});

flow("a customer user sees their own tenant and cannot reach another's (404)", async () => {
  const { context, page } = await fresh({ width: 390, height: 844 });
  await signIn(page, 'owner@acme-dental.example');
  assert.equal(new URL(page.url()).pathname, `/tenants/${tenantIds['Acme Dental']}`);
  await page.getByRole('heading', { name: 'Acme Dental' }).waitFor();
  if (screenshots) {
    await page.screenshot({ path: join(screenshots, 'customer-phone.png'), fullPage: true });
  }
  const response = await page.goto(`${base}/tenants/${tenantIds['Birch & Co Accounting']}`);
  assert.equal(response.status(), 404);
  assert.equal(await page.getByText('Birch & Co Accounting').count(), 0);
  await page.getByRole('heading', { name: 'Not found' }).waitFor();
  await context.close();
});

flow('single sign-on links a verified identity to its user', async () => {
  const { context, page } = await fresh();
  await signInWithSso(page, 'tech@harbor-it.example');
  assert.equal(new URL(page.url()).pathname, '/', await page.locator('body').innerText());
  await page.getByRole('heading', { name: 'Harbor IT Services' }).waitFor();
  assert.equal(await page.locator('.who-name').textContent(), 'Sam Okafor');
  assert.equal(await page.getByRole('button', { name: 'Add tenant' }).count(), 0, 'technicians add no tenants');
  await context.close();

  // The next sign-in uses the link.
  const again = await fresh();
  await signInWithSso(again.page, 'tech@harbor-it.example');
  assert.equal(await again.page.locator('.who-name').textContent(), 'Sam Okafor');
  await again.context.close();
});

flow('single sign-on refuses unknown and unverified identities', async () => {
  for (const login of ['stranger@elsewhere.example', 'unverified.auditor@harbor-it.example']) {
    const { context, page } = await fresh();
    await signInWithSso(page, login);
    await page.getByRole('heading', { name: 'No Steward account for this sign-in' }).waitFor();
    assert.equal(await page.locator('.topbar').count(), 0, `${login} is not signed in`);
    const home = await page.goto(`${base}/`);
    assert.equal(new URL(page.url()).pathname, '/login', `${login}: ${home.status()}`);
    await context.close();
  }
});

flow('single sign-on creates users where their MSP allows it', async () => {
  const { context, page } = await fresh();
  await signInWithSso(page, 'new.hire@harbor-it.example');
  assert.equal(new URL(page.url()).pathname, '/', await page.locator('body').innerText());
  assert.match(await page.locator('.who-meta').textContent(), /Auditor/);
  await context.close();
});

/** Reloads `path` until `selector` is on the page (the background workers need a moment). */
async function waitOnReload(page, path, selector, seconds = 45) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    await page.goto(`${base}${path}`);
    if ((await page.locator(selector).count()) > 0) return;
    if (Date.now() > deadline) {
      throw new Error(`${selector} never appeared on ${path}: ${await page.locator('main').innerText()}`);
    }
    await page.waitForTimeout(500);
  }
}

flow('the governed loop: automatic containment, customer approval, rollback and the report', async () => {
  const acme = tenantIds['Acme Dental'];
  const response = `/tenants/${acme}/response`;

  // A technician stages both scenarios from the Integrations page.
  const tech = await fresh();
  await signIn(tech.page, 'tech@harbor-it.example');
  await tech.page.goto(`${base}/tenants/${acme}/integrations`);
  for (const scenario of ['malware-laptop', 'compromised-admin']) {
    await tech.page.getByRole('button', { name: `Run ${scenario}` }).click();
    await tech.page.waitForLoadState('domcontentloaded');
    assert.match(await tech.page.locator('.flash-success').textContent(), /vendor records are in the sandbox/);
  }
  // The laptop is isolated and verified without anyone approving.
  await waitOnReload(tech.page, response, '#actions tr:has-text("isolate device") [data-status="verified"]');
  await waitOnReload(tech.page, response, '.approval >> nth=1');
  assert.equal(await tech.page.locator('.approval').count(), 2, 'disable user and revoke sessions wait');
  await tech.context.close();

  // The customer's approver sees the reasons and approves disabling the admin.
  const approver = await fresh();
  await signIn(approver.page, 'approver@acme-dental.example');
  await approver.page.getByRole('link', { name: 'Incidents and actions' }).click();
  await approver.page.waitForLoadState('domcontentloaded');
  const card = approver.page.locator('.approval', { hasText: 'disable user' });
  assert.match(await card.innerText(), /privileged-identity/);
  assert.match(await card.innerText(), /Enable the account again/);
  if (screenshots) {
    await approver.page.screenshot({ path: join(screenshots, 'approval.png'), fullPage: true });
  }
  await card.getByRole('button', { name: 'Approve' }).click();
  await approver.page.waitForLoadState('domcontentloaded');
  assert.match(await approver.page.locator('.flash-success').textContent(), /Approved/);
  await waitOnReload(approver.page, response, '#actions tr:has-text("disable user") [data-status="verified"]');
  await approver.context.close();

  // A technician rolls the disable back.
  const again = await fresh();
  await signIn(again.page, 'tech@harbor-it.example');
  await again.page.goto(`${base}${response}`);
  await again.page.locator('#actions tr', { hasText: 'disable user' }).getByRole('button', { name: 'Roll back' }).click();
  await again.page.waitForLoadState('domcontentloaded');
  await waitOnReload(again.page, response, '#actions tr:has-text("disable user") [data-status="rolled_back"]');
  await again.context.close();

  // The owner reads the outcome report with its chart.
  const owner = await fresh();
  await signIn(owner.page, 'owner@acme-dental.example');
  await owner.page.getByRole('link', { name: 'Outcome report' }).click();
  await owner.page.waitForLoadState('domcontentloaded');
  await owner.page.locator('svg.chart').waitFor();
  assert.ok((await owner.page.locator('svg.chart .risk-row').count()) > 0, 'risk rows in the chart');
  if (screenshots) {
    await owner.page.screenshot({ path: join(screenshots, 'report.png'), fullPage: true });
  }
  await owner.context.close();
});

flow('approvals from the sandbox inbox: a Slack click, and the channel shared with the customer', async () => {
  const acme = tenantIds['Acme Dental'];
  const response = `/tenants/${acme}/response`;

  // The technician approves revoking the sessions by clicking the button of its Slack message.
  const tech = await fresh();
  await signIn(tech.page, 'tech@harbor-it.example');
  const revoke = '.slack-message:has-text("revoke sessions") button[value="approve"]';
  await waitOnReload(tech.page, '/sandbox/inbox', revoke);
  // A request that changed while it waited (a later finding added a reason) is posted again
  // for its new version, and only the newest message's answer is taken; the inbox lists the
  // newest first.
  await tech.page.locator(revoke).first().click();
  await tech.page.waitForLoadState('domcontentloaded');
  assert.match(await tech.page.locator('.flash-success').textContent(), /Slack delivered the click/);
  await waitOnReload(tech.page, response, '#actions tr:has-text("revoke sessions") [data-status="verified"]');
  await waitOnReload(tech.page, '/sandbox/inbox', '.slack-message:has-text("revoke sessions"):has-text("Approved")');
  if (screenshots) {
    await tech.page.screenshot({ path: join(screenshots, 'inbox.png'), fullPage: true });
  }
  await tech.context.close();

  // The customer's approver sees their shared channel (the request they approved on the web,
  // now updated with the outcome) and not the MSP's.
  const approver = await fresh();
  await signIn(approver.page, 'approver@acme-dental.example');
  await waitOnReload(approver.page, '/sandbox/inbox', '.slack-message:has-text("disable user"):has-text("Approved")');
  assert.doesNotMatch(await approver.page.locator('#slack').innerText(), /revoke sessions/);
  await approver.context.close();
});

flow('detections: a rule measured on what technicians concluded, and tuned after a replay', async () => {
  const acme = tenantIds['Acme Dental'];
  const response = `/tenants/${acme}/response`;
  // The generic rule both the macro attack's PowerShell and the RMM's inventory script trip.
  const bypass = '87e3c4e8-a6a8-4ad9-bb4f-46e7ff99a180';
  const rulePath = `/tenants/${acme}/detections/${bypass}`;
  const link = `a.rule-link[href$="${bypass}"]`;
  const tripped = `.incident:has(${link})`;
  const { context, page } = await fresh();
  await signIn(page, 'tech@harbor-it.example');

  // The macro attack's Sigma finding names its rule and version; judged a true positive.
  await waitOnReload(page, response, tripped);
  const attack = page.locator(tripped);
  assert.equal(await attack.count(), 1, 'one incident of the attack trips the rule');
  assert.match(await attack.locator(link).getAttribute('data-rule-version'), /^[0-9a-f]{12}$/);
  const resolve = async (card, verdict) => {
    await card.locator('select[name="status"]').selectOption('resolved');
    await card.locator('select[name="verdict"]').selectOption(verdict);
    // The same page comes back: wait for the navigation itself, not only a loaded page.
    await Promise.all([
      page.waitForNavigation({ waitUntil: 'domcontentloaded' }),
      card.getByRole('button', { name: 'Update' }).click(),
    ]);
    assert.match(await page.locator('.flash-success').textContent(), /incident is updated/);
  };
  await resolve(attack, 'true_positive');

  // The inventory script trips it on every laptop; each is judged benign.
  await page.goto(`${base}/tenants/${acme}/integrations`);
  await page.getByRole('button', { name: 'Run noisy-admin-script' }).click();
  await page.waitForLoadState('domcontentloaded');
  const open = `${tripped}:not(:has([data-status="resolved"]))`;
  await waitOnReload(page, response, `${open} >> nth=1`);
  while ((await page.locator(open).count()) > 0) {
    await resolve(page.locator(open).first(), 'benign_true_positive');
  }

  // The list shows the rule with its findings and precision here; its page has the suggestion.
  await page.goto(`${base}/tenants/${acme}`);
  await page.locator('main').getByRole('link', { name: 'Detections' }).click();
  await page.waitForLoadState('domcontentloaded');
  const row = page.locator(`#rules tr[data-rule-id="${bypass}"]`);
  assert.match(await row.innerText(), /1 \/ [2-9] \/ 0/, 'one true positive, the benign runs');
  await row.getByRole('link').click();
  await page.waitForLoadState('domcontentloaded');
  assert.equal(new URL(page.url()).pathname, rulePath);
  assert.match(await page.locator('#rule-precision').textContent(), /^\d+%$/);
  assert.notEqual(await page.locator('#rule-precision').textContent(), '100%');
  assert.ok((await page.locator('#lineage .version').count()) >= 1, 'the lineage lists the version in force');
  const suggested = await page.locator('#suggestion .conditions li').allTextContents();
  assert.ok(suggested.some((c) => c.includes('inventory.ps1')), `suggested: ${suggested}`);
  assert.ok(!suggested.some((c) => c.startsWith('device.hostname')), 'not one laptop: it ran on all');
  assert.equal(await page.getByLabel('Conditions').inputValue(), suggested.join('\n'), 'the form starts from it');

  // Replayed, the suggestion hides no attack; a suppression of every PowerShell would.
  await page.getByRole('button', { name: 'Replay over history' }).click();
  await page.waitForLoadState('domcontentloaded');
  assert.match(await page.locator('#replay').innerText(), /hidden no true positive/);
  await page.getByLabel('Conditions').fill('process.file.path contains powershell.exe');
  await page.getByLabel('Reason').fill('PowerShell is noisy');
  await page.getByRole('button', { name: 'Save suppression' }).click();
  await page.waitForLoadState('domcontentloaded');
  assert.match(await page.locator('.flash-error[role="status"]').textContent(), /would have hidden true positives/);
  assert.equal(await page.locator('#hidden-true-positives li').count(), 1);
  assert.match(await page.locator('#suppressions').innerText(), /No suppression/);

  // The suggestion, saved, is listed.
  await page.getByLabel('Conditions').fill(suggested.join('\n'));
  await page.getByLabel('Reason').fill("The RMM's nightly inventory script");
  await page.getByRole('button', { name: 'Save suppression' }).click();
  await page.waitForLoadState('domcontentloaded');
  assert.match(await page.locator('.flash-success').textContent(), /suppression is saved/);
  assert.match(await page.locator('#suppressions').innerText(), /inventory\.ps1[\s\S]*nightly inventory script[\s\S]*active/);
  assert.match(await page.locator('#suggestion').innerText(), /An active suppression here is the suggestion/);
  assert.equal(await page.getByLabel('Conditions').inputValue(), '', 'not offered again');
  if (screenshots) {
    await page.screenshot({ path: join(screenshots, 'detection-rule.png'), fullPage: true });
  }

  // The MSP's own rule, uploaded from the Detections page: refused with where it is wrong,
  // then saved and in force.
  await page.locator('nav').getByRole('link', { name: 'Detections' }).click();
  await page.waitForLoadState('domcontentloaded');
  const rule = (level) => [
    'title: Remote support tool started from Downloads',
    'id: 0b6f2d1e-3c4a-4e5f-8a9b-7c6d5e4f3a2b',
    'logsource:',
    '    category: process_creation',
    '    product: windows',
    'detection:',
    '    selection:',
    "        Image|endswith: '\\acmeassist.exe'",
    '    condition: selection',
    `level: ${level}`,
  ].join('\n');
  await page.getByLabel('Rule (YAML)').fill(rule('severe'));
  await page.getByLabel('Why (kept with this version)').fill('our remote-support tool, copied out of Program Files');
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.waitForLoadState('domcontentloaded');
  assert.match(await page.locator('#rule-problems').innerText(), /line 10, column 1: invalid level/);
  await page.getByLabel('Rule (YAML)').fill(rule('medium'));
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.waitForLoadState('domcontentloaded');
  assert.match(await page.locator('.flash-success').textContent(), /rule is saved/);
  await page.getByRole('heading', { name: 'Remote support tool started from Downloads' }).waitFor();
  assert.match(await page.locator('#lineage').innerText(), /in force[\s\S]*copied out of Program Files/);
  await context.close();
});

flow('no page can be framed by another site (clickjacking an approver)', async () => {
  const acme = tenantIds['Acme Dental'];
  // Not `fresh()`: the refusals this flow provokes are the point, not a page's fault.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await signIn(page, 'approver@acme-dental.example');
  // A page that allows being framed (a JSON answer) frames Steward's pages, as an attacker's
  // page would: `frame-ancestors 'none'` refuses every ancestor, this origin's too. (Headless
  // Chromium here refuses loopback frames in pages from other origins whatever their
  // headers, so the attacker's page is played by one of Steward's own answers.)
  const messages = [];
  page.on('console', (message) => messages.push(message.text()));
  await page.goto(`${base}/healthz`);
  const framed = async (path) => {
    await page.evaluate((src) => new Promise((resolve) => {
      document.querySelectorAll('iframe').forEach((old) => old.remove());
      const frame = document.createElement('iframe');
      frame.id = 'target';
      frame.onload = resolve;
      frame.src = src;
      document.body.appendChild(frame);
    }), `${base}${path}`);
    return (await page.waitForSelector('#target')).contentFrame();
  };
  // The check can tell a loaded frame: the stylesheet (not a page) may be framed.
  assert.ok((await framed('/assets/steward.css')).url().startsWith(base), 'a framable URL loads');
  for (const path of ['/login', `/tenants/${acme}/response`, '/sandbox/inbox']) {
    const frame = await framed(path);
    // A refused frame shows the browser's own error page instead, at chrome-error://.
    assert.ok(!frame.url().startsWith(base), `${path} loaded in a frame: ${frame.url()}`);
    assert.ok(
      messages.some((text) => text.includes('frame-ancestors') && text.includes(base)),
      `the browser said why ${path} was not framed: ${messages}`,
    );
    messages.length = 0;
  }
  // The same pages load normally, with their policy and frame headers.
  const answer = await page.goto(`${base}/tenants/${acme}/response`);
  const headers = answer.headers();
  assert.match(headers['content-security-policy'], /frame-ancestors 'none'/);
  assert.equal(headers['x-frame-options'], 'DENY');
  assert.equal(headers['x-content-type-options'], 'nosniff');
  assert.equal(headers['referrer-policy'], 'no-referrer');
  await context.close();
});

let failed = false;
try {
  for (const { name, run } of flows) {
    await run();
    console.log(`ok ${name}`);
  }
  assert.deepEqual(policyRefusals, [], 'pages broke their Content-Security-Policy');
  console.log('ok every page kept to its Content-Security-Policy');
} catch (error) {
  failed = true;
  console.error(error);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
