/**
 * Presentation helpers for two-factor authentication: the secret for typing by hand and
 * the recovery codes as a file. The secrets and codes themselves come from the server
 * and are only ever shown as text.
 */

/**
 * The base32 secret in groups of four ("JBSW Y3DP EHPK 3PXP"), the way authenticator
 * apps' "enter a key" screens show it; they ignore the spaces.
 */
export function groupSecret(secret: string, size = 4): string {
  const plain = secret.replace(/[\s=]+/g, "").toUpperCase();
  const groups: string[] = [];
  for (let i = 0; i < plain.length; i += size) groups.push(plain.slice(i, i + size));
  return groups.join(" ");
}

/** The recovery codes file: who and where they are for, when they were made, one code a line. */
export function recoveryCodesText(codes: readonly string[], username: string, origin: string, when: Date): string {
  return [
    "Redoubt recovery codes",
    `Account: ${username}`,
    `Server: ${origin}`,
    `Created: ${when.toISOString()}`,
    "",
    "Each code signs you in once in place of your authenticator app.",
    "Keep them somewhere safe: anyone with a code and your password can sign in as you.",
    "",
    ...codes,
    "",
  ].join("\n");
}

/** A file name for the download, without characters file systems dislike. */
export function recoveryCodesFileName(username: string): string {
  const safe = username.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 64) || "account";
  return `redoubt-recovery-codes-${safe}.txt`;
}

/** Save `text` as a file through a blob: URL (the CSP allows blob:, never data:). */
export function downloadText(text: string, fileName: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = fileName;
  link.rel = "noopener";
  document.body.append(link);
  link.click();
  link.remove();
  // The click has started the download by now; the URL isn't needed any more.
  setTimeout(() => URL.revokeObjectURL(url), 0);
}
