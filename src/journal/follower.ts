/**
 * The journal follower: every node runs one; the one holding the writer lock (writerLock.ts) watches the
 * whole keyspace and publishes segments, the others wait for the lock. The writer:
 *
 *   1. reads where the journal stands from the sites (position.ts), never from memory;
 *   2. watches from the next revision; each response is a list of whole revisions (records.ts `rev`);
 *   3. closes a segment every `flushMs` or at `maxSegmentBytes`, and hands it to the publisher, which
 *      asks the TTLs of new leases, encodes (compress, encrypt), checks the lock is still ours, and
 *      publishes to every site in order, keeping the hash chain;
 *   4. when idle, asks etcd for a progress notification and publishes a progress mark at most once per
 *      flush interval, so the journal says "complete through X as of T" on a quiet cluster;
 *   5. on a compacted start (or segments it could not keep), writes a gap record, raises the alarm, takes
 *      a full backup at once and restarts the chain from it: a gap is never silent;
 *   6. at its maximum run time flushes, releases the lock and returns (a clean handover); when the lock is
 *      lost it stops publishing at once and drops what it had not published (the next writer re-reads it
 *      from etcd, starting after what is on the sites).
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EtcdAccess } from '../etcd/connection.ts';
import { leaseTimeToLive } from '../etcd/leases.ts';
import { EtcdHttp2Client } from '../etcd/http2Client.ts';
import type { Log } from '../base/log.ts';
import { messageOf } from '../errors.ts';
import type { Compression } from '../repository/layout.ts';
import type { Store } from '../stores/store.ts';
import { TOOL_VERSION } from '../version.ts';
import { encodeContent } from './encode.ts';
import { LeaseTracker } from './leases.ts';
import { chainStart, NoSiteReadable, readPosition, type BaseBackup, type ChainAnchor, type JournalPosition } from './position.ts';
import { healSegments, publishGap, publishProgress, publishSegment, type SiteResult } from './publishSegment.ts';
import { OpenSegment, type ClosedSegment } from './openSegment.ts';
import { continuation, type RevisionHole, type RevisionRecord } from './records.ts';
import { GAP_KIND, JOURNAL_FORMAT, PROGRESS_KIND, SEGMENT_KIND, segmentName, segmentObjectFile, type GapRecord, type SegmentManifest } from './segment.ts';
import { openWatch, type WatchHandle, type WatchMessage } from './watchStream.ts';
import { tryAcquireWriterLock, waitForLockFree, type WriterLock } from './writerLock.ts';

export interface FollowerOptions {
  readonly cluster: string;
  readonly etcd: EtcdAccess;
  readonly compression: Compression;
  readonly recipients: readonly string[];
  readonly flushMs: number;
  /** A segment is closed early once its NDJSON reaches this many bytes. */
  readonly maxSegmentBytes: number;
  /** Run this long, then hand over cleanly (flush, release the lock, return). */
  readonly maxRuntimeMs: number;
  readonly lockTtlSeconds: number;
  readonly holder: string;
  /** Which etcd member(s) this follower talks to, recorded in manifests. */
  readonly member: string;
  /** Segments no site accepted wait here (files 0600) until a site is back. */
  readonly spoolDir: string;
  /** Past this many bytes waiting, the oldest are dropped and a gap is recorded. */
  readonly spoolLimitBytes: number;
}

export interface FollowerDeps {
  readonly stores: readonly Store[];
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  readonly log: Log;
  /** Takes a full backup now (the backup command's engine); undefined when it failed. */
  readonly fullBackup: (reason: string) => Promise<BaseBackup | undefined>;
  /** Raises the alarm for a problem the journal cannot fix itself (gap, site down); never throws. */
  readonly alarm: (problem: string) => Promise<void>;
}

export interface FollowerResult {
  readonly outcome: 'success' | 'degraded' | 'failed';
  /** Whether this follower wrote at some point. */
  readonly wrote: boolean;
  readonly segments: number;
  readonly revisions: number;
  readonly lastRevision?: number;
  readonly gaps: readonly GapRecord[];
  readonly problems: readonly string[];
}

