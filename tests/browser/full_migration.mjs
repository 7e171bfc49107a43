// A customer walks srv-0042 through the eight steps in the panel (issue 15), with
// real data moving: the example fleet under a temp dir of the test, with the
// rsync of `ferry up` slowed down by the test (--bwlimit, 1 MiB/s) so that the
// pre-copy and the first move last seconds.
//
// Each of the eight steps has a screenshot whose name starts with "step N": what
// is shown there (current step, account states, test address, MX advice, expected
// then measured downtime, the loan) and what is not offered (a second opening,
// a move before the transit server is ready, a second move at once, a reinstall
// while an account is still on the client server). The customer clicks; what
// only support does (languages, reinstallation, relocations) goes through the
// JSON API with FERRY_TOKEN_SUPPORT. One step is done with the keyboard only;
// axe-core checks the sign-in, server and audit pages; a 375 px viewport must
// not scroll sideways.
//
// Given by services/ferry/tests/browser.rs: FERRY_TOKEN_CUSTOMER (customer:c-42),
// FERRY_TOKEN_SUPPORT, FERRY_TEST_ADDRESS (where test copies are reached) and
// FERRY_MOVE_FILES_DIR (a directory of the bakery's site the spec fills before
// the first move, so that the move has something to copy while it is watched).
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

const SERVER = '/panel/servers/srv-0042';
const ROW = (account) => `tr[data-account="${account}"]`;
/** Long enough for a slowed copy on a loaded machine; conditions end the waits. */
const TRANSFER = { timeout: 180_000 };

