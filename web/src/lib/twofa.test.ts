import { describe, expect, it } from "vitest";

import { groupSecret, recoveryCodesFileName, recoveryCodesText } from "./twofa";

describe("groupSecret", () => {
  it("groups a base32 secret in fours, upper case, padding dropped", () => {
    expect(groupSecret("jbswy3dpehpk3pxp")).toBe("JBSW Y3DP EHPK 3PXP");
    expect(groupSecret("JBSWY3DPEHPK3PXPAB==")).toBe("JBSW Y3DP EHPK 3PXP AB");
    expect(groupSecret("")).toBe("");
  });

  it("is idempotent", () => {
    const once = groupSecret("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
    expect(groupSecret(once)).toBe(once);
  });
});

describe("recovery codes file", () => {
  const codes = Array.from({ length: 10 }, (_, i) => `aaaa${i}-bbbb${i}`);

  it("lists every code on its own line with what they are for", () => {
    const text = recoveryCodesText(codes, "alice", "https://chat.example", new Date("2030-01-02T03:04:05Z"));
    const lines = text.split("\n");
    for (const code of codes) expect(lines).toContain(code);
    expect(text).toContain("Account: alice");
    expect(text).toContain("Server: https://chat.example");
    expect(text).toContain("2030-01-02T03:04:05.000Z");
  });

  it("names the file safely whatever the username", () => {
    expect(recoveryCodesFileName("alice")).toBe("redoubt-recovery-codes-alice.txt");
    expect(recoveryCodesFileName("../../etc/passwd")).toBe("redoubt-recovery-codes-.._.._etc_passwd.txt");
    expect(recoveryCodesFileName("名前")).toBe("redoubt-recovery-codes-_.txt");
  });
});