/** Runs until the maximum run time (or `signal`): standby while another follower writes, writer otherwise. */
export async function runFollower(options: FollowerOptions, deps: FollowerDeps, signal?: AbortSignal): Promise<FollowerResult> {
  const started = deps.now().getTime();
  const deadline = started + options.maxRuntimeMs;
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), options.maxRuntimeMs);
  signal?.addEventListener('abort', () => stop.abort());
  const stats = new Stats();
  const client = new EtcdHttp2Client(options.etcd);
  try {
    while (!stop.signal.aborted && deps.now().getTime() < deadline) {
      let lock: WriterLock | undefined;
      try {
        lock = await tryAcquireWriterLock(client, options.cluster, { holder: options.holder, member: options.member }, options.lockTtlSeconds);
        stats.reachedEtcd = true;
      } catch (error) {
        stats.lastEtcdError = messageOf(error);
        deps.log.warning(`journal: ${messageOf(error)}; trying again`);
        await deps.sleep(1000);
        continue;
      }
      if (!lock) {
        deps.log.info(`journal: standby, another follower writes; waiting for the lock`);
        // Connected before the lock frees: a takeover then starts with the sites already reachable.
        await Promise.allSettled(deps.stores.map((s) => s.open()));
        await waitForLockFree(client, options.cluster, stop.signal);
        continue;
      }
      if (stop.signal.aborted) {
        // Stopped while the lock was being taken (etcd slow or just back): hand it straight back.
        await lock.release();
        break;
      }
      deps.log.info(`journal: writer (lock ${lock.key} at revision ${lock.modRevision})`);
      stats.wrote = true;
      const writer = new Writer(options, deps, client, lock, stats, stop.signal);
      const end = await writer.run();
      await lock.release();
      if (end === 'failed') break;
      if (end === 'lost') {
        stats.problems.push('lost the writer lock: stopped writing; another follower continues from the sites');
        deps.log.warning('journal: lost the writer lock; standing by');
        continue;
      }
    }
  } finally {
    clearTimeout(timer);
    client.close();
  }
  if (!stats.reachedEtcd) {
    // Neither writer nor standby: this node's follower did nothing all run. Not a silent success.
    stats.failed = true;
    stats.problems.push(`etcd never answered this follower: ${stats.lastEtcdError ?? 'no attempt finished'}`);
  }
  return stats.result();
}

class Stats {
  wrote = false;
  reachedEtcd = false;
  lastEtcdError: string | undefined;
  segments = 0;
  revisions = 0;
  lastRevision: number | undefined;
  failed = false;
  degraded = false;
  readonly gaps: GapRecord[] = [];
  readonly problems: string[] = [];

  result(): FollowerResult {
    return {
      outcome: this.failed || this.gaps.length > 0 ? 'failed' : this.degraded ? 'degraded' : 'success',
      wrote: this.wrote,
      segments: this.segments,
      revisions: this.revisions,
      ...(this.lastRevision !== undefined ? { lastRevision: this.lastRevision } : {}),
      gaps: this.gaps,
      problems: this.problems,
    };
  }
}

type WriterEnd = 'handover' | 'lost' | 'failed';

/** How long a stopping writer waits for its last segments to reach a site. */
const STOP_DRAIN_MS = 30_000;

/** How often a writer with no site reachable at its start asks them again. */
const SITE_RETRY_MS = 2000;

/** How often a writer tries to heal a site marked down. */
const HEAL_EVERY_MS = 5000;

/**
 * Past this many bytes of NDJSON held in memory (the open segment and closed ones waiting for the sites),
 * the writer stops reading the watch until the sites have caught up (at least two segments' worth). A
 * journal catching up (a long backlog, a slow site) would otherwise hold the whole backlog: etcd keeps the
 * events meanwhile, and HTTP/2 flow control holds it back. While no site takes anything the spool's own
 * bound applies instead (journal-spool-bytes: spooled, then a gap).
 */
const MIN_HELD_BYTES = 16 << 20;

interface ProgressItem {
  readonly kind: 'progress';
  readonly completeThrough: { readonly revision: number; readonly at: string };
}

type Message = WatchMessage | { readonly type: 'tick' } | { readonly type: 'stop' } | { readonly type: 'lock-lost'; readonly error: Error };

