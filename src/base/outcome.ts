/**
 * How any run ended, everywhere it is reported (outputs, summaries, status records, alarms):
 * success; degraded (done, but short of what was asked: a site missed, no leader); failed.
 */
export const OUTCOMES = ['success', 'degraded', 'failed'] as const;
export type Outcome = (typeof OUTCOMES)[number];