export async function run(ctx) {
  const support = ctx.env('FERRY_TOKEN_SUPPORT');
  let migration;
  const api = (method, tail, body) =>
    ctx.api(method, `/migrations/${migration}${tail}`, support, body);

  await ctx.step('the sign-in page is accessible', async () => {
    await ctx.goto('/panel/sign-in');
    await ctx.expectAccessible();
  });

  await ctx.step('step 1: the customer opens the migration', async () => {
    await ctx.signIn(ctx.env('FERRY_TOKEN_CUSTOMER'));
    await ctx.expectPath('/panel/');
    await ctx.goto(SERVER);
    await ctx.action('open');
    await ctx.expectCurrentStep(1);
    await ctx.expectCount('tr[data-account][data-state="preparing"]', 2);
    ctx.assert((await ctx.offered('open')) === 0, 'no second opening');
    ctx.assert((await ctx.offered('request-transit')) === 0, 'no transit request before the accounts are ready');
    ctx.assert((await ctx.offered('move')) === 0, 'no move in step 1');
    migration = (await ctx.api('GET', '/servers/srv-0042/current-migration', support)).migration_id;
    await ctx.expectAccessible('the server page in step 1');
  });

  await ctx.step('step 1: a test migration of acc-1207 shows its address', async () => {
    await ctx.action('test', ROW('acc-1207'));
    await ctx.expectText(`${ROW('acc-1207')} code`, ctx.env('FERRY_TEST_ADDRESS'), TRANSFER);
  });

  await ctx.step('step 1: acc-1207 marked ready with the keyboard only', async () => {
    await ctx.pressByKeyboard(`${ROW('acc-1207')} button[data-action="ready"]`);
    await ctx.expectAttribute(ROW('acc-1207'), 'data-state', 'ready');
    ctx.assert((await ctx.offered('request-transit')) === 0, 'no transit request while acc-1208 is not ready');
  });

  await ctx.step('step 2: acc-1208 ready, the transit server requested', async () => {
    await ctx.action('ready', ROW('acc-1208'));
    await ctx.expectAttribute(ROW('acc-1208'), 'data-state', 'ready');
    await ctx.action('request-transit');
    await ctx.expectCurrentStep(2);
    ctx.assert((await ctx.offered('move')) === 0, 'no move before a transit server is ready');
    ctx.assert((await ctx.offered('remove-languages')) === 0, "removing languages is support's");
  });

  await ctx.step('step 3: support removes php 7.4, the transit server is installed', async () => {
    await api('POST', '/obsolete-languages/removal');
    // The pre-copy of the bakery's files is slowed down: step 3 lasts seconds.
    await ctx.goto(SERVER);
    await ctx.expectCurrentStep(3);
    ctx.assert((await ctx.offered('move')) === 0, 'no move while the transit server is installed');
  });

  await ctx.step('step 4: ready to move, with expected downtimes and MX advice', async () => {
    await ctx.expectCurrentStep(4, 'ol.steps', TRANSFER);
    for (const account of ['acc-1207', 'acc-1208']) {
      await ctx.expectCount(`${ROW(account)} [data-downtime="estimated"]`, 1);
      ctx.assert((await ctx.offered('move', ROW(account))) === 1, `${account} offers "move"`);
    }
    await ctx.expectText('.mx-advice li[data-domain="bakery-paris.example"]', /delete MX 5 bakery\.hosting\.example/);
    await ctx.expectText('p.loan', /Transit server loan: \d+ day/);
    await ctx.expectAccessible('the server page in step 4');
  });

  await ctx.step('step 4: acc-1207 moves, its progress seen live', async () => {
    // New files since the pre-copy: the move's live sync copies them, ten seconds
    // at least with the slowed rsync, while the page is watched.
    const dir = ctx.env('FERRY_MOVE_FILES_DIR');
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < 10; i += 1) writeFileSync(path.join(dir, `new-${i}.bin`), randomBytes(1 << 20));
    await ctx.confirmAction('move', ROW('acc-1207'));
    const seen = await watchMove(ctx, 'acc-1207');
    ctx.assert(seen.moving, 'acc-1207 was seen moving');
    ctx.assert(
      seen.offeredWhileMoving === null,
      `no move of acc-1208 offered while acc-1207 moves; offered at ${seen.offeredWhileMoving}`,
    );
    ctx.assert(
      seen.progress.length >= 2,
      `the live progress changed without a reload; seen only ${JSON.stringify(seen.progress)}`,
    );
    const files = seen.progress.filter((p) => p.startsWith('files '));
    ctx.assert(files.length >= 2, `the bytes copied climbed while the files were copied; seen ${JSON.stringify(files)}`);
    ctx.log(`       live progress of acc-1207 seen: ${seen.progress.join(' → ')}`);
    await ctx.expectCount(`${ROW('acc-1207')} [data-downtime="measured"]`, 1);
    await ctx.expectCount(`${ROW('acc-1208')} [data-downtime="estimated"]`, 1);
    ctx.assert((await ctx.offered('request-reinstall')) === 0, 'no reinstall while acc-1208 is on the client server');
  });

  await ctx.step('step 5: acc-1208 moved, both on the transit server', async () => {
    await ctx.confirmAction('move', ROW('acc-1208'));
    await ctx.expectAttribute(ROW('acc-1208'), 'data-state', 'on_transit', TRANSFER);
    await ctx.expectCurrentStep(5);
    await ctx.expectCount('[data-downtime="measured"]', 2);
    for (const account of ['acc-1207', 'acc-1208']) {
      ctx.assert((await ctx.offered('verify', ROW(account))) === 1, `${account} offers "verify"`);
    }
  });

  await ctx.step('step 5: both verified, the reinstallation requested', async () => {
    for (const account of ['acc-1207', 'acc-1208']) {
      await ctx.confirmAction('verify', ROW(account));
      await ctx.expectAttribute(ROW(account), 'data-state', 'verified');
    }
    await ctx.confirmAction('request-reinstall');
    await ctx.expectCount('button[data-action="request-reinstall"]', 0);
    await ctx.expectCurrentStep(5);
    await ctx.expectAccessible('the server page in step 5');
  });

  await ctx.step('step 6: support reinstalls the server, nothing for the customer to do', async () => {
    await api('POST', '/reinstall');
    await ctx.expectCurrentStep(6);
    await expectNoProcessAction(ctx);
  });

  await ctx.step('step 7: support relocates acc-1207 home', async () => {
    await api('POST', '/reinstall/done', { infrastructure_version: 'v2026' });
    await ctx.expectCurrentStep(7);
    await api('POST', '/accounts/acc-1207/relocation');
    await ctx.expectAttribute(ROW('acc-1207'), 'data-state', 'relocated', TRANSFER);
    await ctx.expectCurrentStep(7);
    await expectNoProcessAction(ctx);
  });

  await ctx.step('step 8: acc-1208 home, the migration completed and the loan closed', async () => {
    await api('POST', '/accounts/acc-1208/relocation');
    await ctx.expectCurrentStep(8, 'ol.steps', TRANSFER);
    await ctx.expectCount('tr[data-account][data-state="relocated"]', 2);
    await ctx.expectCount('[data-downtime="measured"]', 2);
    await ctx.expectText('p.loan', /Transit server loan: \d+ day\(s\) used, free for the first 14 days — \d+\.\d\d EUR charged/);
    await expectNoProcessAction(ctx);
    await ctx.expectAccessible('the server page in step 8');
  });

  await ctx.step('the server page on a 375 px screen', async () => {
    await ctx.expectNoHorizontalScroll(375, 'the server page 375 px wide');
  });

  await ctx.step('the audit page is accessible', async () => {
    await ctx.goto(`${SERVER}/audit`);
    await ctx.expectCount('tr[data-event="MigrationCompleted"]', 1);
    await ctx.expectText('table.audit', 'customer:c-42');
    await ctx.expectAccessible();
    // Nothing any page asked for failed, and no script complained, all along.
    ctx.assert(ctx.pageErrors.length === 0, `the pages said: ${ctx.pageErrors.slice(0, 5).join('; ')}`);
  });
}