/** One writer's tenure, from taking the lock to releasing or losing it. */
class Writer {
  private readonly inbox: Message[] = [];
  private wake: (() => void) | undefined;
  private watch: WatchHandle | undefined;
  /** Last revision received from etcd (published or not). */
  private lastRevision = 0;
  private readonly open = new OpenSegment();
  private progress: { revision: number; at: string } | undefined;
  /** Index of the endpoint the next watch tries first. */
  private watchTurn = 0;
  private lastPublishAt = 0;
  private readonly publisher: Publisher;
  /** NDJSON bytes that may wait for the sites in memory before the watch is paused. */
  private readonly heldLimit: number;
  /** Whether reading the watch is paused because the sites are behind. */
  private paused = false;

  constructor(
    private readonly options: FollowerOptions,
    private readonly deps: FollowerDeps,
    client: EtcdHttp2Client,
    private readonly lock: WriterLock,
    private readonly stats: Stats,
    private readonly stop: AbortSignal,
  ) {
    this.publisher = new Publisher(options, deps, lock, stats, new LeaseTracker((id) => leaseTimeToLive(client, id), deps.now), () => this.throttle());
    this.heldLimit = Math.max(MIN_HELD_BYTES, 2 * options.maxSegmentBytes);
  }

  /** Pauses the watch while more than heldLimit bytes wait for the sites (and some site takes them); resumes after. */
  private throttle(): void {
    const behind = !this.publisher.spooling && this.publisher.queuedBytes() + this.open.bytes > this.heldLimit;
    if (behind === this.paused || !this.watch) return;
    this.paused = behind;
    if (behind) {
      this.watch.pause();
      this.deps.log.info(`journal: the sites are behind (over ${this.heldLimit} bytes waiting): reading from etcd paused until they catch up`);
    } else {
      this.watch.resume();
      this.deps.log.info('journal: the sites caught up: reading from etcd again');
    }
  }

  private post(message: Message): void {
    this.inbox.push(message);
    this.wake?.();
  }

