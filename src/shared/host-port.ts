/**
 * How an address and port are written everywhere (listen addresses, peers, logs, the API): "host:port", and
 * "[v6]:port" for an IPv6 address, as in a URL.
 */

/** "host:port", "[v6]:port" for IPv6; "" for an unknown host (a peer that reset before its address was read). */
export function hostPort(host: string, port: number): string {
  if (host === "") return "";
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A URL's host as a socket takes it: URL keeps IPv6 literals in brackets (right in a URL, not for connect). */
export function urlHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, "$1");
}
