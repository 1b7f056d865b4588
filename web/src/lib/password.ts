/**
 * The client's quick look at a new password before it is sent. The server owns the
 * policy (length, common passwords, the username) and its answer is what counts; this
 * only saves a round trip for the obvious mistakes: too short, or a confirmation that
 * doesn't match.
 */

/** Mirrors the server's minimum (core/passwords.py MIN_PASSWORD_CHARS), for a quick hint. */
export const MIN_PASSWORD_CHARS = 10;

/** What is wrong with the new password before asking the server, if anything obvious. */
export function passwordProblem(next: string, confirm: string): { field: "new" | "confirm"; text: string } | null {
  // Code points, like the server counts them (an emoji is one character, not two).
  if (Array.from(next).length < MIN_PASSWORD_CHARS) {
    return { field: "new", text: `The new password must be at least ${MIN_PASSWORD_CHARS} characters long.` };
  }
  if (next !== confirm) return { field: "confirm", text: "The new password and its confirmation don't match." };
  return null;
}