  private async next(): Promise<Message> {
    while (this.inbox.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
    this.wake = undefined;
    return this.inbox.shift()!;
  }

  async run(): Promise<WriterEnd> {
    const onStop = (): void => this.post({ type: 'stop' });
    this.stop.addEventListener('abort', onStop);
    // An AbortSignal fires once: a stop that came before this writer started is in `aborted` alone.
    if (this.stop.aborted) onStop();
    void this.lock.lost.then((error) => this.post({ type: 'lock-lost', error }));
    const ticker = setInterval(() => this.post({ type: 'tick' }), this.options.flushMs);
    try {
      let anchor: ChainAnchor;
      try {
        const position = await this.readPositionWhenASiteAnswers();
        if (position === undefined) return this.lock.held() ? 'handover' : this.abandon();
        for (const u of position.unreadable) this.degrade(`site ${u.storeId} could not be read: ${u.error}`);
        if (position.anchor) anchor = position.anchor;
        else {
          const base = await this.deps.fullBackup('the journal needs a full backup to start from and there is none');
          if (!base) return this.fail('no full backup to start the journal from, and taking one failed');
          anchor = chainStart(base);
        }
      } catch (error) {
        return this.fail(`reading where the journal stands on the sites: ${messageOf(error)}`);
      }
      this.startChain(anchor);
      await this.startWatch();
      // Sites that missed segments under an earlier writer get them, off the path to the first segment.
      this.lastHealAt = this.deps.now().getTime();
      this.healing = this.heal(true).finally(() => (this.healing = undefined));
      for (;;) {
        if (!this.lock.held()) return this.abandon();
        if (this.stats.failed) return 'failed';
        const message = await this.next();
        switch (message.type) {
          case 'revisions': {
            const hole = this.accept(message.records);
            this.throttle();
            if (hole) {
              const gap = await this.gap(hole.after + 1, hole.found - 1, `etcd skipped from revision ${hole.after} to ${hole.found}`);
              if (gap === 'failed' || gap === 'lost') return gap;
            }
            break;
          }
          case 'progress':
            // Revisions are contiguous in a whole-keyspace watch, so a notification past what we received
            // means events are still on their way (etcd 3.4 could send it early): only trust it up to here.
            if (message.revision <= this.lastRevision) this.progress = { revision: this.lastRevision, at: this.deps.now().toISOString() };
            break;
          case 'compacted': {
            const end = await this.gap(
              this.lastRevision + 1,
              message.compactRevision - 1 >= this.lastRevision + 1 ? message.compactRevision - 1 : null,
              `etcd compacted its history up to revision ${message.compactRevision}, past the journal's position ${this.lastRevision}`,
            );
            if (end === 'failed' || end === 'lost') return end;
            break;
          }
          case 'ended':
            // The member it read from may be gone: the next watch tries the following one first.
            if (this.watch) this.watchTurn = (this.options.etcd.endpoints.indexOf(this.watch.endpoint) + 1) % this.options.etcd.endpoints.length;
            this.watch = undefined;
            this.deps.log.warning(`journal: ${message.error.message}; watching again from revision ${this.lastRevision + 1}`);
            await this.deps.sleep(500);
            if (this.lock.held()) await this.startWatch().catch((error: unknown) => this.deps.log.warning(`journal: ${messageOf(error)}`));
            break;
          case 'tick':
            await this.tick();
            if (this.publisher.overflowed !== undefined) {
              const end = await this.resumeAfterOverflow(this.publisher.overflowed);
              if (end !== 'continue') return end;
            }
            if (this.watch === undefined && this.lock.held()) await this.startWatch().catch((error: unknown) => this.deps.log.warning(`journal: ${messageOf(error)}`));
            break;
          case 'stop':
            // Clean handover: publish what we have, then release. Bounded: with every site down the
            // spooled segments are left to the next writer, which reads those revisions from etcd again.
            this.closeSegment();
            await Promise.race([this.publisher.drain(), this.deps.sleep(STOP_DRAIN_MS)]);
            return this.lock.held() ? 'handover' : this.abandon();
          case 'lock-lost':
            return this.abandon(message.error);
        }
      }
    } finally {
      clearInterval(ticker);
      this.stop.removeEventListener('abort', onStop);
      this.watch?.close();
      this.publisher.stop();
      await this.healing;
    }
  }

  /**
   * Where the journal stands, once some site answers. With every site down the writer keeps the lock and
   * waits (alarm raised once): etcd still holds the revisions since the sites' position, so nothing is lost
   * unless etcd compacts them meanwhile, and then the watch says so and a gap is recorded. Exiting instead
   * would hand the lock from standby to standby, each failing the same way. Undefined when the writer
   * stops or loses the lock first.
   */
  private async readPositionWhenASiteAnswers(): Promise<JournalPosition | undefined> {
    let alarmed = false;
    for (;;) {
      try {
        return await readPosition(this.deps.stores, this.options.cluster);
      } catch (error) {
        if (!(error instanceof NoSiteReadable)) throw error;
        if (!alarmed) {
          alarmed = true;
          const problem = `${error.message}; the journal waits for a site (etcd keeps the revisions until it compacts them)`;
          this.degrade(problem);
          await this.deps.alarm(problem);
        }
      }
      if (this.stop.aborted || !this.lock.held()) return undefined;
      await this.deps.sleep(SITE_RETRY_MS);
    }
  }

  private fail(problem: string): WriterEnd {
    this.stats.failed = true;
    this.stats.problems.push(problem);
    this.deps.log.error(`journal: ${problem}`);
    return 'failed';
  }

  private degrade(problem: string): void {
    this.stats.degraded = true;
    this.stats.problems.push(problem);
    this.deps.log.warning(`journal: ${problem}`);
  }

  private abandon(error?: Error): WriterEnd {
    this.publisher.stop();
    if (error) this.deps.log.warning(`journal: ${error.message}`);
    return 'lost';
  }

  private startChain(anchor: ChainAnchor): void {
    this.lastRevision = anchor.nextRevision - 1;
    this.open.discard();
    this.progress = undefined;
    this.publisher.anchor(anchor);
    this.deps.log.info(`journal: continuing from revision ${anchor.nextRevision} (chain from ${anchor.baseBackup})`);
  }

  private async startWatch(): Promise<void> {
    this.watch?.close();
    this.watch = undefined;
    // What the previous watch had queued belongs to a position we left: the new watch sends it again.
    for (let i = this.inbox.length - 1; i >= 0; i--) {
      const t = this.inbox[i]!.type;
      if (t === 'revisions' || t === 'progress' || t === 'compacted' || t === 'ended') this.inbox.splice(i, 1);
    }
    const endpoints = this.options.etcd.endpoints;
    const order = [...endpoints.slice(this.watchTurn), ...endpoints.slice(0, this.watchTurn)];
    this.watch = await openWatch(this.options.etcd, order, this.lastRevision + 1, this.deps.now, (m) => this.post(m));
    this.paused = false;
    this.throttle();
  }

  /** Adds the whole revisions that continue the journal; returns the hole where they stop doing so, if any. */
  private accept(records: readonly RevisionRecord[]): RevisionHole | undefined {
    const { next, hole } = continuation(this.lastRevision, records);
    for (const record of next) {
      this.open.add(record);
      this.lastRevision = record.rev;
      if (this.open.bytes >= this.options.maxSegmentBytes) this.closeSegment();
    }
    return hole;
  }

  private closeSegment(): void {
    const lastRevision = this.open.lastRevision;
    if (lastRevision === undefined) return;
    const confirmedAt = this.progress && this.progress.revision >= lastRevision ? this.progress.at : undefined;
    this.publisher.push(this.open.close(confirmedAt)!);
    this.lastPublishAt = this.deps.now().getTime();
  }

  private async tick(): Promise<void> {
    this.healInBackground();
    if (!this.open.empty) {
      this.closeSegment();
      return;
    }
    // Idle: ask etcd to confirm nothing happened; publish a progress mark at most once per flush interval.
    this.watch?.requestProgress();
    const now = this.deps.now().getTime();
    if (this.progress && this.progress.revision === this.lastRevision && now - this.lastPublishAt >= this.options.flushMs) {
      this.publisher.push({ kind: 'progress', completeThrough: this.progress });
      this.lastPublishAt = now;
    }
  }

  private healing: Promise<void> | undefined;
  private lastHealAt = 0;

  /**
   * While a site is marked down, try every HEAL_EVERY_MS to copy what it missed, off the publishing path
   * (a dead site's connection timeouts must not delay the healthy site's segments).
   */
  private healInBackground(): void {
    const now = this.deps.now().getTime();
    if (this.publisher.down.size === 0 || this.healing || now - this.lastHealAt < Math.max(HEAL_EVERY_MS, 2 * this.options.flushMs)) return;
    this.lastHealAt = now;
    this.healing = this.heal().finally(() => (this.healing = undefined));
  }

  /**
   * Copies missed segments; a down site whose copies all succeeded is published to again, and one more
   * pass then catches a segment published to the others in between.
   */
  private async heal(always = false): Promise<void> {
    try {
      if (!always && this.publisher.down.size === 0) return;
      const wasDown = new Set(this.publisher.down);
      const healed = await healSegments(this.deps.stores, this.options.cluster);
      for (const c of healed.copied) this.deps.log.info(`journal: healed ${c.name}: copied from ${c.from} to ${c.to}`);
      const reached = new Set(healed.reached);
      for (const id of wasDown) {
        if (reached.has(id) && !healed.failed.some((f) => f.to === id)) {
          this.publisher.down.delete(id);
          this.deps.log.info(`journal: site ${id} is back and holds every segment again`);
        }
      }
      if (wasDown.size > this.publisher.down.size) {
        // A publish that chose its sites before the mark-up may still be landing on the others only.
        await this.publisher.settle();
        const again = await healSegments(this.deps.stores, this.options.cluster);
        for (const c of again.copied) this.deps.log.info(`journal: healed ${c.name}: copied from ${c.from} to ${c.to}`);
      }
    } catch (error) {
      this.deps.log.warning(`journal: healing: ${messageOf(error)}`);
    }
  }

  /**
   * No site took the journal for longer than the spool holds: the spool is dropped, the alarm raised, and
   * once a site answers the writer continues from what the sites hold, reading the dropped revisions from
   * etcd's history again. If etcd has compacted them by then, the watch says so and that is recorded as a
   * gap (gap record, alarm, full backup): nothing is skipped without a record.
   */
  private async resumeAfterOverflow(firstDropped: number): Promise<WriterEnd | 'continue'> {
    this.watch?.close();
    this.watch = undefined;
    this.open.discard();
    const problem =
      `no site accepted the journal for longer than the local spool holds (${this.options.spoolLimitBytes} bytes): ` +
      `revisions from ${firstDropped} were dropped from the spool and are read from etcd again once a site is back`;
    this.degrade(problem);
    await this.deps.alarm(problem);
    for (;;) {
      if (!this.lock.held()) return 'lost';
      if (this.stop.aborted) return 'handover';
      try {
        const position = await readPosition(this.deps.stores, this.options.cluster);
        if (position.anchor) {
          this.publisher.overflowed = undefined;
          this.startChain(position.anchor);
          await this.startWatch();
          return 'continue';
        }
      } catch (error) {
        this.deps.log.warning(`journal: waiting for a site: ${messageOf(error)}`);
      }
      await this.deps.sleep(2000);
    }
  }

  /**
   * An explicit gap: publish what came before it, record the gap on the sites, raise the alarm, take a full
   * backup and restart the chain from it.
   */
  private async gap(fromRevision: number, toRevision: number | null, reason: string): Promise<WriterEnd | 'continue'> {
    this.watch?.close();
    this.watch = undefined;
    this.closeSegment();
    await this.publisher.drain();
    if (!this.lock.held()) return 'lost';
    const detectedAt = this.deps.now().toISOString();
    const record: GapRecord = { format: JOURNAL_FORMAT, kind: GAP_KIND, cluster: this.options.cluster, fromRevision, toRevision, detectedAt, reason, restartedFrom: null };
    this.deps.log.error(`journal: gap from revision ${fromRevision}: ${reason}; taking a full backup now`);
    this.report(await publishGap(this.deps.stores, record));
    const base = await this.deps.fullBackup(`journal gap from revision ${fromRevision}: ${reason}`);
    const final: GapRecord = { ...record, restartedFrom: base?.name ?? null };
    this.stats.gaps.push(final);
    if (base) this.report(await publishGap(this.deps.stores, final));
    await this.deps.alarm(
      `journal gap: revisions from ${fromRevision}${toRevision !== null ? ` to ${toRevision}` : ''} are not in the journal (${reason}); ` +
        (base ? `a full backup was taken at once (${base.name}) and the journal restarts from it` : 'the full backup taken to restart the journal FAILED'),
    );
    if (!base) return this.fail(`journal gap from revision ${fromRevision} and the full backup to restart from failed`);
    if (!this.lock.held()) return 'lost';
    this.startChain(chainStart(base));
    await this.startWatch();
    return 'continue';
  }

  private report(results: readonly SiteResult[]): void {
    for (const r of results.filter((x) => !x.ok)) this.degrade(`site ${r.store}: ${r.error ?? 'failed'}`);
  }
}

/**
 * Publishes closed segments one at a time, in order, keeping the hash chain. A segment no site took waits
 * in the spool (a file, 0600) and is retried; the ones after it queue behind it, so the sites only ever
 * hold a contiguous chain. While that lasts, the segments queued behind it wait in the spool too (their
 * NDJSON, "parked"), not in memory: with every site down for long, memory stays flat up to the spool's bound.
 */
class Publisher {
  private readonly queue: (ClosedSegment | ProgressItem)[] = [];
  private running: Promise<void> | undefined;
  stopped = false;
  private previousSha256 = '';
  private baseBackup = '';
  private spooled = new Map<string, number>();
  /** Queued segments whose NDJSON waits on disk: the queue holds a copy without content in their place. */
  private readonly parked = new Map<ClosedSegment, { readonly file: string; readonly bytes: number }>();
  /** Segments being written to the spool right now. */
  private readonly parking = new Set<ClosedSegment>();
  /** First revision dropped from a full spool; the writer turns it into a gap. */
  overflowed: number | undefined;
  /** Sites that missed a segment: skipped until healing has copied what they missed. */
  down = new Set<string>();

