import { runAction } from '../run.ts';

// The journal follower runs for journal-max-runtime (a long step); it hands over cleanly on SIGTERM too.
await runAction('journal');
process.exit(); // gRPC and SSH keep-alive timers must not hold a finished step open
