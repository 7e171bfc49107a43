// Support's console in the panel that `ferry up` serves at /panel (issue 15), on
// the example fleet with c-77's srv-0077 waiting in step 2 (its transit server
// requested) and none of its data on this machine: support signs in, opens the
// console, finds srv-0077 by searching, removes its obsolete languages by clicking
// the console's button (the request goes to the transit pool), sees its pre-copy
// fail for real among the failed transfers needing a person (server, account,
// phase, reason, a link to the server), then restores the languages by clicking,
// which takes the migration back to step 1. c-42's srv-0042 awaits its reinstall
// (its accounts moved for real): support starts it from the console, confirms on
// the confirmation page, then records it done (confirmed too), and the server's
// page shows step 7 with the relocations offered. Run by
// services/ferry/tests/browser.rs, which gives FERRY_TOKEN_SUPPORT (support:jdoe)
// and checks the log afterwards.

const SUPPORT_ROW = 'tr[data-support-server="srv-0077"]';
const FAILED_ROW = 'tr[data-failed="srv-0077"]';
const REINSTALL_ROW = 'tr[data-support-server="srv-0042"]';

/** Opens the console again until `selector` shows (the console is not live). */
async function consoleUntil(ctx, selector, timeoutMs = 60_000) {
  return pageUntil(ctx, '/panel/console', selector, timeoutMs);
}

/** Opens `pathname` again until `selector` shows. */
async function pageUntil(ctx, pathname, selector, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await ctx.goto(pathname);
    if ((await ctx.page.locator(selector).count()) > 0) return;
    if (Date.now() >= deadline) {
      await ctx.expectCount(selector, 1, { timeout: 1 });
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

export async function run(ctx) {
  await ctx.step('sign in as support', async () => {
    await ctx.signIn(ctx.env('FERRY_TOKEN_SUPPORT'));
    await ctx.expectPath('/panel/');
    await ctx.expectCount('a[href="/panel/console"]', 1);
  });

  await ctx.step('the console finds srv-0077 by searching', async () => {
    await ctx.click('a[href="/panel/console"]');
    await ctx.expectPath('/panel/console');
    await ctx.page.locator('#q').fill('atelier');
    await ctx.click('form[role="search"] button[type="submit"]');
    await ctx.expectCount('tr[data-server="srv-0077"]', 1);
    await ctx.expectCount('tr[data-server="srv-0042"]', 0);
    await ctx.expectText('tr[data-server="srv-0077"]', 'c-77');
  });

  await ctx.step("support's actions offer to remove its languages, not to restore them", async () => {
    await consoleUntil(ctx, SUPPORT_ROW);
    ctx.assert((await ctx.offered('remove-languages', SUPPORT_ROW)) === 1, 'remove-languages offered');
    ctx.assert((await ctx.offered('restore-languages', SUPPORT_ROW)) === 0, 'nothing to restore yet');
    ctx.assert((await ctx.offered('ready', SUPPORT_ROW)) === 0, "the customer's actions are not support's");
  });

  await ctx.step('removing the languages is done from the console', async () => {
    await ctx.action('remove-languages', SUPPORT_ROW);
    await ctx.expectPath('/panel/console');
    await ctx.expectText('.flash[role="status"]', /remove obsolete languages/i);
  });

  await ctx.step('its pre-copy failed: a failed transfer needing a person', async () => {
    await consoleUntil(ctx, FAILED_ROW);
    await ctx.expectText(FAILED_ROW, 'acc-2001');
    await ctx.expectText(FAILED_ROW, 'pre_copy');
    await ctx.expectText(`${FAILED_ROW} td.reason`, /\S/);
    await ctx.expectCount(`${FAILED_ROW} a[href="/panel/servers/srv-0077"]`, 1);
  });

  await ctx.step('restoring the languages is offered and done from the console', async () => {
    await consoleUntil(ctx, `${SUPPORT_ROW} button[data-action="restore-languages"]`);
    await ctx.action('restore-languages', SUPPORT_ROW);
    await ctx.expectPath('/panel/console');
    await ctx.expectText('.flash[role="status"]', /restore the languages/i);
  });

  await ctx.step("the server's page shows step 1 again", async () => {
    await ctx.goto('/panel/servers/srv-0077');
    await ctx.expectCurrentStep(1);
  });

  await ctx.step('srv-0042 awaits its reinstall: starting it asks for a confirmation', async () => {
    await consoleUntil(ctx, `${REINSTALL_ROW} button[data-action="start-reinstall"]`);
    ctx.assert((await ctx.offered('reinstalled', REINSTALL_ROW)) === 0, 'not done before it starts');
    await ctx.action('start-reinstall', REINSTALL_ROW);
    await ctx.expectPath('/panel/servers/srv-0042/actions');
    await ctx.expectText('[role="alert"]', /cannot be undone/i);
    await ctx.expectCount('button[data-confirm="yes"][data-action="start-reinstall"]', 1);
  });

  await ctx.step('confirming starts the reinstall', async () => {
    await ctx.click('button[data-confirm="yes"]');
    await ctx.expectPath('/panel/console');
    await ctx.expectText('.flash[role="status"]', /start the reinstallation/i);
  });

  await ctx.step('support records the reinstall done, confirmed', async () => {
    await consoleUntil(ctx, `${REINSTALL_ROW} button[data-action="reinstalled"]`);
    ctx.assert((await ctx.offered('start-reinstall', REINSTALL_ROW)) === 0, 'started once');
    await ctx.action('reinstalled', REINSTALL_ROW);
    await ctx.expectPath('/panel/servers/srv-0042/actions');
    await ctx.click('button[data-confirm="yes"][data-action="reinstalled"]');
    await ctx.expectPath('/panel/console');
    await ctx.expectText('.flash[role="status"]', /reinstallation done/i);
  });

  await ctx.step("srv-0042's page shows step 7 with its relocations offered", async () => {
    await pageUntil(ctx, '/panel/servers/srv-0042', 'ol.steps > li:nth-child(7)[aria-current="step"]');
    await ctx.expectCurrentStep(7);
    await ctx.expectCount('button[data-action="relocate"]', 2);
    await ctx.expectCount('button[data-action="reinstalled"]', 0);
  });
}
