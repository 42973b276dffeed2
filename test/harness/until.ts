/** Polls `condition` until it holds; fails naming `what` after `timeoutMs` (no fixed sleeps in tests). */
export async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 20_000, pollMs = 10): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
