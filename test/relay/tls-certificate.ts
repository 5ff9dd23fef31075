/**
 * A self-signed certificate for 127.0.0.1 (and no other name), made with openssl for a test: the RTMPS
 * listener serves it, and a client trusts it only when told to (it is its own CA).
 */
import { join } from "node:path";
import { run } from "../helpers/media.ts";

export interface TestCertificate {
  /** PEM files. */
  cert: string;
  key: string;
}

export async function selfSignedCertificate(dir: string): Promise<TestCertificate> {
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  const made = await run([
    "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=rtmp-server relay test",
    "-addext", "subjectAltName=IP:127.0.0.1",
  ]);
  if (made.code !== 0) throw new Error(`openssl failed (exit ${made.code}):\n${made.stderr}`);
  return { cert, key };
}