  constructor(
    private readonly options: FollowerOptions,
    private readonly deps: FollowerDeps,
    private readonly lock: WriterLock,
    private readonly stats: Stats,
    private readonly leases: LeaseTracker,
    /** Called whenever a queued item is done with: the writer may read from etcd again. */
    private readonly onShrink: () => void,
  ) {}

  /** Whether segments no site took are waiting in the spool. */
  get spooling(): boolean {
    return this.spooled.size > 0;
  }

  anchor(anchor: ChainAnchor): void {
    this.previousSha256 = anchor.previousSha256;
    this.baseBackup = anchor.baseBackup;
  }

  push(item: ClosedSegment | ProgressItem): void {
    // After an overflow nothing more is queued: the writer resumes from the sites (resumeAfterOverflow).
    if (this.overflowed !== undefined) return;
    this.queue.push(item);
    if (item.kind === 'segment' && this.spooling) void this.park(item);
    this.running ??= this.work().finally(() => (this.running = undefined));
  }

  /** Moves a queued segment's NDJSON to the spool; it stays in memory if that fails (logged). */
  private async park(segment: ClosedSegment): Promise<void> {
    if (this.parked.has(segment) || this.parking.has(segment)) return;
    this.parking.add(segment);
    try {
      await this.parkNow(segment);
    } finally {
      this.parking.delete(segment);
    }
  }

