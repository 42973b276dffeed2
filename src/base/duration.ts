/**
 * Durations as people write them (`48h`, `30m`, `7d`, `2w`, `1d12h`): parsed strictly for inputs (retention,
 * the watchdog's max-age, the journal) and formatted back the same way for logs and summaries.
 */
import { InputError } from '../errors.ts';

const UNIT_MS = { w: 7 * 86_400_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 } as const;
type Unit = keyof typeof UNIT_MS;
const UNIT_ORDER: readonly Unit[] = ['w', 'd', 'h', 'm', 's'];
/** Larger than any sensible retention (about 1000 years), small enough to stay exact in a double. */
const MAX_DURATION_MS = 1000 * 365 * 86_400_000;

/**
 * Parses a duration: one or more `<whole number><unit>` parts with units w (weeks), d (days), h (hours),
 * m (minutes), s (seconds), largest first, each unit at most once: `48h`, `30m`, `7d`, `2w`, `1d12h`.
 * A bare `0` means zero. Throws InputError naming `inputName`.
 */
export function parseDuration(text: string, inputName = 'duration'): number {
  const value = text.trim();
  const expected = `expected a duration like 48h, 30m, 7d, 2w or 1d12h (units w, d, h, m, s), or 0 to disable`;
  if (value === '0') return 0;
  if (!/^(\d+[wdhms])+$/.test(value)) {
    throw new InputError(`${inputName} must be a duration, got ${JSON.stringify(text)}: ${expected}`);
  }
  let total = 0;
  let lastUnitIndex = -1;
  for (const part of value.matchAll(/(\d+)([wdhms])/g)) {
    const amount = Number(part[1]);
    const unit = part[2] as Unit;
    const unitIndex = UNIT_ORDER.indexOf(unit);
    if (unitIndex <= lastUnitIndex) {
      throw new InputError(
        `${inputName} must be a duration, got ${JSON.stringify(text)}: each unit may appear once, largest first (e.g. 1d12h)`,
      );
    }
    lastUnitIndex = unitIndex;
    total += amount * UNIT_MS[unit];
  }
  if (!Number.isSafeInteger(total) || total > MAX_DURATION_MS) {
    throw new InputError(`${inputName} ${JSON.stringify(text)} is too long (at most about 1000 years)`);
  }
  return total;
}

/**
 * Formats milliseconds back as a duration the way people write them: hours below a week (`48h`, `1h30m`),
 * whole weeks as weeks (`2w`), days otherwise (`10d`, `8d12h`); `0` for zero.
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  const week = UNIT_MS.w;
  const units: readonly Unit[] = ms < week ? ['h', 'm', 's'] : ms % week === 0 ? ['w'] : ['d', 'h', 'm', 's'];
  let rest = ms;
  let text = '';
  for (const unit of units) {
    const amount = Math.floor(rest / UNIT_MS[unit]);
    if (amount > 0) {
      text += `${amount}${unit}`;
      rest -= amount * UNIT_MS[unit];
    }
  }
  return rest > 0 ? `${text}${rest}ms` : text;
}