/**
 * Fails if the page offers the customer any step of the process (a move, a
 * verification, a rollback, a reinstall, a relocation...): from step 6 on it is
 * support's turn. Discarding a test copy stays the customer's at any time.
 */
async function expectNoProcessAction(ctx) {
  await ctx.expect(
    'no action offered but discarding the test copy',
    () => ctx.page.locator('button[data-action]').evaluateAll((buttons) => buttons.map((b) => b.dataset.action)),
    (offered) => Array.isArray(offered) && offered.every((action) => action === 'discard-test'),
  );
}

/**
 * Watches `account`'s row on the open page until the account is on the transit
 * server: every distinct phase and byte count the live region showed, whether the
 * row was seen moving, and the progress at which another move was offered while
 * its files were copied, if one was. A screenshot is taken once the bytes have
 * climbed (mid-move). Fails if the page was reloaded: the live region must do it.
 */
async function watchMove(ctx, account) {
  // A mark on this document: a reload would lose it.
  await ctx.page.evaluate(() => {
    window.ferryNotReloaded = true;
  });
  const seen = { progress: [], moving: false, offeredWhileMoving: null };
  const probe = () =>
    ctx.page.evaluate((row) => {
      const tr = document.querySelector(row);
      const transfer = tr?.querySelector('.transfer');
      return {
        kept: window.ferryNotReloaded === true,
        state: tr?.dataset.state ?? null,
        progress: transfer ? `${transfer.dataset.phase || 'starting'} ${transfer.dataset.bytes} B` : null,
        syncing: !transfer?.dataset.phase || transfer.dataset.phase === 'files',
        otherMoves: document.querySelectorAll('button[data-action="move"]').length,
      };
    }, ROW(account));
  // Takes in what a probe saw; true once the move is over (or the page reloaded).
  const record = (seenNow) => {
    // A probe that failed (the live region swapped under it) is a string: look again.
    if (typeof seenNow !== 'object' || seenNow === null) return false;
    if (seenNow.progress && !seen.progress.includes(seenNow.progress)) seen.progress.push(seenNow.progress);
    if (seenNow.state === 'moving') {
      seen.moving = true;
      // Checked while the slowed live sync runs (seconds before the move ends):
      // near its end, this page's read model may still say "moving" when the
      // migration itself already allows the next move.
      if (seenNow.syncing && seenNow.otherMoves > 0) seen.offeredWhileMoving = seenNow.progress;
    }
    return !seenNow.kept || seenNow.state === 'on_transit';
  };
  const climbed = () => seen.progress.filter((p) => p.startsWith('files ')).length >= 2;
  await ctx.expect(`${account}'s bytes climbing`, probe, (p) => record(p) || climbed(), TRANSFER);
  if (climbed()) await ctx.screenshot(`step 4: ${account} moving, live`);
  const last = await ctx.expect(`${account} on the transit server`, probe, record, TRANSFER);
  ctx.assert(last.kept, 'the page was reloaded while the move ran: live progress must come without');
  return seen;
}