  private async parkNow(segment: ClosedSegment): Promise<void> {
    const file = `${segmentName(this.options.cluster, segment.first.revision, segment.last.revision)}.ndjson.parked`;
    const path = join(this.options.spoolDir, file);
    try {
      await mkdir(this.options.spoolDir, { recursive: true, mode: 0o700 });
      await writeFile(path, segment.content, { mode: 0o600 });
    } catch (error) {
      this.deps.log.warning(`journal: could not spool a waiting segment (${messageOf(error)}); it waits in memory`);
      return;
    }
    const at = this.queue.indexOf(segment);
    if (at < 0) {
      // Published or dropped while it was being written.
      await rm(path, { force: true });
      return;
    }
    const stub: ClosedSegment = { ...segment, content: Buffer.alloc(0) };
    this.queue[at] = stub;
    this.parked.set(stub, { file, bytes: segment.content.length });
  }

  /** A queued segment's NDJSON, from the spool if it was parked. */
  private async contentOf(segment: ClosedSegment): Promise<Buffer> {
    const parked = this.parked.get(segment);
    return parked ? readFile(join(this.options.spoolDir, parked.file)) : segment.content;
  }

  /** Forgets a parked segment (published, dropped or stopped) and removes its file. */
  private unpark(item: ClosedSegment | ProgressItem | undefined): void {
    if (item?.kind !== 'segment') return;
    const parked = this.parked.get(item);
    if (!parked) return;
    this.parked.delete(item);
    void rm(join(this.options.spoolDir, parked.file), { force: true }).catch(() => undefined);
  }

