/** A TCP port on 127.0.0.1 for a process that must be told its port before it listens (nginx, a server binary). */

/** A port that was free a moment ago: the OS picks it, and the listener that asked is closed at once. */
export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}
