import { describe, expect, it } from "vitest";

import { auditExportUrl, auditQuery, EMPTY_AUDIT_FILTERS, localToIso } from "./audit";

describe("auditQuery", () => {
  it("is empty without filters", () => {
    expect(auditQuery(EMPTY_AUDIT_FILTERS)).toEqual({ ok: true, query: {} });
  });

  it("trims and converts the times to UTC", () => {
    const since = "2025-03-01T10:00";
    const checked = auditQuery({ action: " hook. ", actorId: " 42 ", targetType: "user", since, until: "" });
    expect(checked).toEqual({
      ok: true,
      query: { action: "hook.", actor_id: "42", target_type: "user", since: new Date(since).toISOString() },
    });
  });

  it.each([
    { ...EMPTY_AUDIT_FILTERS, actorId: "bob" },
    { ...EMPTY_AUDIT_FILTERS, action: "x".repeat(65) },
    { ...EMPTY_AUDIT_FILTERS, action: "Hook.*" },
    { ...EMPTY_AUDIT_FILTERS, targetType: "user'; drop" },
    { ...EMPTY_AUDIT_FILTERS, since: "yesterday" },
    { ...EMPTY_AUDIT_FILTERS, since: "2025-03-02T00:00", until: "2025-03-01T00:00" },
  ])("refuses %j", (form) => {
    expect(auditQuery(form).ok).toBe(false);
  });
});

describe("localToIso", () => {
  it("reads datetime-local values", () => {
    expect(localToIso("2025-03-01T10:00")).toBe(new Date("2025-03-01T10:00").toISOString());
    expect(localToIso("2025-03-01T10:00:30")).toMatch(/Z$/);
    expect(localToIso("2025-13-01T10:00")).toBeNull();
    expect(localToIso("2025-03-01")).toBeNull();
    expect(localToIso("")).toBeNull();
  });
});

describe("auditExportUrl", () => {
  it("carries the format and the filters, encoded", () => {
    const url = auditExportUrl("csv", { action: "hook.&x=1", actor_id: "42", since: "2025-03-01T10:00:00.000Z" });
    expect(url.startsWith("/api/v1/admin/audit/export?")).toBe(true);
    const params = new URL(url, "https://r.invalid").searchParams;
    expect(params.get("format")).toBe("csv");
    expect(params.get("action")).toBe("hook.&x=1");
    expect(params.get("actor_id")).toBe("42");
    expect(params.get("since")).toBe("2025-03-01T10:00:00.000Z");
    expect(params.has("x")).toBe(false);
    expect(params.has("until")).toBe(false);
  });

  it("exports everything without filters", () => {
    expect(auditExportUrl("jsonl", {})).toBe("/api/v1/admin/audit/export?format=jsonl");
  });
});
