// A customer walks srv-0042 from step 1 to step 2 in the panel that `ferry up`
// serves at /panel (issue 15), on the example fleet (examples/fleet.yaml): opens
// the migration from the server's page (its `open` action), sees the eight steps
// with step 1 current and both accounts preparing; marks acc-1207 then acc-1208
// ready (each by its row's button), the transit request being offered only once
// both are; requests it, and step 2 is current. Run by
// services/ferry/tests/browser.rs, which gives FERRY_TOKEN_CUSTOMER
// (customer:c-42) and checks afterwards that the log holds what the clicks asked.

const ROW = (account) => `tr[data-account="${account}"]`;

export async function run(ctx) {
  await ctx.step('sign in as the customer', async () => {
    await ctx.signIn(ctx.env('FERRY_TOKEN_CUSTOMER'));
    await ctx.expectPath('/panel/');
  });

  await ctx.step("the server's page offers to open a migration", async () => {
    const response = await ctx.goto('/panel/servers/srv-0042');
    ctx.assert(response?.status() === 200, `/panel/servers/srv-0042 answers ${response?.status()}`);
    await ctx.expectLang('en');
    await ctx.expectCount('ol.steps > li', 8);
    await ctx.expectCount('button[data-action="open"]', 1);
    await ctx.expectCount('tr[data-account]', 0);
  });

  await ctx.step('opening it shows step 1 and both accounts preparing', async () => {
    await ctx.action('open');
    await ctx.expectCurrentStep(1);
    await ctx.expectCount('tr[data-account]', 2);
    for (const account of ['acc-1207', 'acc-1208']) {
      await ctx.expectAttribute(ROW(account), 'data-state', 'preparing');
      ctx.assert((await ctx.offered('ready', ROW(account))) === 1, `${account} offers "ready"`);
    }
    ctx.assert((await ctx.offered('open')) === 0, 'no second opening');
    ctx.assert((await ctx.offered('request-transit')) === 0, 'no transit request before the accounts are ready');
  });

  await ctx.step('acc-1207 is marked ready', async () => {
    await ctx.action('ready', ROW('acc-1207'));
    await ctx.expectAttribute(ROW('acc-1207'), 'data-state', 'ready');
    await ctx.expectCount(`${ROW('acc-1207')} button[data-action="ready"]`, 0);
    await ctx.expectAttribute(ROW('acc-1208'), 'data-state', 'preparing');
    await ctx.expectCurrentStep(1);
    ctx.assert((await ctx.offered('request-transit')) === 0, 'no transit request while acc-1208 is not ready');
  });

  await ctx.step('acc-1208 is marked ready: the transit request is offered', async () => {
    await ctx.action('ready', ROW('acc-1208'));
    await ctx.expectAttribute(ROW('acc-1208'), 'data-state', 'ready');
    await ctx.expectCount('button[data-action="request-transit"]', 1);
    await ctx.expectCurrentStep(1);
  });

  await ctx.step('requesting the transit server makes step 2 current', async () => {
    await ctx.action('request-transit');
    await ctx.expectCurrentStep(2);
    await ctx.expectCount('button[data-action="request-transit"]', 0);
    await ctx.expectCount('button[data-action="ready"]', 0);
  });
}