  private inflight: Promise<unknown> | undefined;

  /** Resolves once the segment being published (if any) has landed wherever it was sent. */
  async settle(): Promise<void> {
    await this.inflight;
  }

  async drain(): Promise<void> {
    while (this.running) await this.running;
  }

  stop(): void {
    this.stopped = true;
    for (const item of this.queue) this.unpark(item);
    this.queue.length = 0;
  }

  /** Bytes waiting in the spool: segments no site took (encoded) and the ones parked behind them (NDJSON). */
  private spoolBytes(): number {
    let bytes = 0;
    for (const size of this.spooled.values()) bytes += size;
    for (const parked of this.parked.values()) bytes += parked.bytes;
    return bytes;
  }

  /** NDJSON bytes of the closed segments waiting for the sites in memory. */
  queuedBytes(): number {
    return this.queue.reduce((n, item) => n + (item.kind === 'segment' ? item.content.length : 0), 0);
  }

  private async work(): Promise<void> {
    let encoded: { manifest: SegmentManifest; bytes: Buffer } | undefined;
    while (this.queue.length > 0 && !this.stopped) {
      const item = this.queue[0]!;
      if (item.kind === 'progress') {
        if (!(await this.fenced())) return;
        const results = await publishProgress(this.targets(), {
          format: JOURNAL_FORMAT,
          kind: PROGRESS_KIND,
          cluster: this.options.cluster,
          completeThrough: item.completeThrough,
          writer: { holder: this.options.holder, member: this.options.member },
        });
        this.noteSites(results);
        this.queue.shift();
        this.onShrink();
        continue;
      }
      try {
        encoded ??= await this.encode(item);
      } catch (error) {
        this.deps.log.error(`journal: encoding a segment: ${messageOf(error)}`);
        this.stats.failed = true;
        this.stop();
        return;
      }
      if (!(await this.fenced())) return;
      const publishing = publishSegment(this.targets(), encoded.manifest, encoded.bytes);
      this.inflight = publishing;
      const results = await publishing;
      this.inflight = undefined;
      this.noteSites(results);
      if (results.some((r) => r.ok)) {
        this.unpark(this.queue.shift());
        this.previousSha256 = encoded.manifest.object.sha256;
        this.stats.segments++;
        this.stats.revisions += encoded.manifest.revisions;
        this.stats.lastRevision = encoded.manifest.lastRevision;
        await this.unspool(encoded.manifest.object.file);
        encoded = undefined;
        this.onShrink();
        continue;
      }
      // No site took it: spool it to disk and retry; past the spool's bound, drop it all and record a gap.
      await this.spool(encoded);
      for (const behind of this.queue.slice(1)) if (behind.kind === 'segment') await this.park(behind);
      if (this.queuedBytes() + this.spoolBytes() > this.options.spoolLimitBytes) {
        this.overflowed = item.first.revision;
        for (const file of [...this.spooled.keys()]) await this.unspool(file);
        for (const queued of this.queue) this.unpark(queued);
        this.queue.length = 0;
        return;
      }
      await this.deps.sleep(1000);
      encoded = await this.fromSpool(encoded);
    }
  }

