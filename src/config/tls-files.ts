/**
 * The RTMPS certificate chain and private key files (tls.cert, tls.key): read with a bound and checked to
 * be what they claim and to belong together, at load and again whenever they are re-read (SIGHUP).
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { ValueError } from "./parse.ts";
import { readTextFile } from "./read-file.ts";

/** Largest certificate or key file read: a real chain is a few KiB, so anything bigger is the wrong file. */
export const MAX_PEM_FILE_BYTES = 1024 * 1024;

/** The PEM text of a certificate chain (leaf first, as certbot's fullchain.pem); throws ValueError. */
export function readCertificateChain(path: string): string {
  const pem = readPem(path);
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    const isKey = /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem);
    const hint = isKey ? ": it holds a private key (that goes in tls.key)" : "";
    throw new ValueError(`${JSON.stringify(path)} is not a PEM certificate chain${hint}`);
  }
  try {
    new X509Certificate(pem);
  } catch {
    throw new ValueError(`${JSON.stringify(path)}: its first certificate does not parse`);
  }
  return pem;
}

/** The PEM text of an unencrypted private key (RSA, EC or PKCS#8, as certbot's privkey.pem); throws ValueError. */
export function readPrivateKey(path: string): string {
  const pem = readPem(path);
  const shown = JSON.stringify(path);
  if (pem.includes("-----BEGIN ENCRYPTED PRIVATE KEY-----") || /Proc-Type: 4,ENCRYPTED/.test(pem)) {
    throw new ValueError(`${shown} is an encrypted private key; the server needs it unencrypted`);
  }
  if (!/-----BEGIN (?:RSA |EC )?PRIVATE KEY-----/.test(pem)) {
    const hint = pem.includes("-----BEGIN CERTIFICATE-----") ? ": it holds a certificate (that goes in tls.cert)" : "";
    throw new ValueError(`${shown} is not a PEM private key${hint}`);
  }
  try {
    createPrivateKey(pem);
  } catch {
    throw new ValueError(`${shown}: the private key does not parse`);
  }
  return pem;
}

/** Whether `keyPem` is the private key of the first certificate in `certPem` (both already read as above). */
export function keyMatchesCertificate(certPem: string, keyPem: string): boolean {
  return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
}

function readPem(path: string): string {
  try {
    return readTextFile(path, MAX_PEM_FILE_BYTES);
  } catch (error) {
    if (!(error instanceof ValueError)) throw error;
    throw new ValueError(`cannot read ${JSON.stringify(path)}: ${error.message}`);
  }
}
