/** What the engine needs to say things: the action maps it to annotations, the CLI to stderr. */
export interface Log {
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
}

export const silentLog: Log = { info: () => undefined, warning: () => undefined, error: () => undefined };