  /**
   * Publishing only while the lock is provably ours (fencing against a writer that lost it unawares). When
   * etcd does not answer the check (an election), ask again until it does or the lock is presumed lost.
   */
  private async fenced(): Promise<boolean> {
    while (this.lock.held() && !this.stopped) {
      const ours = this.lock.remainingMs(Date.now()) > 500 ? await this.lock.confirm() : false;
      if (ours === true) return true;
      if (ours === false) break;
      await this.deps.sleep(200);
    }
    this.deps.log.warning('journal: the writer lock is no longer ours: not publishing');
    this.stop();
    return false;
  }

  private async encode(segment: ClosedSegment): Promise<{ manifest: SegmentManifest; bytes: Buffer }> {
    const { first, last } = segment;
    const leases = await this.leases.firstSeen(segment.leaseIds);
    const object = await encodeContent(await this.contentOf(segment), this.options.compression, this.options.recipients);
    const name = segmentName(this.options.cluster, first.revision, last.revision);
    const manifest: SegmentManifest = {
      format: JOURNAL_FORMAT,
      kind: SEGMENT_KIND,
      name,
      cluster: this.options.cluster,
      firstRevision: first.revision,
      lastRevision: last.revision,
      revisions: segment.revisions,
      events: segment.events,
      firstReceivedAt: first.at,
      lastReceivedAt: last.at,
      completeThrough: segment.completeThrough,
      object: { file: segmentObjectFile(name, this.options.compression, this.options.recipients.length > 0), size: object.bytes.length, sha256: object.sha256 },
      previousSha256: this.previousSha256,
      baseBackup: this.baseBackup,
      leases,
      compression: this.options.compression,
      encryptedTo: [...this.options.recipients],
      writer: { holder: this.options.holder, member: this.options.member },
      toolVersion: TOOL_VERSION,
    };
    return { manifest, bytes: object.bytes };
  }

  /** The sites to publish to: those up, or every site when none is (a retry must find one that came back). */
  private targets(): readonly Store[] {
    const up = this.deps.stores.filter((s) => !this.down.has(s.id));
    return up.length > 0 ? up : this.deps.stores;
  }

  private noteSites(results: readonly SiteResult[]): void {
    const failed = results.filter((r) => !r.ok);
    if (failed.length === 0) return;
    for (const f of failed) {
      this.down.add(f.store);
      this.stats.degraded = true;
      const problem = `site ${f.store} missed the journal: ${f.error ?? 'failed'}`;
      if (!this.stats.problems.includes(problem)) this.stats.problems.push(problem);
      this.deps.log.warning(`journal: ${problem} (degraded; copied over when the site is back)`);
    }
  }

  private async spool(encoded: { manifest: SegmentManifest; bytes: Buffer }): Promise<void> {
    const file = encoded.manifest.object.file;
    if (this.spooled.has(file)) return;
    await mkdir(this.options.spoolDir, { recursive: true, mode: 0o700 });
    await writeFile(join(this.options.spoolDir, file), encoded.bytes, { mode: 0o600 });
    this.spooled.set(file, encoded.bytes.length);
  }

  /** The spooled copy replaces the in-memory one, so memory stays bounded while sites are down. */
  private async fromSpool(encoded: { manifest: SegmentManifest; bytes: Buffer }): Promise<{ manifest: SegmentManifest; bytes: Buffer }> {
    const file = encoded.manifest.object.file;
    if (!this.spooled.has(file)) return encoded;
    return { manifest: encoded.manifest, bytes: await readFile(join(this.options.spoolDir, file)) };
  }

  private async unspool(file: string): Promise<void> {
    if (!this.spooled.delete(file)) return;
    await rm(join(this.options.spoolDir, file), { force: true });
  }
}
