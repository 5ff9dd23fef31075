/** A TCP port that was free a moment ago on 127.0.0.1: for child processes that need a port on the command line. */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const { port } = probe;
  probe.stop(true);
  return port;
}
