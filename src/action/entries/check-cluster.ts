import { runAction } from '../run.ts';

await runAction('check-cluster');
process.exit(); // gRPC and SSH keep-alive timers must not hold a finished step open
